"""A live stack of the SDK contract tests: its own redis-server (stopped and restarted by the outage
test), one worker process and uvicorn, started once per module.

Two API keys: ``key`` for the tests, ``limited_key`` for the rate-limit test (each key has its own
requests-per-minute quota, so exhausting one leaves the other untouched).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.jobs.redis_server import RedisServer, start_redis_server
from tests.service.api.conftest import API_KEY, base_env, free_port, serve_stack, write_datasets

LIMITED_KEY = "zoorank-test-limited-key-7d41"
#: Requests per minute per key: high enough for every test but the one that exhausts ``LIMITED_KEY``.
REQUESTS_PER_MINUTE = 60


@dataclass
class SdkStack:
    """A running stack; ``restart_redis`` brings its (in-memory, so emptied) redis-server back."""

    url: str
    key: str
    limited_key: str
    data: Path
    redis_dir: Path
    redis_port: int
    redis: RedisServer

    def stop_redis(self) -> None:
        self.redis.stop()

    def restart_redis(self) -> None:
        self.redis = start_redis_server(directory=self.redis_dir, port=self.redis_port, persistent=False)


@pytest.fixture(scope="module")
def sdk_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SdkStack]:
    root = tmp_path_factory.mktemp("sdk_stack")
    data, home, logs, redis_dir = root / "data", root / "home", root / "logs", root / "redis"
    for d in (data, logs, redis_dir):
        d.mkdir()
    write_datasets(data)
    redis_port = free_port()
    redis = start_redis_server(directory=redis_dir, port=redis_port, persistent=False)
    stack = SdkStack("", API_KEY, LIMITED_KEY, data, redis_dir, redis_port, redis)
    env = base_env(home, data)
    digests = ",".join(hashlib.sha256(k.encode()).hexdigest() for k in (API_KEY, LIMITED_KEY))
    env.update(
        {
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "ZOORANK_API_KEYS": digests,
            "ZOORANK_REQUESTS_PER_MINUTE": str(REQUESTS_PER_MINUTE),
            "ZOORANK_MAX_IMAGES": "200",
            "ZOORANK_MAX_MODELS": "4",
        }
    )
    try:
        with serve_stack(env, logs) as url:
            stack.url = url
            yield stack
    finally:
        stack.redis.stop()
