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
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from service.pipeline.aggregate import SATURATED_MARK
from service.settings import DEFAULT_SCORERS
from tests.service.ui.conftest import ARTIFACTS, REPO, UiStack

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
    assert answer.value.status == 303  # post/redirect/get
    page.wait_for_url(re.compile(r".*/ui/login\?.*failed=1$"))
    assert "not valid" in page.inner_text("p.error")
    with page.expect_request(lambda r: "/ui/login" in r.url) as again:
        page.reload()
    assert again.value.method == "GET"  # a refresh does not post the key again
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
    # polled from here: a string predicate would be eval'd in the page, which its CSP rightly forbids
    deadline = time.monotonic() + 30
    while page.input_value("#path") != "shapes":
        assert time.monotonic() < deadline, "the dataset path field was never filled"
        page.wait_for_timeout(50)
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
    assert page.locator("svg.ranks:not(.compact) g.line").count() == len(MODELS)
    scorers = page.locator("#ranking-table thead a.sort").count() - 2  # minus model and aggregate
    assert page.locator("svg.tau:not(.compact) rect").count() == scorers * scorers
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
    page.set_viewport_size({"width": 390, "height": 900})  # a running job's page fits a phone too
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "job_running_390")
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
        # without the event stream the page offers a reload link (no automatic refresh) until the job ends
        for _ in range(JOB_TIMEOUT_MS // 1000):
            if page.inner_text("#job-status") in ("succeeded", "failed", "cancelled"):
                break
            assert page.locator("#refresh-link").count() == 1
            page.wait_for_timeout(1000)
            page.click("#refresh-link")
        assert page.inner_text("#job-status") == "succeeded"
        page.click("#ranking-link")
        page.click("#ranking-table a[data-sort=id]")
        page.wait_for_selector("#ranking-table[data-sort=id]")
        assert page.locator("#ranking-table tbody tr").count() == 1
        shot(page, "ranking_without_javascript")
    finally:
        ctx.close()


# --- every page at a desktop and a phone width, checked by axe-core ---------------------------------

#: The vendored axe-core (tests only, never served by the dashboard; see its README for version/licence).
AXE = REPO / "tests" / "support" / "axe" / "axe.min.js"
AXE_VERSION = "4.10.2"
#: Widths every page is checked at: a laptop, and a phone (CSS px).
WIDTHS = (1366, 390)
#: axe impacts that fail the test (minor and moderate findings are printed, not failed).
BLOCKING = ("serious", "critical")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the current page (the page's context must bypass the CSP: axe is injected
    as an inline script, which the dashboard's ``script-src 'self'`` refuses)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    assert page.evaluate("axe.version") == AXE_VERSION
    result: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))"
    )
    return result


def overflow(page: Page) -> int:
    """How many CSS px the page is wider than the window (0: no sideways scrolling)."""
    width: int = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return max(0, width)


def as_built_without_javascript(html: str, base: str) -> str:
    """The document a browser with JavaScript off builds from ``html``: ``<noscript>`` content is markup,
    scripts never run. Loaded with ``set_content`` into a page with JavaScript on (so that axe can run),
    the ``noscript`` wrappers are dropped (their content kept) and the scripts removed; ``<base>`` makes the
    stylesheet load from the live server."""
    html = re.sub(r"</?noscript>", "", html)
    html = re.sub(r"<script\b[^>]*>.*?</script>", "", html, flags=re.DOTALL)
    return html.replace("<head>", f'<head><base href="{base}">', 1)


def check_page(page: Page, label: str, failures: list[str], notes: list[str]) -> None:
    """Record the page's horizontal overflow and serious or critical axe violations in ``failures``, the
    minor and moderate ones in ``notes``."""
    extra = overflow(page)
    if extra:
        failures.append(f"{label}: {extra} px wider than the window")
    for v in axe_violations(page):
        line = f"{label}: axe {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}"
        if v["impact"] in BLOCKING:
            failures.append(line)
        else:
            notes.append(line)


