"""Shared pytest configuration."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

# Same torch hub cache as the Makefile (TORCH_HOME=.cache/torch), so `pytest` run by hand finds the weights
# that `python -m zoo.assets install` put there. Set before torch is imported.
os.environ.setdefault("TORCH_HOME", str(Path(__file__).resolve().parents[1] / ".cache" / "torch"))

import torch

# Deterministic, contention-free numerics on small CI machines.
torch.set_num_threads(int(os.environ.get("ZOORANK_TEST_THREADS", "1")))

import pytest  # noqa: E402

from tests.support.s3 import TEST_ENV, S3Bucket, S3Server, new_bucket, start_s3_server  # noqa: E402

#: Fixtures that start live processes (uvicorn, worker processes, redis-server) or a browser: the tests that
#: use them are marked ``e2e`` / ``browser``, so ``make test-fast`` can leave them out.
_E2E_FIXTURES = frozenset(
    {"live", "redis_url", "redis_server", "redis_client", "ui_stack", "start_worker", "s3_server", "s3"}
)
_BROWSER_FIXTURES = frozenset({"browser", "page"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by what they start (see :data:`_E2E_FIXTURES`), and hypothesis tests ``property``."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & _BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if names & (_E2E_FIXTURES | _BROWSER_FIXTURES):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3-compatible HTTP server (moto's server mode) for the whole session."""
    server = start_s3_server()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    """A fresh bucket; the storage client finds the server and credentials through the AWS_* variables."""
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    return new_bucket(s3_server)
