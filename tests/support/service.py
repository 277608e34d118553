"""Helpers of the service tests: image folders, a tiny zoo entry's network and profile, worker processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch import nn

from service.settings import Settings
from zoo import ZooEntry

if TYPE_CHECKING:
    pass


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
