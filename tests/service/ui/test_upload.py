"""The new-ranking page's upload field, in headless Chromium: an archive becomes the form's dataset."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.service.ui.conftest import UiStack
from tests.service.ui.test_browser import log_in
from tests.support.archives import zip_folder, zip_members
from tests.support.service import write_image_folder

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

pytestmark = pytest.mark.slow


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1360, "height": 900})
    ctx.set_default_timeout(30_000)
    try:
        yield ctx
    finally:
        ctx.close()


def test_an_uploaded_archive_fills_the_dataset_and_inspects(
    ui_stack: UiStack, context: BrowserContext, tmp_path: Path
) -> None:
    archive = tmp_path / "birds.zip"
    archive.write_bytes(zip_folder(write_image_folder(tmp_path / "birds", per_class=4, size=16), "birds/"))
    page = context.new_page()
    log_in(page, ui_stack)
    page.set_input_files("#archive", str(archive))
    page.click("#upload-button")
    page.wait_for_url(re.compile(r".*/ui/new\?root=uploads&path=[0-9a-f]{16}%2Fbirds$"))
    assert page.input_value("#root") == "uploads"
    assert re.fullmatch(r"[0-9a-f]{16}/birds", page.input_value("#path"))
    page.click("#inspect-button")
    page.wait_for_selector("#inspection svg.bars")
    assert page.locator("#inspection svg.bars g").count() == 3


def test_a_refused_upload_shows_its_reason(
    ui_stack: UiStack, context: BrowserContext, tmp_path: Path
) -> None:
    archive = tmp_path / "evil.zip"
    archive.write_bytes(zip_members("../evil.png"))
    page = context.new_page()
    log_in(page, ui_stack)
    page.set_input_files("#archive", str(archive))
    page.click("#upload-button")
    page.wait_for_selector("#form-error")
    assert "'..' is refused [upload-refused]" in page.inner_text("#form-error")
