"""A zoo manifest served over HTTP: the API and a worker process load it at start-up and rank its models."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.api.conftest import (
    API_KEY,
    API_KEY_DIGEST,
    REPO,
    base_env,
    free_port,
    stop_process,
    wait_ready,
    write_datasets,
)
from tests.support.manifest import TIMM_ID, TORCHVISION_ID, write_manifest

pytestmark = pytest.mark.slow

JOB_TIMEOUT_S = 180.0


def _uvicorn(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[str, Path]]:
    """uvicorn + one worker process, both given ``ZOORANK_ZOO_MANIFEST`` (weights saved by the test)."""
    root = tmp_path_factory.mktemp("manifest_api")
    data, logs = root / "data", root / "logs"
    data.mkdir()
    logs.mkdir()
    write_datasets(data)
    manifest = write_manifest(root / "models")
    env = base_env(root / "home", data)
    # a database of its own: the live stack's worker (no manifest) shares this server and must never
    # take this stack's messages (it would fail them: it knows no manifest entry)
    own_db = redis_url.rsplit("/", 1)[0] + "/6"
    env.update(
        {"REDIS_URL": own_db, "ZOORANK_API_KEYS": API_KEY_DIGEST, "ZOORANK_ZOO_MANIFEST": str(manifest)}
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(logs / "worker.log", "wb") as wlog:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "service.jobs.worker", "--device", "cpu"],
                    cwd=REPO,
                    env=env,
                    stdout=wlog,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            )
        port = free_port()
        procs.append(_uvicorn(port, env, logs / "api.log"))
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, procs, logs)
        yield url, manifest
    finally:
        for proc in reversed(procs):
            stop_process(proc)


def _http(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=60.0)


def test_models_lists_the_manifest_entries_with_their_origin(stack: tuple[str, Path]) -> None:
    url, manifest = stack
    with _http(url) as http:
        r = http.get("/v1/models", params={"tag": "manifest"})
        assert r.status_code == 200, r.text
        items = {m["id"]: m for m in r.json()["items"]}
        assert set(items) == {TIMM_ID, TORCHVISION_ID}
        assert items[TORCHVISION_ID]["weights"]["origin"].startswith(f"manifest {manifest} line 16: ")
        assert items[TIMM_ID]["meta"]["library"] == "timm"
        assert http.get(f"/v1/models/{TIMM_ID}").json()["feature_dim"] == 96


def test_a_timm_and_a_torchvision_manifest_entry_are_ranked_over_http(stack: tuple[str, Path]) -> None:
    url, _ = stack
    request: dict[str, Any] = {
        "dataset": "data:shapes",
        "models": [TIMM_ID, TORCHVISION_ID],
        "scorers": ["logme", "leep"],
        "sampling": {"max_per_class": 8, "seed": 0},
    }
    with _http(url) as http:
        submitted = http.post("/v1/rankings", json=request)
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        deadline = time.monotonic() + JOB_TIMEOUT_S
        job = submitted.json()
        while job["status"] not in ("succeeded", "failed", "cancelled") and time.monotonic() < deadline:
            time.sleep(0.3)
            job = http.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] == "succeeded", job
        ranking = http.get(f"/v1/rankings/{job['ranking_id']}").json()
    models = {m["id"]: m for m in ranking["models"]}
    assert set(models) == {TIMM_ID, TORCHVISION_ID}
    assert sorted(m["aggregate_rank"] for m in models.values()) == [1.0, 2.0]
    assert {m["feature_dim"] for m in models.values()} == {96, 1024}


def test_the_api_refuses_to_start_with_a_malformed_manifest(tmp_path: Path, redis_url: str) -> None:
    bad = tmp_path / "zoo.toml"
    bad.write_text('# broken\n[[models]]\nid = "a.b"\nlibrary = "timm"\n')
    env = base_env(tmp_path / "home", tmp_path)
    env.update({"REDIS_URL": redis_url, "ZOORANK_ZOO_MANIFEST": str(bad)})
    proc = _uvicorn(free_port(), env, tmp_path / "api.log")
    try:
        assert proc.wait(90) != 0
    finally:
        stop_process(proc)
    log = (tmp_path / "api.log").read_text()
    assert f"{bad}:2: entry 'a.b': " in log and "architecture: Field required" in log
