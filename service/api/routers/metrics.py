"""``GET /metrics``: Prometheus text exposition (authenticated like every non-health route)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.auth import ApiKeyDep
from service.api.problems import problem_responses
from service.api.state import api_state
from service.jobs.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"], dependencies=[ApiKeyDep])


@router.get(
    "/metrics",
    operation_id="get_metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"},
        **problem_responses(401, 429),
    },
    summary="Prometheus metrics: requests, jobs by status, stage durations, queue depth, cache hits",
)
def get_metrics(request: Request) -> Response:
    return Response(api_state(request).metrics.render(), media_type=CONTENT_TYPE)
