"""Server-sent event streams of a job, shared by the API's ``/v1/jobs/{id}/events`` and the dashboard.

Events are read from the job's Redis stream (:meth:`~service.jobs.engine.JobEngine.events`), so a client
that reconnects with ``Last-Event-ID`` resumes after the last event it saw and any replica can serve any
job. Blocking reads run on worker threads under one capacity limiter for the whole process, so open
event streams never starve ordinary requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request

from service.jobs.engine import JobEngine

__all__ = ["PING_SECONDS", "READ_BLOCK_MS", "event_batches", "event_response", "off_loop"]

T = TypeVar("T")

#: Interval of the keep-alive comment on idle event streams (proxies drop silent connections).
PING_SECONDS = 15
#: How long one blocking read of the event stream waits before checking for a client disconnect.
READ_BLOCK_MS = 1000
#: Event-stream reads that may block worker threads at once (each open stream holds one while reading).
_THREADS = anyio.CapacityLimiter(256)

#: One event of a job's stream: (stream id, event name, JSON payload).
Event = tuple[str, str, dict[str, Any]]


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on a worker thread under the event streams' limiter."""
    return await anyio.to_thread.run_sync(partial(fn, *args), limiter=_THREADS)


async def event_batches(
    request: Request, engine: JobEngine, job_id: str, last_id: str | None
) -> AsyncIterator[list[Event]]:
    """The job's events after ``last_id`` in batches, one per blocking read (an empty batch: none came).

    Ends when the client disconnects; the caller ends it earlier (on ``done``, or a finished job).
    """
    while True:
        events: list[Event] = await off_loop(engine.events, job_id, last_id, READ_BLOCK_MS)
        if not events and await request.is_disconnected():
            return
        if events:
            last_id = events[-1][0]
        yield events


def event_response(stream: AsyncIterator[ServerSentEvent]) -> EventSourceResponse:
    """The streaming response: keep-alive pings, no proxy buffering, no caching."""
    return EventSourceResponse(
        stream, ping=PING_SECONDS, headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache"}
    )
