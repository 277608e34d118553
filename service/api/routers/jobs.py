"""``/v1/jobs``: one job's state, its live events (SSE, :mod:`service.api.events`), cancellation, and the
caller's job list.

A client that reconnects with ``Last-Event-ID`` (the browser's ``EventSource`` does this by itself)
resumes after the last event it saw. The stream ends after the ``done`` event.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from service.api.auth import ApiKeyDep, CurrentPrincipal
from service.api.events import event_batches, event_response, off_loop
from service.api.problems import problem_responses
from service.api.state import api_state
from service.jobs.engine import check_event_id
from service.jobs.models import JobStatus, JobView

if TYPE_CHECKING:
    from service.jobs.engine import JobEngine

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[ApiKeyDep])

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
    return api_state(request).engine.cancel(job_id, owner=principal.owner)


async def _stream(
    request: Request, engine: JobEngine, job_id: str, last_id: str | None
) -> AsyncIterator[ServerSentEvent]:
    async for events in event_batches(request, engine, job_id, last_id):
        for stream_id, name, data in events:
            last_id = stream_id
            yield ServerSentEvent(data=json.dumps(data, separators=(",", ":")), event=name, id=stream_id)
            if name == "done":
                return
        if not events:
            view = await off_loop(engine.get, job_id)
            if view.status.terminal:
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
        **problem_responses(400, 401, 404, 422, 429),
    },
    summary="The job's progress as server-sent events until it ends (resume with Last-Event-ID)",
)
async def job_events(
    request: Request,
    job_id: JobId,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> EventSourceResponse:
    """A ``Last-Event-ID`` that is not an event id of this stream is refused with 400 before streaming."""
    check_event_id(last_event_id)
    engine = api_state(request).engine
    await off_loop(engine.get, job_id)  # 404 before the stream starts
    return event_response(_stream(request, engine, job_id, last_event_id))
