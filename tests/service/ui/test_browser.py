"""The dashboard in a real browser (headless Debian Chromium) against a live API, Redis and worker.

One flow test walks what a user does: log in, browse to a dataset and inspect it, pick models, submit,
watch the job reach 100 %, read the ranking (sorted by the aggregate, re-sorted by a scorer), open a model,
download the CSV, and cancel a second job. Two more tests check what must be refused: a wrong API key, and
a form posted without its CSRF token. Every page is screenshotted under ``tests/.artifacts/ui/``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from service.pipeline.aggregate import SATURATED_MARK
from service.settings import DEFAULT_SCORERS
from tests.service.ui.conftest import ARTIFACTS, UiStack

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

#: One xdist worker runs this module, so `make test -n 2` starts one live stack for it, not two.
pytestmark = pytest.mark.xdist_group("ui-browser")

#: Five small trained models of different architectures and sources (32 px, seconds on a CPU).
MODELS = [
    "cnn4.glyphs",
    "resnet8.fashion_mnist",
    "mobilenet_tiny.emoji",
    "cnn4.fashion_mnist",
    "resnet8.emoji",
]
JOB_TIMEOUT_MS = 120_000


def shot(page: Page, name: str) -> None:
    """Save a full-page screenshot of the current page as ``tests/.artifacts/ui/<name>.png``."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) per test."""
    ctx = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    ctx.set_default_timeout(30_000)
    try:
        yield ctx
    finally:
        ctx.close()


def log_in(page: Page, stack: UiStack) -> None:
    """Open the dashboard, get sent to the login form, log in with the stack's key."""
    page.goto(stack.url + "/ui/")
    assert "/ui/login" in page.url
    page.fill("input[name=api_key]", stack.key)
    page.click("form.login button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/new$"))


