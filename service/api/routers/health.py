"""``GET /health/live`` and ``GET /health/ready`` (unauthenticated: load balancers and orchestrators)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.api.schemas import Liveness, Readiness
from service.api.state import api_state

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", operation_id="health_live", response_model=Liveness, summary="The process answers")
def health_live() -> Liveness:
    return Liveness()


@router.get(
    "/ready",
    operation_id="health_ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Redis unreachable or no live worker"}},
    summary="Redis reachable and at least one worker heartbeat",
)
def health_ready(request: Request) -> Readiness | JSONResponse:
    state = api_state(request)
    try:
        state.redis.ping()
        workers = state.engine.workers_alive()
        queues = dict(state.engine.queue_depths())
        redis_ok = True
    except Exception:  # any Redis failure means not ready; the body says which part failed
        redis_ok, workers, queues = False, 0, {}
    ready = redis_ok and workers >= 1
    body = Readiness(status="ready" if ready else "not-ready", redis=redis_ok, workers=workers, queues=queues)
    if ready:
        return body
    return JSONResponse(body.model_dump(), status_code=503)
