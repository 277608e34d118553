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

The ranking is the document of :mod:`service.pipeline.schema` (exactly what ``zoorank rank --format
json`` prints), served with a strong ``ETag``; ``If-None-Match`` with that tag gets ``304``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from typing import Annotated, Any, cast

from fastapi import APIRouter, Header, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from service.api.auth import ApiKeyDep, CurrentPrincipal
from service.api.problems import problem_responses, remember_body
from service.api.state import ApiState, api_state
from service.errors import IdempotencyInFlightError, IdempotencyKeyReusedError
from service.jobs.models import JobView
from service.jobs.request import RankingRequest

router = APIRouter(prefix="/v1/rankings", tags=["rankings"], dependencies=[ApiKeyDep])

#: OpenAPI links from a job answer to the job routes (schemathesis' stateful phase follows them).
JOB_LINKS = {
    name: {"operationId": op, "parameters": {"job_id": "$response.body#/id"}}
    for name, op in (("GetJob", "get_job"), ("JobEvents", "job_events"), ("CancelJob", "cancel_job"))
}
#: Seconds a client should wait before polling a job it was just given.
RETRY_AFTER_S = 2
#: How long an in-flight idempotency record blocks its key if the server dies mid-request.
_IN_FLIGHT_TTL_S = 60


def body_digest(body: RankingRequest) -> str:
    """What "the same body" means for ``Idempotency-Key``: the validated request, canonically serialised."""
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
    digest = body_digest(body)
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
        200: {
            "model": JobView,
            "description": "Answered from the cache: the job has already succeeded",
            "links": JOB_LINKS,
        },
        202: {"description": "Accepted: follow Location (the job) until it succeeds", "links": JOB_LINKS},
        **problem_responses(400, 401, 403, 409, 413, 422, 429, 503),
    },
    summary="Submit a ranking request (202 + Location of the job; 200 when cached)",
)
def create_ranking(
    request: Request,
    body: RankingRequest,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> JSONResponse:
    remember_body(request, body)
    state = api_state(request)
    if idempotency_key is None:
        view, cached = state.engine.submit(body, owner=principal.owner)
        response = _job_response(view, cached)
    else:
        response = _submit_idempotent(state, body, principal.owner, principal.quota_id, idempotency_key)
    state.metrics.submissions.labels("cached" if response.status_code == 200 else "accepted").inc()
    return response


class RecentRankings:
    """Finished rankings this process served recently: ranking id -> (ETag, JSON bytes).

    A succeeded job's ranking never changes (terminal statuses are final), so it can be served from
    memory; the entry lifetime (``ttl_s``) bounds how long a ranking whose job expired from Redis is still
    served. Bounded in entries and in bytes; least recently used first out. Thread-safe.
    """

    def __init__(self, max_entries: int = 256, max_bytes: int = 64 << 20, ttl_s: float = 60.0) -> None:
        self.max_entries, self.max_bytes, self.ttl_s = max_entries, max_bytes, ttl_s
        self._items: OrderedDict[str, tuple[float, str, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, ranking_id: str) -> tuple[str, bytes] | None:
        with self._lock:
            item = self._items.get(ranking_id)
            if item is None:
                return None
            if item[0] < time.monotonic():
                self._drop(ranking_id)
                return None
            self._items.move_to_end(ranking_id)
            return item[1], item[2]

    def put(self, ranking_id: str, etag: str, body: bytes) -> None:
        if len(body) > self.max_bytes // 4:
            return  # one huge ranking must not evict everything else
        with self._lock:
            if ranking_id in self._items:
                self._drop(ranking_id)
            self._items[ranking_id] = (time.monotonic() + self.ttl_s, etag, body)
            self._bytes += len(body)
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(next(iter(self._items)))

    def _drop(self, ranking_id: str) -> None:
        _, _, body = self._items.pop(ranking_id)
        self._bytes -= len(body)


def _fetch(state: ApiState, ranking_id: str) -> tuple[str, bytes]:
    """ETag and document of a ranking from the engine (typed not-found / not-ready errors)."""
    body = state.engine.ranking_json(ranking_id).encode("utf-8")
    etag = f'"{state.engine.ranking_etag(ranking_id)}"'
    state.rankings.put(ranking_id, etag, body)
    return etag, body


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return if_none_match.strip() == "*" or etag in tags


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
async def get_ranking(
    request: Request,
    ranking_id: Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")],
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    state = api_state(request)
    hit = state.rankings.get(ranking_id)
    etag, body = hit if hit is not None else await run_in_threadpool(_fetch, state, ranking_id)
    headers = {"ETag": etag, "Cache-Control": "private, max-age=60"}
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