def test_wrong_key_is_refused(ui_stack: UiStack, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(ui_stack.url + "/ui/jobs")
    assert "/ui/login" in page.url  # not logged in: every page sends you to the login form
    page.fill("input[name=api_key]", "not-the-key")
    with page.expect_response(lambda r: r.url.endswith("/ui/login") and r.request.method == "POST") as answer:
        page.click("form.login button[type=submit]")
    assert answer.value.status == 401
    assert "not valid" in page.inner_text("p.error")
    shot(page, "login_refused")
    page.goto(ui_stack.url + "/ui/jobs")
    assert "/ui/login" in page.url  # still not logged in


def test_form_without_csrf_token_is_refused(ui_stack: UiStack, context: BrowserContext) -> None:
    page = context.new_page()
    log_in(page, ui_stack)
    # strip the token from the form (and from htmx's default headers), then submit it as a browser would
    page.evaluate(
        "document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove());"
        "document.body.removeAttribute('hx-headers');"
    )
    with page.expect_response(lambda r: r.url.endswith("/ui/rankings")) as answer:
        page.click("#submit-button")
    assert answer.value.status == 403
    assert "csrf-token-invalid" in page.inner_text("main")
    shot(page, "csrf_refused")


def test_dashboard_flow(ui_stack: UiStack, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(ui_stack.url + "/ui/")
    shot(page, "login")
    log_in(page, ui_stack)

    # browse the data root to the dataset (htmx swaps the folder list and fills the path field)
    page.click("#browser a[data-entry=shapes]")
    page.wait_for_function("document.querySelector('#path').value === 'shapes'")
    # inspect it: class counts as a bar chart, the corrupt file listed
    page.click("#inspect-button")
    page.wait_for_selector("#inspection svg.bars")
    assert page.locator("#inspection svg.bars g").count() == 3
    assert "broken.png" in page.inner_text("#inspection table.corrupt")
    assert page.locator("#inspection strong").first.inner_text() == "31"  # 30 images + the broken file

    # filter the model list by tag (htmx), tick five models, keep the default scorers, 10 images a class
    assert page.locator("#model-list input[value='digit_cnn.mnist']").count() == 1  # tagged builtin
    page.select_option("#tag", "trained")
    page.wait_for_selector("#model-list input[value='digit_cnn.mnist']", state="detached")
    assert page.locator(f"#model-list input[value='{MODELS[0]}']").count() == 1
    for model in MODELS:
        page.check(f"#model-list input[value='{model}']")
    page.fill("input[name=max_per_class]", "10")
    shot(page, "new_ranking")
    page.click("#submit-button")

    # the job page follows the job's events until it is done
    page.wait_for_url(re.compile(r".*/ui/jobs/[A-Za-z0-9_-]+$"))
    job_url = page.url
    page.wait_for_selector("#job-percent:has-text('100 %')", timeout=JOB_TIMEOUT_MS)
    assert page.inner_text("#job-status") == "succeeded"
    assert page.locator("tr[data-model]").count() == len(MODELS)
    shot(page, "job")

    # the ranking: sorted by the aggregate rank
    page.click("#ranking-link")
    page.wait_for_selector("#ranking-table")
    rows = page.locator("#ranking-table tbody tr")
    assert rows.count() == len(MODELS)
    aggregates = [float(a) for a in rows.evaluate_all("rs => rs.map(r => r.dataset.aggregate)") if a]
    assert aggregates == sorted(aggregates) and len(aggregates) == len(MODELS)
    assert page.locator("svg.ranks g.line").count() == len(MODELS)
    scorers = page.locator("#ranking-table thead a.sort").count() - 2  # minus model and aggregate
    assert page.locator("svg.tau rect").count() == scorers * scorers
    assert "fingerprint" in page.inner_text("#provenance")
    shot(page, "ranking")

    # re-sort by one of the default scorers (a link: works without JavaScript), then back
    by = DEFAULT_SCORERS[-1]
    page.click(f"#ranking-table a[data-sort={by}]")
    page.wait_for_selector(f"#ranking-table[data-sort={by}]")
    column = page.evaluate(
        "[...document.querySelectorAll('#ranking-table thead th')]"
        f".findIndex(th => th.querySelector('a[data-sort={by}]')) + 1"
    )
    ranks = page.locator(f"#ranking-table tbody tr td:nth-child({column}) .rank").all_inner_texts()
    assert len(ranks) == len(MODELS)
    values = [float(t.strip("()" + SATURATED_MARK)) for t in ranks]  # a saturated tie carries the CLI's mark
    assert values == sorted(values)

    # open a model row
    first = page.locator("#ranking-table a.model-link").first
    model_id = first.inner_text()
    first.click()
    page.wait_for_selector("#model-aggregate")
    assert model_id in page.inner_text("h1")
    shot(page, "model")
    page.go_back()

    # download the CSV: one row per model, the documented header
    with page.expect_download() as download:
        page.click("#download-csv")
    path = download.value.path()
    assert path is not None
    table = list(csv.reader(io.StringIO(path.read_text())))
    assert table[0][:3] == ["position", "id", "aggregate_rank"]
    assert sorted(r[1] for r in table[1:]) == sorted(MODELS)

    # the jobs list (status filter) and the models page
    page.goto(ui_stack.url + "/ui/jobs?status=succeeded")
    assert job_url.rsplit("/", 1)[1] in page.inner_text("table.jobs")
    shot(page, "jobs")
    page.goto(ui_stack.url + "/ui/models?tag=trained")
    assert page.locator("table.zoo tbody tr").count() >= len(MODELS)
    shot(page, "models")

    # a second, larger job (the default zoo on 360 images) is cancelled from its page
    page.goto(ui_stack.url + "/ui/new?root=data&path=big")
    page.click("#submit-button")
    page.wait_for_url(re.compile(r".*/ui/jobs/[A-Za-z0-9_-]+$"))
    assert page.url != job_url
    page.click("#cancel-button")
    page.wait_for_selector("#job-status:has-text('cancelled')", timeout=JOB_TIMEOUT_MS)
    assert page.locator("#cancel-button").count() == 0
    shot(page, "job_cancelled")


def test_every_step_works_without_javascript(ui_stack: UiStack, browser: Browser) -> None:
    ctx = browser.new_context(viewport={"width": 1360, "height": 900}, java_script_enabled=False)
    ctx.set_default_timeout(30_000)
    try:
        page = ctx.new_page()
        log_in(page, ui_stack)
        # folder links, the inspect button and the model filter are plain links and forms
        page.click("#browser a[data-entry=shapes]")
        page.wait_for_url(re.compile(r".*/ui/new\?root=data&path=shapes$"))
        assert page.input_value("#path") == "shapes"
        page.click("#inspect-button")
        assert "broken.png" in page.inner_text("#inspection") and page.locator("#inspection svg.bars").count()
        page.select_option("#tag", "trained")
        page.click("#model-filter-button")
        page.wait_for_url(re.compile(r".*tag=trained.*"))
        assert page.input_value("#path") == "shapes"  # the filter keeps the chosen dataset
        assert page.locator("#model-list input[value='digit_cnn.mnist']").count() == 0
        page.check("#model-list input[value='cnn4.glyphs']")
        page.fill("input[name=max_per_class]", "5")
        page.click("#submit-button")
        page.wait_for_url(re.compile(r".*/ui/jobs/[A-Za-z0-9_-]+$"))
        # without the event stream the page reloads itself (meta refresh) until the job ends
        for _ in range(JOB_TIMEOUT_MS // 1000):
            if page.inner_text("#job-status") in ("succeeded", "failed", "cancelled"):
                break
            assert page.locator("noscript").count() == 1
            page.wait_for_timeout(1000)
            page.reload()
        assert page.inner_text("#job-status") == "succeeded"
        page.click("#ranking-link")
        page.click("#ranking-table a[data-sort=id]")
        page.wait_for_selector("#ranking-table[data-sort=id]")
        assert page.locator("#ranking-table tbody tr").count() == 1
        shot(page, "ranking_without_javascript")
    finally:
        ctx.close()
