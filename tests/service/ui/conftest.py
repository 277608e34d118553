"""A live stack for the dashboard's browser tests: real redis-server, a real ``zoorank worker``, uvicorn.

The Redis server (``redis_server``) and the worker process (``start_worker_process``) are the job-engine
fixtures of ``tests/service/conftest.py``; the API runs under uvicorn from the app factory with the
dashboard on and one API key. The browser is the Debian ``chromium`` package driven by Playwright
(Playwright's own browser download is not used), headless.

Datasets (one data root named ``data``):

* ``shapes``: 3 classes x 10 PNGs of 32 px plus one corrupt ``circle/broken.png`` (the corrupt threshold is
  raised to 5 % so that the dataset still ranks, and inspection lists the broken file);
* ``big``: 3 classes x 120 PNGs, a job that runs long enough to be cancelled from the browser.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from service.jobs.redis_server import free_port
from service.settings import Settings
from tests.service.api.conftest import wait_ready
from tests.support.service import start_worker_process, write_image_folder

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from service.jobs.redis_server import RedisServer
    from tests.support.service import WorkerProcess

REPO = Path(__file__).resolve().parents[3]
#: Screenshots of every page (gitignored); the ranking page's are also committed as docs/dashboard.png and, at
#: 1366 and 390 px (test_every_page_fits_a_phone_and_passes_axe), docs/dashboard-ranking-{1366,390}.png.
ARTIFACTS = REPO / "tests" / ".artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
API_KEY = "zoorank-ui-test-key-7d41"
STARTUP_TIMEOUT_S = 120.0


@dataclass
class UiStack:
    """The running stack: base URL, API key, data root and the API's log file."""

    url: str
    key: str
    data: Path
    log: Path


@pytest.fixture(scope="module")
def ui_stack(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[UiStack]:
    """Worker process + uvicorn (``create_app`` factory, dashboard on) against the session's Redis."""
    root = tmp_path_factory.mktemp("ui")
    data = root / "data"
    write_image_folder(data / "shapes", per_class=10, size=32)
    (data / "shapes" / "circle" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    write_image_folder(data / "big", per_class=120, size=32, seed=1)
    settings = Settings.from_env(
        {},
        home=root / "home",
        data_roots={"data": data},
        redis_url=redis_server.url,
        api_keys=(hashlib.sha256(API_KEY.encode()).hexdigest(),),
        session_secret="ui-test-session-secret-0123456789abcdef",
        ui=True,
        device="cpu",
        batch_size=8,
        torch_threads=1,
        corrupt_image_threshold=0.05,
        heartbeat_timeout_ms=5000,
        requests_per_minute=100_000,
    )
    worker: WorkerProcess = start_worker_process(settings, timeout=STARTUP_TIMEOUT_S)
    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    port = free_port()
    log = root / "api.log"
    with open(log, "wb") as out:
        api = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, api, log, timeout=STARTUP_TIMEOUT_S)
        yield UiStack(url=url, key=API_KEY, data=data, log=log)
    finally:
        if api.poll() is None:
            api.send_signal(signal.SIGTERM)
            try:
                api.wait(20)
            except subprocess.TimeoutExpired:
                api.kill()
                api.wait(10)
        worker.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium under Playwright."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("the browser tests need the Debian chromium package: apt-get install chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()
