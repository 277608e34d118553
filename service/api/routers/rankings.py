"""``POST /v1/rankings`` (submit, long-running-operation pattern) and ``GET /v1/rankings/{ranking_id}``.

Submitting validates synchronously (unknown model or scorer, bad parameter, dataset outside the roots,
missing, empty or single-class, over a limit: each a 4xx problem), then answers ``202 Accepted`` with
``Location: /v1/jobs/{id}`` and ``Retry-After``. Identical requests (same dataset content, model weights,
scorer versions and parameters, sampling) get the same job; when that ranking is cached the job is already
``succeeded`` and the answer is ``200``.

``Idempotency-Key`` (draft-ietf-httpapi-idempotency-key-header): the first answer to a key is recorded
(per API key, for ``ZOORANK_JOB_TTL_S``) and replayed for the same key and body with
``Idempotent-Replayed: true``; the same key with another body is ``422``; while the first request is still
being processed, ``409``. A request that fails is not recorded, so it may be retried with the same key.

The ranking is the document of :mod:`service.schema` (exactly what ``zoorank rank --format json`` prints),
served with a strong ``ETag``; ``If-None-Match`` with that tag gets ``304``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, cast

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, Response

from service.api.auth import ApiKeyDep, CurrentPrincipal
from service.api.errors import IdempotencyInFlightError, IdempotencyKeyReusedError
from service.api.problems import problem_responses
from service.api.state import ApiState, api_state
from service.jobs import JobView
from service.requests import RankingRequest

router = APIRouter(prefix="/v1/rankings", tags=["rankings"], dependencies=[ApiKeyDep])

#: Seconds a client should wait before polling a job it was just given.
RETRY_AFTER_S = 2
#: How long an in-flight idempotency record blocks its key if the server dies mid-request.
_IN_FLIGHT_TTL_S = 60


def _body_digest(body: RankingRequest) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _job_response(view: JobView, cached: bool) -> JSONResponse:
    headers = {"Location": f"/v1/jobs/{view.id}"}
    if not cached:
        headers["Retry-After"] = str(RETRY_AFTER_S)
    return JSONResponse(view.model_dump(mode="json"), status_code=200 if cached else 202, headers=headers)


def _replay(record: dict[str, Any]) -> JSONResponse:
    headers = dict(record["headers"])
    headers["Idempotent-Replayed"] = "true"
    return JSONResponse(record["body"], status_code=int(record["status"]), headers=headers)


def _submit_idempotent(
    state: ApiState, body: RankingRequest, owner: str | None, quota_id: str, key: str
) -> JSONResponse:
    redis_key = state.keys.idempotency(quota_id, hashlib.sha256(key.encode("utf-8")).hexdigest())
    digest = _body_digest(body)
    pending = json.dumps({"state": "in-flight", "body_sha256": digest})
    if not state.redis.set(redis_key, pending, nx=True, ex=_IN_FLIGHT_TTL_S):
        raw = cast("bytes | None", state.redis.get(redis_key))
        if raw is None:  # expired between SET and GET: treat as a fresh key once more
            return _submit_idempotent(state, body, owner, quota_id, key)
        record = json.loads(raw)
        if record["body_sha256"] != digest:
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was already used with a different request body", param="Idempotency-Key"
            )
        if record["state"] == "in-flight":
            raise IdempotencyInFlightError(
                "the first request with this Idempotency-Key is still being processed; retry shortly",
                param="Idempotency-Key",
            )
        return _replay(record)
    try:
        view, cached = state.engine.submit(body, owner=owner)
    except BaseException:
        state.redis.delete(redis_key)
        raise
    response = _job_response(view, cached)
    done = {
        "state": "done",
        "body_sha256": digest,
        "status": response.status_code,
        "headers": {k: v for k, v in response.headers.items() if k in ("location", "retry-after")},
        "body": json.loads(bytes(response.body)),
    }
    state.redis.set(redis_key, json.dumps(done), ex=state.settings.job_ttl_s)
    return response


@router.post(
    "",
    operation_id="create_ranking",
    status_code=202,
    response_model=JobView,
    responses={
        200: {"model": JobView, "description": "Answered from the cache: the job has already succeeded"},
        202: {"description": "Accepted: follow Location (the job) until it succeeds"},
        **problem_responses(401, 403, 409, 413, 422, 429, 503),
    },
    summary="Submit a ranking request (202 + Location of the job; 200 when cached)",
)
def create_ranking(
    request: Request,
    body: RankingRequest,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> JSONResponse:
    state = api_state(request)
    if idempotency_key is None:
        view, cached = state.engine.submit(body, owner=principal.owner)
        response = _job_response(view, cached)
    else:
        response = _submit_idempotent(state, body, principal.owner, principal.quota_id, idempotency_key)
    state.metrics.submissions.labels("cached" if response.status_code == 200 else "accepted").inc()
    return response


@router.get(
    "/{ranking_id}",
    operation_id="get_ranking",
    response_model=None,
    responses={
        200: {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ranking"}}},
            "description": "The ranking (the schema of `zoorank rank --format json`), with an ETag",
        },
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
        **problem_responses(401, 404, 409, 429),
    },
    summary="A finished ranking",
)
def get_ranking(
    request: Request,
    ranking_id: Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")],
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    engine = api_state(request).engine
    etag = f'"{engine.ranking_etag(ranking_id)}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=60"}
    if if_none_match is not None and (
        if_none_match.strip() == "*"
        or etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    ):
        return Response(status_code=304, headers=headers)
    return Response(engine.ranking_json(ranking_id), media_type="application/json", headers=headers)
