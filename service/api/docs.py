"""The API's documentation pages, served with no network: ``/docs`` (Swagger UI), ``/redoc`` (ReDoc) and
the schema ``/openapi.json``.

Swagger UI and ReDoc are vendored under ``static/docs`` (versions and licences in its ``VERSIONS.md``)
and served from ``/docs/assets``; the pages load nothing from elsewhere and run under the dashboard's
Content-Security-Policy (scripts from the app only, no inline script), widened by ``worker-src blob:``
for ReDoc's search worker. ``ZOORANK_DOCS_REQUIRE_KEY`` (default true) puts the schema and both pages
behind the API key like every route but ``/health/*``; false serves them to anyone.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.staticfiles import StaticFiles

from service.api.auth import ApiKeyDep
from service.api.problems import problem_responses
from service.settings import Settings

__all__ = ["ASSETS_DIR", "DOCS_CSP", "install_docs"]

ASSETS_DIR = Path(__file__).resolve().parent / "static" / "docs"
ASSETS_URL = "/docs/assets"
OPENAPI_URL = "/openapi.json"
#: The dashboard's policy (``service.ui.app.SECURITY_HEADERS``) plus blob workers (ReDoc's search index).
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": DOCS_CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _swagger_page(title: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)} - Swagger UI</title>
<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">
</head>
<body data-openapi-url="{OPENAPI_URL}">
<div id="swagger-ui"></div>
<script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>
<script src="{ASSETS_URL}/swagger-init.js"></script>
</body>
</html>
"""


def _redoc_page(title: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)} - ReDoc</title>
</head>
<body>
<redoc spec-url="{OPENAPI_URL}" disable-search-worker="false"></redoc>
<script src="{ASSETS_URL}/redoc.standalone.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI, settings: Settings) -> None:
    """Add ``/openapi.json``, ``/docs``, ``/redoc`` and the vendored assets to ``app`` (built with
    ``openapi_url=None``, ``docs_url=None``, ``redoc_url=None``)."""
    deps = [ApiKeyDep] if settings.docs_require_key else []
    problems = problem_responses(401, 429) if settings.docs_require_key else {}

    @app.get(
        OPENAPI_URL,
        include_in_schema=False,
        dependencies=deps,
        operation_id="openapi_schema",
        responses=problems,
    )
    def openapi_schema() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get(
        "/docs", include_in_schema=False, dependencies=deps, operation_id="swagger_ui", responses=problems
    )
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(_swagger_page(app.title), headers=_HEADERS)

    @app.get("/redoc", include_in_schema=False, dependencies=deps, operation_id="redoc", responses=problems)
    def redoc() -> HTMLResponse:
        return HTMLResponse(_redoc_page(app.title), headers=_HEADERS)

    app.mount(ASSETS_URL, _Assets(directory=ASSETS_DIR), name="docs-assets")


class _Assets(StaticFiles):
    """The vendored files, with the docs' security headers (``nosniff`` matters for scripts)."""

    async def get_response(self, path: str, scope: Any) -> Any:
        response = await super().get_response(path, scope)
        response.headers.update(_HEADERS)
        return response
