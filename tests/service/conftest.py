"""Fixtures for the service tests: real PNG datasets, tiny real models with safetensors weights, settings.

The tiny models are ordinary zoo entries whose weights are a safetensors file inside a throw-away Python
package on ``sys.path`` (``WeightsSource(kind="package")``), so loading goes through the real digest check,
the real state-dict loading and the real extraction code. They are passed to ``rank`` as objects and
never registered, so the global zoo registry stays untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from service.settings import Settings
from zoo import Preprocessing, WeightsSource, ZooEntry

if TYPE_CHECKING:
    from redis import Redis

    from service.redis_server import RedisServer

CLASSES = ("circle", "square", "stripes")
COLOURS = {"circle": (220, 40, 40), "square": (40, 200, 60), "stripes": (40, 60, 220)}


def write_image_folder(root: Path, per_class: int = 8, size: int = 16, seed: int = 0) -> Path:
    """An ImageFolder of small RGB PNGs: three visibly different classes (colour and pattern) plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    for name in CLASSES:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 60, size=(size, size, 3)).astype(np.float64)
            if name == "circle":
                mask = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
            elif name == "square":
                mask = (abs(yy - size / 2) < size / 4) & (abs(xx - size / 2) < size / 4)
            else:
                mask = (xx // 2) % 2 == 0
            img[mask] = COLOURS[name]
            img += rng.normal(0, 10, size=img.shape)
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return root


class TinyNet(nn.Module):
    """conv 3x3 -> ReLU -> global average pool -> (optional) linear source head."""

    def __init__(self, dim: int = 8, num_classes: int | None = 5) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, dim, kernel_size=3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.fc: nn.Module = nn.Linear(dim, num_classes) if num_classes is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(self.flat(self.pool(torch.relu(self.conv(x)))))
        return out


EntryFactory = Callable[..., ZooEntry]


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


def write_profile(path: Path, dim: int, seed: int = 0) -> Path:
    """A source profile file (the format ``zoo.training.profiles`` writes) with plausible statistics."""
    from zoo.training.profiles import SourceProfile, save_profile

    g = torch.Generator().manual_seed(seed)
    feats = torch.rand(20, dim, generator=g)
    save_profile(
        SourceProfile(
            mean=feats.mean(0),
            std=feats.std(0, correction=0) + 0.1,
            features=feats,
            pred=torch.zeros(20, dtype=torch.int64),
            labels=torch.zeros(20, dtype=torch.int64),
            index=torch.arange(20),
            count=20,
            num_classes=5,
        ),
        path,
    )
    return path


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
    from service.redis_server import free_port, start_redis_server

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


@dataclass
class WorkerProcess:
    """A ``zoorank worker`` subprocess."""

    process: subprocess.Popen[bytes]
    worker_id: str

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.process.pid

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


WorkerFactory = Callable[..., list[WorkerProcess]]


def spawn_worker_process(
    settings: Settings, *, queues: str = "extract,score", imports: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """Launch ``zoorank worker --device cpu`` (the real CLI command) with ``settings`` in its environment."""
    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-c", "from service.cli import app; app()", "worker", "--device", "cpu"]
    args += ["--queues", queues]
    for module in imports:
        args += ["--import", module]
    repo = Path(__file__).resolve().parents[2]
    return subprocess.Popen(args, env=env, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def wait_worker_ready(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> WorkerProcess:
    """Wait for a spawned worker's ``ready`` line (it then consumes its queues)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        with contextlib.suppress(ValueError):
            doc = json.loads(line)
            if doc.get("event") == "ready":
                return WorkerProcess(proc, str(doc["worker_id"]))
    proc.kill()
    raise RuntimeError(f"worker did not start (exit code {proc.poll()})")


def start_worker_process(
    settings: Settings, *, queues: str = "extract,score", imports: tuple[str, ...] = (), timeout: float = 60.0
) -> WorkerProcess:
    """Start a worker (:func:`spawn_worker_process`) and wait until it is ready."""
    return wait_worker_ready(spawn_worker_process(settings, queues=queues, imports=imports), timeout)


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
