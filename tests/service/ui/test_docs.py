"""``/docs`` (Swagger UI) and ``/redoc`` render in a real browser with no network: every request that
leaves the app is blocked and recorded, and the pages must still show the API's operations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from service.api.auth import authenticate
from service.app import create_app
from service.settings import Settings
from tests.service.api.conftest import api_routes
from tests.service.ui.conftest import ARTIFACTS, UiStack

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Route

pytestmark = pytest.mark.xdist_group("ui-browser")

DOCS_PATHS = ("/openapi.json", "/docs", "/redoc")


def _render_offline(browser: Browser, stack: UiStack, path: str, selector: str) -> tuple[str, list[str]]:
    """The text of ``selector`` once ``path`` rendered, and every off-app request or CSP violation."""
    context = browser.new_context(extra_http_headers={"X-API-Key": stack.key})
    outside: list[str] = []

    def only_the_app(route: Route) -> None:
        if route.request.url.startswith(stack.url + "/") or route.request.url.startswith("blob:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_app)
    try:
        page = context.new_page()
        page.on("console", lambda m: outside.append(m.text) if "Content Security Policy" in m.text else None)
        response = page.goto(stack.url + path)
        assert response is not None and response.status == 200
        assert "script-src 'self'" in (response.headers.get("content-security-policy") or "")
        page.wait_for_selector(selector, timeout=30_000)
        text = page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / f"docs{path.replace('/', '_')}.png"), full_page=True)
        return text, outside
    finally:
        context.close()


def test_swagger_ui_renders_offline(ui_stack: UiStack, browser: Browser) -> None:
    text, outside = _render_offline(browser, ui_stack, "/docs", ".opblock")
    assert "/v1/rankings" in text and "/v1/jobs/{job_id}/events" in text
    assert outside == []


def test_redoc_renders_offline(ui_stack: UiStack, browser: Browser) -> None:
    text, outside = _render_offline(browser, ui_stack, "/redoc", "h2")
    assert "Submit a ranking request" in text
    assert outside == []


def test_schema_and_docs_need_the_key_by_default(ui_stack: UiStack) -> None:
    with httpx.Client(base_url=ui_stack.url) as http:
        for path in DOCS_PATHS:
            assert http.get(path).status_code == 401, path
            assert http.get(path, headers={"X-API-Key": ui_stack.key}).status_code == 200, path
        asset = http.get("/docs/assets/swagger-ui-bundle.js")
        assert asset.status_code == 200 and asset.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("required", [True, False])
def test_the_docs_key_is_a_setting(required: bool) -> None:
    app = create_app(Settings.from_env({"ZOORANK_DOCS_REQUIRE_KEY": str(required).lower()}))
    routes = {r.path: r for r in api_routes(app.routes)}
    for path in DOCS_PATHS:
        calls = {d.call for d in routes[path].dependant.dependencies}
        assert (authenticate in calls) is required, path