def test_every_page_fits_a_phone_and_passes_axe(ui_stack: UiStack, browser: Browser) -> None:
    """Every page, logged out and in, with JavaScript on and off, at 1366 and 390 px: no sideways scrolling
    and no serious or critical axe-core violation. Also: a refused submission is post/redirect/get (a
    refresh GETs the form back with its values and error), and the ranking page's screenshots at both
    widths are written to ``docs/``."""
    js = browser.new_context(viewport={"width": WIDTHS[0], "height": 900}, bypass_csp=True)
    nojs = browser.new_context(viewport={"width": WIDTHS[0], "height": 900}, java_script_enabled=False)
    checker = browser.new_context(viewport={"width": WIDTHS[0], "height": 900}, bypass_csp=True)
    for ctx in (js, nojs, checker):
        ctx.set_default_timeout(30_000)
    failures: list[str] = []
    notes: list[str] = []
    try:
        page = js.new_page()
        # logged out: the login form, and the form after a refused key
        public = ["/ui/login", "/ui/login?failed=1"]
        for path in public:
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(ui_stack.url + path)
                check_page(page, f"{path} at {width} px (logged out)", failures, notes)
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        log_in(page, ui_stack)

        # a refused submission: redirected to the form with its values and error; a refresh only GETs it
        page.goto(ui_stack.url + "/ui/new?root=data&path=no_such_folder")
        page.fill("#run-name", "phone check")
        page.click("#submit-button")
        page.wait_for_url(re.compile(r".*/ui/new\?flash=[A-Za-z0-9_-]+$"))
        assert "no_such_folder" in page.inner_text("#form-error")
        assert page.input_value("#run-name") == "phone check"
        flash_url = page.url
        with page.expect_request(lambda r: r.url == flash_url) as again:
            page.reload()
        assert again.value.method == "GET"
        assert page.locator("#form-error").count() == 1

        # a finished ranking, named, to look at
        page.goto(ui_stack.url + "/ui/new?root=data&path=shapes")
        page.click("#inspect-button")  # htmx: the inspection appears in place
        page.wait_for_selector("#inspection svg.bars")
        inspected = page.url
        for model in MODELS:
            page.check(f"#model-list input[value='{model}']")
        page.fill("input[name=max_per_class]", "10")
        for scorer in ("logme", "leep", "gbc", "transrate"):  # beside the defaults: scores that differ
            page.check(f"input[name=scorers][value={scorer}]")
        # not the flow test's request, which would answer from its cache under that job's name
        page.fill("input[name=seed]", "7")
        page.fill("#run-name", "phone check")
        page.click("#submit-button")
        page.wait_for_url(re.compile(r".*/ui/jobs/[A-Za-z0-9_-]+$"))
        job_id = page.url.rsplit("/", 1)[1]
        page.wait_for_selector("#job-status:has-text('succeeded')", timeout=JOB_TIMEOUT_MS)
        page.goto(ui_stack.url + "/ui/jobs")
        row = page.locator(f"tr[data-job='{job_id}']")
        assert "phone check" in row.inner_text() and row.locator(".top-model code").inner_text() in MODELS

        pages = [
            "/ui/new",
            inspected.removeprefix(ui_stack.url),
            flash_url.removeprefix(ui_stack.url),
            "/ui/jobs",
            f"/ui/jobs/{job_id}",
            f"/ui/rankings/{job_id}",
            f"/ui/rankings/{job_id}/models/{MODELS[0]}",
            "/ui/models",
            "/ui/no-such-page",
        ]
        for path in pages:
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(ui_stack.url + path)
                if path.startswith("/ui/new?root=data&path=shapes"):
                    page.click("#inspect-button")
                    page.wait_for_selector("#inspection svg.bars")
                check_page(page, f"{path} at {width} px (JavaScript on)", failures, notes)
                slug = re.sub(r"[^A-Za-z0-9]+", "_", path.split("?flash=")[0]).strip("_")[:60]
                shot(page, f"{slug}_{width}")
                if path == f"/ui/rankings/{job_id}":
                    # the model and its aggregate stay in view; the scorer columns scroll inside the table
                    box = page.locator("#ranking-table td.agg").first.bounding_box()
                    assert box is not None and box["x"] + box["width"] <= width
                    shot(page, f"ranking_{width}")  # committed as docs/dashboard-ranking-{width}.png

        # JavaScript off: the HTML as served to this session, built as a browser without scripts builds it
        # (noscript content shown, nothing run), checked in the JavaScript-on checker page
        nojs_page = nojs.new_page()
        log_in(nojs_page, ui_stack)
        # this session's own refused submission and inspection (a flash belongs to the session that posted)
        nojs_page.goto(ui_stack.url + "/ui/new?root=data&path=no_such_folder")
        nojs_page.click("#submit-button")
        nojs_page.wait_for_url(re.compile(r".*/ui/new\?flash=[A-Za-z0-9_-]+$"))
        assert "no_such_folder" in nojs_page.inner_text("#form-error")
        refused = nojs_page.url.removeprefix(ui_stack.url)
        nojs_page.goto(ui_stack.url + "/ui/new?root=data&path=shapes")
        nojs_page.click("#inspect-button")
        nojs_page.wait_for_url(re.compile(r".*/ui/new\?flash=[A-Za-z0-9_-]+$"))
        assert nojs_page.locator("#inspection svg.bars").count() == 1
        inspection = nojs_page.url.removeprefix(ui_stack.url)
        own = [p for p in pages if "flash=" not in p] + [refused, inspection]
        checker_page = checker.new_page()
        for path in public + own:
            source = nojs.request if path not in public else checker.request
            answer = source.get(ui_stack.url + path)
            html = as_built_without_javascript(answer.text(), ui_stack.url + "/")
            for width in WIDTHS:
                checker_page.set_viewport_size({"width": width, "height": 900})
                checker_page.set_content(html, wait_until="load")
                check_page(checker_page, f"{path} at {width} px (JavaScript off)", failures, notes)
    finally:
        for ctx in (js, nojs, checker):
            ctx.close()
        (ARTIFACTS / "axe-minor.txt").write_text("\n".join(notes) + "\n")
    assert not failures, "\n".join(failures)


def test_the_page_check_catches_a_missing_label_and_sideways_scrolling(browser: Browser) -> None:
    """The check above can fail: axe runs and reports what it must, and overflow is measured."""
    ctx = browser.new_context(viewport={"width": 390, "height": 600}, bypass_csp=True)
    try:
        page = ctx.new_page()
        page.set_content(
            '<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
            '<h1>t</h1><input type="text" name="x"><div style="width: 600px">wide</div></main></body></html>'
        )
        failures: list[str] = []
        check_page(page, "bad page", failures, [])
        assert any("px wider than the window" in f for f in failures)
        assert any(" label " in f and "critical" in f for f in failures), failures
    finally:
        ctx.close()
