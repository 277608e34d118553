"""Pure-ASGI middleware: the request-header and request-body caps and the request metrics.

Both wrap the raw ASGI callables instead of using ``BaseHTTPMiddleware``, so streamed bodies are never
buffered by the middleware itself and responses (SSE) are not held back.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.problems import problem_response
from service.errors import BodyTooLargeError, HeadersTooLargeError

if TYPE_CHECKING:
    from service.jobs.metrics import ApiMetrics


class HeaderLimitMiddleware:
    """Refuse requests whose header fields together exceed ``max_bytes`` with a 431 problem.

    Counts every field's name and value (as the server received them) before the application sees the
    request, so no route, dependency or log line handles an oversized header.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) for name, value in scope.get("headers", ()))
            if size > self.max_bytes:
                error = HeadersTooLargeError(
                    f"the request's header fields take {size} bytes, over the {self.max_bytes} allowed "
                    "(ZOORANK_MAX_HEADER_BYTES)",
                    param="max_header_bytes",
                )
                await problem_response(error, scope.get("path"))(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with a 413 problem, while they stream.

    A declared ``Content-Length`` over the limit is refused before a byte of the body is read. Bodies
    without one (chunked) or with a false one are counted as they arrive: the moment the count passes
    the limit the 413 is sent, the application sees a client disconnect, and nothing it sends afterwards
    reaches the client. So memory stays bounded by one chunk over the limit, whatever the client claims.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, paths: Mapping[str, tuple[int, str]] | None = None
    ) -> None:
        """``paths``: exact request paths with their own cap and the setting that names it (uploads)."""
        self.app = app
        self.max_bytes = max_bytes
        self.paths = dict(paths or {})

    def _error(self, limit: int, var: str) -> BodyTooLargeError:
        return BodyTooLargeError(
            f"request body exceeds {limit} bytes ({var})", param=var.removeprefix("ZOORANK_").lower()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, var = self.paths.get(scope.get("path", ""), (self.max_bytes, "ZOORANK_MAX_BODY_BYTES"))
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await problem_response(self._error(limit, var), scope.get("path"))(scope, receive, send)
                    return
        seen = 0
        refused = False
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out already; drop whatever the app answers to the disconnect
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def counting_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    if not started:
                        await problem_response(self._error(limit, var), scope.get("path"))(
                            scope, receive, send
                        )
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counting_receive, guarded_send)


class MetricsMiddleware:
    """Count requests and observe their latency by route template, method and status."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(
                scope.get("method", "GET"), template, status, time.perf_counter() - start
            )
