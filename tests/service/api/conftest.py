"""A live service for the API tests: real redis-server, a real worker process, uvicorn on a free port.

One stack is started per test session (module ``live``) and shared: starting Python processes that
import torch costs seconds each, and the tests only ever add jobs, so they do not disturb one another.
Datasets are small real PNG ImageFolders written under the stack's one named data root ``data``; the
models are the built-in zoo's small trained ones (committed weights, loaded by id in the worker).

The generated client is imported from ``clients/python`` as committed (the regeneration test checks that
it matches the schema), so nothing has to be installed for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.support.service import write_image_folder

REPO = Path(__file__).resolve().parents[3]
CLIENT_DIR = REPO / "clients" / "python"
if str(CLIENT_DIR) not in sys.path:
    sys.path.insert(0, str(CLIENT_DIR))

API_KEY = "zoorank-test-key-2f9c1e"
API_KEY_DIGEST = hashlib.sha256(API_KEY.encode()).hexdigest()
#: Small built-in trained models (32 px, D = 64..128): seconds to extract on CPU.
MODELS = ["cnn4.glyphs", "resnet8.fashion_mnist", "mobilenet_tiny.emoji"]
SCORERS = ["logme", "leep", "hscore_shrinkage", "transrate"]
STARTUP_TIMEOUT_S = 90.0


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def base_env(home: Path, data: Path) -> dict[str, str]:
    """The process environment of a service under test: its own home, one data root named ``data``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOORANK_") and k != "REDIS_URL"}
    env.update(
        {
            "ZOORANK_HOME": str(home),
            "ZOORANK_DATA_ROOTS": f"data={data}",
            "ZOORANK_DEVICE": "cpu",
            "ZOORANK_THREADS": "1",
            "ZOORANK_HEARTBEAT_TIMEOUT_MS": "5000",
            "ZOORANK_UI": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.setdefault("TORCH_HOME", str(REPO / ".cache" / "torch"))
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM, wait, SIGKILL if it does not go; returns the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)


def wait_ready(
    url: str,
    proc: subprocess.Popen[bytes] | list[subprocess.Popen[bytes]],
    log: Path,
    timeout: float = STARTUP_TIMEOUT_S,
) -> None:
    """Poll ``/health/ready`` until it answers 200 (Redis up, a worker heartbeat), or fail with the log."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for p in proc if isinstance(proc, list) else [proc]:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args!r} exited with {p.returncode}:\n{_logs(log)}")
        try:
            r = httpx.get(url + "/health/ready", timeout=2.0)
            if r.status_code == 200:
                return
            last = r.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.25)
    raise RuntimeError(f"not ready after {timeout} s ({last}):\n{_logs(log)}")


def api_routes(routes: Any) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (recent FastAPI keeps those as wrappers)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def _logs(log: Path) -> str:
    """The tail of ``log``, or of every log in its folder when it is one."""
    files = sorted(log.glob("*.log")) if log.is_dir() else [log]
    return "\n".join(f"--- {f.name}\n{f.read_text(errors='replace')[-3000:]}" for f in files if f.exists())


def write_datasets(data: Path) -> dict[str, Path]:
    """The datasets the tests rank or refuse, under the data root (reference = ``data:<name>``)."""
    shapes = write_image_folder(data / "shapes", per_class=8, size=16)
    single = write_image_folder(data / "single_src", per_class=6, size=16)
    single_class = data / "single"
    single_class.mkdir()
    (single / "circle").rename(single_class / "circle")
    empty = data / "empty"
    (empty / "circle").mkdir(parents=True)
    (empty / "square").mkdir()
    return {"shapes": shapes, "single": single_class, "empty": empty}


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real in-memory ``redis-server`` on a free TCP port for the whole session.

    Not the engine tests' ``redis_server``: their ``redis_client`` fixture flushes that server before each
    test, which would wipe the live stack's jobs in the middle of this session.
    """
    from service.jobs.redis_server import start_redis_server

    server = start_redis_server(
        directory=tmp_path_factory.mktemp("redis"), port=free_port(), persistent=False
    )
    try:
        yield server.url
    finally:
        server.stop()


@dataclass
class LiveApi:
    """A running stack: API URL, its environment (Redis URL included), key, data root, logs."""

    url: str
    env: dict[str, str]
    key: str
    data: Path
    home: Path
    logs: Path

    def client(self) -> object:
        """A generated ``AuthenticatedClient`` for this server."""
        from zoorank_client import AuthenticatedClient

        return AuthenticatedClient(base_url=self.url, token=self.key, timeout=httpx.Timeout(60.0))

    def http(self, **headers: str) -> httpx.Client:
        """A plain httpx client sending the API key (override or drop it with ``headers``)."""
        sent = {"X-API-Key": self.key, **headers}
        return httpx.Client(base_url=self.url, headers={k: v for k, v in sent.items() if v}, timeout=60.0)


@contextlib.contextmanager
def serve_stack(env: dict[str, str], logs: Path) -> Iterator[str]:
    """A worker process and uvicorn (``service.app:create_app``) with ``env``; yields the API's URL.

    Both processes log under ``logs``; they are stopped (worker last) when the block ends.
    """
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(logs / "worker.log", "wb") as wlog:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "service.jobs.worker",
                        "--device",
                        "cpu",
                        "--queues",
                        "extract,score",
                    ],
                    cwd=REPO,
                    env=env,
                    stdout=wlog,
                    stderr=subprocess.STDOUT,
                )
            )
        with open(logs / "api.log", "wb") as alog:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "--factory",
                        "service.app:create_app",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                    ],
                    cwd=REPO,
                    env=env,
                    stdout=alog,
                    stderr=subprocess.STDOUT,
                )
            )
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, procs, logs)
        yield url
    finally:
        for proc in reversed(procs):
            stop_process(proc)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[LiveApi]:
    """Worker process + uvicorn (``create_app`` factory) against the session's redis-server."""
    root = tmp_path_factory.mktemp("live_api")
    data, home, logs = root / "data", root / "home", root / "logs"
    data.mkdir()
    logs.mkdir()
    write_datasets(data)
    env = base_env(home, data)
    env.update(
        {
            "REDIS_URL": redis_url,
            "ZOORANK_API_KEYS": API_KEY_DIGEST,
            "ZOORANK_REQUESTS_PER_MINUTE": "100000",
            "ZOORANK_MAX_BODY_BYTES": "65536",
            "ZOORANK_MAX_IMAGES": "200",
            "ZOORANK_MAX_MODELS": "4",
            "ZOORANK_UPLOAD_MAX_BYTES": str(64 << 20),
            "ZOORANK_UPLOAD_MAX_FILES": "1000",
        }
    )
    with serve_stack(env, logs) as url:
        yield LiveApi(url=url, env=env, key=API_KEY, data=data, home=home, logs=logs)
