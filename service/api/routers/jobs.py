"""``/v1/jobs``: one job's state, its live events (SSE), cancellation, and the caller's job list.

Events are read from the job's Redis stream (``JobEngine.events``), so a client that reconnects with
``Last-Event-ID`` (the browser's ``EventSource`` does this by itself) resumes after the last event it saw,
and any API replica can serve any job. The stream ends after the ``done`` event. Blocking stream reads run
on worker threads under their own capacity limiter, so open event streams never starve ordinary requests.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING, Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from service.api.auth import ApiKeyDep, CurrentPrincipal
from service.api.errors import NotOwnerError
from service.api.problems import problem_responses
from service.api.state import api_state
from service.jobs import JobStatus, JobView

if TYPE_CHECKING:
    from service.jobs import JobEngine

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[ApiKeyDep])

#: Interval of the keep-alive comment on idle event streams (proxies drop silent connections).
PING_SECONDS = 15
#: How long one blocking read of the event stream waits before checking for a client disconnect.
READ_BLOCK_MS = 1000
#: Event-stream reads that may block worker threads at once (each open stream holds one while reading).
_SSE_THREADS = anyio.CapacityLimiter(256)
_TERMINAL = {JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled}

JobId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]


class JobList(BaseModel):
    """One page of jobs, newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""

    model_config = ConfigDict(extra="forbid")

    items: list[JobView]
    next_cursor: str | None = Field(description="cursor of the next page; null on the last page")


@router.get(
    "",
    operation_id="list_jobs",
    response_model=JobList,
    responses=problem_responses(401, 422, 429),
    summary="The caller's jobs, newest first (cursor pagination)",
)
def list_jobs(
    request: Request,
    principal: CurrentPrincipal,
    status: Annotated[JobStatus | None, Query(description="only jobs in this status")] = None,
    cursor: Annotated[
        str | None, Query(max_length=256, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JobList:
    items, nxt = api_state(request).engine.list(status, cursor, limit, principal.owner)
    return JobList(items=items, next_cursor=nxt)


@router.get(
    "/{job_id}",
    operation_id="get_job",
    response_model=JobView,
    responses={
        200: {
            "description": "The job",
            "links": {
                "GetRanking": {
                    "operationId": "get_ranking",
                    "parameters": {"ranking_id": "$response.body#/ranking_id"},
                }
            },
        },
        **problem_responses(401, 404, 429),
    },
    summary="A job: status, progress per stage and per model, errors, timestamps",
)
def get_job(request: Request, job_id: JobId) -> JobView:
    return api_state(request).engine.get(job_id)


@router.post(
    "/{job_id}/cancel",
    operation_id="cancel_job",
    response_model=JobView,
    responses=problem_responses(401, 403, 404, 429),
    summary="Ask a job to stop (cooperative; a finished job is returned unchanged)",
)
def cancel_job(request: Request, principal: CurrentPrincipal, job_id: JobId) -> JobView:
    """Identical requests of several keys share one job, so only the key that created it may stop it."""
    engine = api_state(request).engine
    state = engine.state(job_id)
    owner = None if state is None else (state.get("owner") or None)
    if principal.owner is not None and owner is not None and owner != principal.owner:
        raise NotOwnerError(
            f"job {job_id} was created by another API key; only that key may cancel it", param="job_id"
        )
    return engine.cancel(job_id)


async def _stream(
    request: Request, engine: JobEngine, job_id: str, last_id: str | None
) -> AsyncIterator[ServerSentEvent]:
    while True:
        events = await anyio.to_thread.run_sync(
            partial(engine.events, job_id, last_id, READ_BLOCK_MS), limiter=_SSE_THREADS
        )
        for stream_id, name, data in events:
            last_id = stream_id
            yield ServerSentEvent(data=json.dumps(data, separators=(",", ":")), event=name, id=stream_id)
            if name == "done":
                return
        if not events:
            if await request.is_disconnected():
                return
            view = await anyio.to_thread.run_sync(partial(engine.get, job_id), limiter=_SSE_THREADS)
            if view.status in _TERMINAL:
                # the stream's done event is gone (trimmed or expired): end with the job as it is
                yield ServerSentEvent(data=view.model_dump_json(), event="done", id=last_id)
                return


@router.get(
    "/{job_id}/events",
    operation_id="job_events",
    response_model=None,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "Server-sent events progress, status and done (data: JSON); ping every 15 s",
        },
        **problem_responses(401, 404, 429),
    },
    summary="The job's progress as server-sent events until it ends (resume with Last-Event-ID)",
)
async def job_events(
    request: Request,
    job_id: JobId,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> EventSourceResponse:
    engine = api_state(request).engine
    await anyio.to_thread.run_sync(partial(engine.get, job_id))  # 404 before the stream starts
    return EventSourceResponse(
        _stream(request, engine, job_id, last_event_id),
        ping=PING_SECONDS,
        headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache"},
    )
