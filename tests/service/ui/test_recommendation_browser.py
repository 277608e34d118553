"""The recommendation box in a real browser (headless Chromium), on a ranking the live stack computed.

It must say what the API's document says (the model, the set), and fit a 390 px wide phone screen
without horizontal overflow. Screenshots of the box at both widths go to ``tests/.artifacts/ui/``
(``docs/recommendation-dashboard*.png`` are copies of them).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from service.settings import DEFAULT_SCORERS
from service.ui.views import SCORER_LABELS
from tests.service.ui.conftest import ARTIFACTS, UiStack
from tests.service.ui.test_browser import MODELS, log_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.xdist_group("ui-browser")

JOB_TIMEOUT_S = 180.0

#: Whether an element lies inside the viewport horizontally and its content does not overflow it.
FITS = """(selector) => {
  const el = document.querySelector(selector);
  const box = el.getBoundingClientRect();
  return {left: box.left, right: box.right, viewport: window.innerWidth,
          scroll: el.scrollWidth, client: el.clientWidth};
}"""


def _ranked(stack: UiStack) -> tuple[str, dict[str, Any]]:
    """Rank four trained models on ``shapes`` with the default scorers through the API."""
    body = {"dataset": "data:shapes", "models": MODELS[:4], "sampling": {"seed": 0}}
    with httpx.Client(base_url=stack.url, headers={"X-API-Key": stack.key}, timeout=60.0) as http:
        answer = http.post("/v1/rankings", json=body)
        assert answer.status_code in (200, 202), answer.text
        job_id = answer.json()["id"]
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while True:
            job = http.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, f"job {job_id} did not finish"
            time.sleep(0.5)
        assert job["status"] == "succeeded", job
        document: dict[str, Any] = http.get(f"/v1/rankings/{job['ranking_id']}").json()
    return str(job["ranking_id"]), document


def test_the_recommendation_box_agrees_with_the_api_and_fits_a_phone(
    ui_stack: UiStack, browser: Browser
) -> None:
    ranking_id, document = _ranked(ui_stack)
    rec = document["recommendation"]
    for width in (1360, 390):
        ctx = browser.new_context(viewport={"width": width, "height": 900})
        ctx.set_default_timeout(30_000)
        try:
            page = ctx.new_page()
            log_in(page, ui_stack)
            page.goto(f"{ui_stack.url}/ui/rankings/{ranking_id}")
            box = page.locator("#recommendation")
            text = box.inner_text()
            assert f"Fine-tune {rec['model']}" in text, text
            assert f"p_best {rec['candidates'][0]['p_best']:.2f}" in text, text
            for member in rec["confidence_set"]:
                assert member in text
            assert ("No clear winner" in text) == (not rec["clear"]), text
            geometry = page.evaluate(FITS, "#recommendation")
            assert geometry["left"] >= 0 and geometry["right"] <= geometry["viewport"], geometry
            assert geometry["scroll"] <= geometry["client"], geometry  # nothing sticks out of the box
            headers = page.locator("#ranking-table thead").inner_text()
            assert SCORER_LABELS[DEFAULT_SCORERS[0]] in headers and "τw" in headers
            box.screenshot(path=str(ARTIFACTS / f"recommendation-{width}px.png"))
        finally:
            ctx.close()
