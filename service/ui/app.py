"""The dashboard as a sub-application mounted at ``/ui`` of the API app (:func:`mount_ui`).

It is a separate :class:`~fastapi.FastAPI` instance so that none of its routes enters the API's OpenAPI
schema (hence the generated client) or the API's authentication rules: the dashboard authenticates with
its own session cookie (:mod:`service.ui.session`) and renders HTML errors instead of problem documents.
It shares the API app's ``state`` object, so both use one :class:`~service.api.state.ApiState`: the same
settings, Redis client and :class:`~service.jobs.engine.JobEngine`, and the API's request quotas.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from estimators.errors import ZoorankError
from service.settings import Settings
from service.ui import routes
from service.ui.context import UiContext
from service.ui.session import COOKIE_NAME, SessionCodec

__all__ = ["create_ui_app", "mount_ui"]

log = logging.getLogger("zoorank.ui")

HERE = Path(__file__).resolve().parent
#: Where the dashboard is mounted in the API app.
MOUNT_PATH = "/ui"


class SessionCookieMiddleware:
    """Adds the ``Set-Cookie`` of a session created or replaced during the request to its response.

    A pure ASGI middleware (not ``BaseHTTPMiddleware``), so server-sent event streams pass through
    untouched. Routes put the session to send into ``request.state.ui_set_session``.
    """

    def __init__(self, app: ASGIApp, codec: SessionCodec) -> None:
        self.app = app
        self.codec = codec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = scope.get("state", {}).get("ui_set_session")
                if session is not None:
                    carrier = Response()
                    self.codec.set_cookie(Request(scope), carrier, session)
                    cookie = [(k, v) for k, v in carrier.raw_headers if k == b"set-cookie"]
                    headers = [(k, v) for k, v in message.get("headers", []) if not _is_session_cookie(k, v)]
                    message = {**message, "headers": headers + cookie}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


#: Headers of every dashboard response: no framing (clickjacking), no MIME sniffing, no referrer leaks off
#: the site, scripts only from the dashboard itself (htmx and its SSE extension, no inline script), and no
#: caching of pages that carry a CSRF token. Inline ``style`` stays allowed: table cells carry their
#: colour as a style attribute and htmx adds its indicator style.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` (and ``Cache-Control: no-store`` on HTML) to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html") and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_session_cookie(key: bytes, value: bytes) -> bool:
    return key.lower() == b"set-cookie" and value.startswith(COOKIE_NAME.encode() + b"=")


def _secret(settings: Settings) -> str:
    """The session-signing secret: ``ZOORANK_SESSION_SECRET``, else a random per-process one.

    The random secret is only worth a warning with authentication on: without API keys a session carries
    no login (only a CSRF token), so a restart or another replica merely issues a fresh one.
    """
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value()
    if not settings.api_keys:
        return secrets.token_urlsafe(48)
    log.warning(
        "ZOORANK_SESSION_SECRET is not set: dashboard sessions use a random per-process secret (logins end "
        "at a restart and do not carry over between API replicas)"
    )
    return secrets.token_urlsafe(48)


def create_ui_app(settings: Settings, *, state: Any = None) -> FastAPI:
    """The dashboard app (routes in :mod:`service.ui.routes`, templates and static files next to it).

    Args:
        settings: the process's settings (``ui``, ``session_secret``, ``api_keys``...).
        state: the API app's ``state`` to share (its ``zoorank`` attribute is the :class:`ApiState`).
    """
    ui = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, title="zoorank dashboard")
    if state is not None:
        ui.state = state
    codec = SessionCodec(_secret(settings), max_age_s=settings.session_max_age_s)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    routes.install_template_globals(templates)
    ui.state.zoorank_ui = UiContext(settings=settings, codec=codec, templates=templates)
    ui.include_router(routes.public)
    ui.include_router(routes.router)
    ui.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    ui.add_exception_handler(ZoorankError, routes.error_page)
    ui.add_exception_handler(StarletteHTTPException, routes.http_error_page)
    ui.add_exception_handler(RequestValidationError, routes.validation_error_page)
    ui.add_middleware(SessionCookieMiddleware, codec=codec)
    ui.add_middleware(SecurityHeadersMiddleware)
    return ui


def mount_ui(app: FastAPI, settings: Settings) -> None:
    """Mount the dashboard at ``/ui`` of ``app`` unless ``settings.ui`` is off (``ZOORANK_UI=0``)."""
    if not settings.ui:
        return
    app.mount(MOUNT_PATH, create_ui_app(settings, state=app.state), name="ui")
