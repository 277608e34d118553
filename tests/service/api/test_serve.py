"""``zoorank serve`` with no ``REDIS_URL``: a private redis-server child and an in-process worker rank a
dataset through the very same API, and a SIGTERM stops the server, the worker and the Redis child."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.service.api.conftest import MODELS, base_env, free_port, stop_process, wait_ready, write_datasets

pytestmark = pytest.mark.slow


def _children(pid: int) -> dict[int, str]:
    """Direct child processes of ``pid`` (Linux /proc): pid -> command name."""
    out: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        if ppid == pid:
            out[int(stat.parent.name)] = name
    return out


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state == "Z"  # exited, waiting to be reaped by init


def test_embedded_serve_ranks_and_stops_its_redis_child(tmp_path: Path) -> None:
    data, home = tmp_path / "data", tmp_path / "home"
    data.mkdir()
    write_datasets(data)
    env = base_env(home, data)
    port = free_port()
    log = tmp_path / "serve.log"
    zoorank = str(Path(sys.executable).with_name("zoorank"))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [zoorank, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, log)
        redis_children = [p for p, name in _children(proc.pid).items() if name.startswith("redis-server")]
        assert len(redis_children) == 1, _children(proc.pid)
        assert (home / "redis").is_dir()  # socket and append-only file live under $ZOORANK_HOME
        body = {"dataset": "data:shapes", "models": MODELS[:1], "scorers": ["logme", "leep"]}
        with httpx.Client(base_url=url, timeout=60) as http:
            submitted = http.post("/v1/rankings", json=body)
            assert submitted.status_code == 202, submitted.text
            deadline = time.monotonic() + 120
            while (job := http.get(submitted.headers["location"]).json())["status"] not in (
                "succeeded",
                "failed",
                "cancelled",
            ):
                assert time.monotonic() < deadline, job
                time.sleep(0.3)
            assert job["status"] == "succeeded", job
            ranking = http.get(f"/v1/rankings/{job['ranking_id']}").json()
        assert [m["id"] for m in ranking["models"]] == MODELS[:1]
        assert set(ranking["models"][0]["scores"]) == {"logme", "leep"}
    finally:
        code = stop_process(proc, timeout=30)
    assert code == 0, log.read_text()[-3000:]
    deadline = time.monotonic() + 10
    while not _gone(redis_children[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(redis_children[0]), "the private redis-server outlived zoorank serve"


def test_serve_without_redis_server_on_path_says_how_to_fix_it(tmp_path: Path) -> None:
    env = base_env(tmp_path / "home", tmp_path)
    env["PATH"] = str(tmp_path / "empty-bin")  # no redis-server anywhere
    zoorank = str(Path(sys.executable).with_name("zoorank"))
    result = subprocess.run(
        [zoorank, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "redis-server" in lines[0] and "REDIS_URL" in lines[0]
