"""Fixtures for the service tests: real PNG datasets, tiny real models with safetensors weights, settings.

The tiny models are ordinary zoo entries whose weights are a safetensors file inside a throw-away Python
package on ``sys.path`` (``WeightsSource(kind="package")``), so loading goes through the real digest check,
the real state-dict loading and the real extraction code. They are passed to ``rank`` as objects and
never registered, so the global zoo registry stays untouched.
"""

from __future__ import annotations

import hashlib
import importlib
import signal
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import torch
from safetensors.torch import save_file

from service.settings import Settings
from tests.support.service import (
    EntryFactory,
    TinyNet,
    WorkerFactory,
    WorkerProcess,
    spawn_worker_process,
    wait_worker_ready,
    write_image_folder,
)
from zoo import Preprocessing, WeightsSource, ZooEntry

if TYPE_CHECKING:
    from redis import Redis

    from service.jobs.redis_server import RedisServer


@pytest.fixture
def tiny_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EntryFactory:
    """Factory of tiny zoo entries with real, seeded safetensors weights in a temporary package."""
    package = f"zoorank_test_weights_{uuid.uuid4().hex[:10]}"
    pkg_dir = tmp_path / "site" / package
    pkg_dir.mkdir(parents=True)
    (pkg_dir / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()

    def make(
        entry_id: str,
        *,
        seed: int = 0,
        dim: int = 8,
        head: bool = True,
        profile: Path | None = None,
        sha256: str | None = None,
    ) -> ZooEntry:
        num_classes = 5 if head else None
        torch.manual_seed(seed)
        net = TinyNet(dim, num_classes)
        filename = f"{entry_id}.safetensors"
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(pkg_dir / filename))
        digest = hashlib.sha256((pkg_dir / filename).read_bytes()).hexdigest()
        return ZooEntry(
            id=entry_id,
            arch="tinynet",
            builder=partial(TinyNet, dim, num_classes),
            weights=WeightsSource(
                kind="package", filename=filename, sha256=sha256 or digest, package=package
            ),
            preprocessing=Preprocessing(input_size=16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)),
            feature_layer="global average pool",
            head="fc" if head else None,
            feature_dim=dim,
            num_source_classes=num_classes,
            source="synthetic",
            license="CC0-1.0",
            citation="test fixture",
            profile=None if profile is None else str(profile),
            tags=("test",),
        )

    return make


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings confined to ``tmp_path``: data root, cache and feature store."""
    return Settings(home=tmp_path / "home", data_roots=(tmp_path,), device="cpu", batch_size=16)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A 3-class x 8-image PNG ImageFolder under the allowed root."""
    return write_image_folder(tmp_path / "data" / "shapes")


# --- the job engine: a real redis-server, real worker processes, a tiny 32 px dataset -------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free 127.0.0.1 port for the whole session (one per xdist worker)."""
    from service.jobs.redis_server import free_port, start_redis_server

    server = start_redis_server(
        directory=tmp_path_factory.mktemp("redis"), port=free_port(), persistent=False
    )
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[Redis]:
    """A client of :func:`redis_server`, on an emptied database (every test starts clean)."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="module")
def service_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root (``data`` in :func:`service_settings`) with ``shapes``: 3 classes x 6 PNGs of 32 px."""
    root = tmp_path_factory.mktemp("service") / "data"
    write_image_folder(root / "shapes", per_class=6, size=32)
    return root


@pytest.fixture(scope="module")
def service_settings(service_root: Path, redis_server: RedisServer) -> Settings:
    """Settings shared by the test process and its workers: the data root, one home, the test Redis.

    Small heartbeat timeout and backoff so that a killed worker's messages move on within seconds.
    """
    return Settings.from_env(
        {},
        home=service_root.parent / "home",
        data_roots={"data": service_root},
        device="cpu",
        batch_size=4,
        torch_threads=1,
        redis_url=redis_server.url,
        heartbeat_timeout_ms=2000,
        max_retries=1,
        retry_backoff_ms=100,
        model_cache_size=2,
    )


@pytest.fixture
def start_worker(service_settings: Settings) -> Iterator[WorkerFactory]:
    """Factory of worker processes on :func:`service_settings`; all are stopped after the test."""
    started: list[WorkerProcess] = []

    def start(count: int = 1, **kwargs: Any) -> list[WorkerProcess]:
        """Start ``count`` workers at once (their start-ups overlap) and return them once all are ready."""
        settings = kwargs.pop("settings", service_settings)
        procs = [spawn_worker_process(settings, **kwargs) for _ in range(count)]
        ready = [wait_worker_ready(proc) for proc in procs]
        started.extend(ready)
        return ready

    yield start
    for worker in started:  # all at once: their shutdowns overlap
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    for worker in started:
        worker.stop()
