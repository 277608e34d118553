"""Contract tests of the SDK (``zoorank_client.sdk``) against a live stack: real redis-server, worker
process and uvicorn (:mod:`tests.clients.conftest`).

The Redis outage test stops and restarts the stack's redis-server (in memory, so emptied): it runs last.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from zoorank_client.sdk import (
    AsyncZoorank,
    AuthenticationError,
    Job,
    JobCancelledError,
    JobEvent,
    NotFoundError,
    PermissionDeniedError,
    Ranking,
    RateLimitError,
    ServiceUnavailableError,
    UnprocessableError,
    UnsupportedSchemaError,
    WaitTimeoutError,
    Zoorank,
)

from examples.pipeline import choose
from tests.clients.conftest import REQUESTS_PER_MINUTE, SdkStack
from tests.service.api.conftest import CLIENT_DIR, MODELS, REPO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SAMPLING = {"max_per_class": 6, "seed": 0}
WAIT_S = 180.0


@pytest.fixture()
def client(sdk_stack: SdkStack) -> Zoorank:
    return Zoorank(base_url=sdk_stack.url, api_key=sdk_stack.key)


def test_rank_returns_the_finished_ranking(client: Zoorank) -> None:
    ranking = client.rank(
        "data:shapes", models=MODELS[:2], scorers=["logme", "leep"], sampling=SAMPLING, timeout=WAIT_S
    )
    assert isinstance(ranking, Ranking)
    assert ranking.schema_version.startswith("1.")
    assert {m.id for m in ranking.models} == set(MODELS[:2])
    best = ranking.best
    assert best is not None and best.id in MODELS[:2]
    assert best.aggregate_rank == min(
        m.aggregate_rank for m in ranking.ranked if m.aggregate_rank is not None
    )
    assert [s["name"] for s in ranking.scorers] == ["logme", "leep"]


def test_events_iterate_to_done_and_jobs_page(client: Zoorank) -> None:
    job = client.rank("data:shapes", models=MODELS[:1], scorers=["logme"], sampling={"seed": 1}, wait=False)
    assert isinstance(job, Job)
    events = list(client.jobs.events(job.id))
    assert events and all(isinstance(e, JobEvent) for e in events)
    assert events[-1].event == "done"
    assert all(e.id for e in events)
    # resuming after the first event replays exactly the rest
    if len(events) > 1:
        rest = list(client.jobs.events(job.id, last_event_id=events[0].id))
        assert [e.id for e in rest] == [e.id for e in events[1:]]
    finished = client.jobs.wait(job.id, timeout=WAIT_S)
    assert finished.status == "succeeded" and finished.ranking_id
    listed = [j.id for j in client.jobs.list(page_size=1)]
    assert job.id in listed and len(listed) == len(set(listed)) >= 2


def test_each_server_error_is_a_typed_exception(sdk_stack: SdkStack, client: Zoorank) -> None:
    with pytest.raises(AuthenticationError) as auth:
        Zoorank(base_url=sdk_stack.url, api_key="not-a-key").scorers.list()
    assert auth.value.status == 401 and auth.value.code == "unauthorized"
    with pytest.raises(NotFoundError) as missing:
        client.jobs.get("no-such-job")
    assert missing.value.status == 404 and missing.value.code == "not-found"
    with pytest.raises(UnprocessableError) as unknown:
        client.rank("data:shapes", models=["no.such.model"], scorers=["logme"])
    assert unknown.value.status == 422 and unknown.value.code == "unknown-model"
    assert unknown.value.param == "/models/0"  # a JSON pointer into the request body
    with pytest.raises(PermissionDeniedError) as outside:
        client.datasets.inspect("/etc")
    assert outside.value.status == 403 and outside.value.code == "path-not-allowed"
    assert outside.value.detail and outside.value.title and outside.value.param == "/dataset"


def test_wait_timeout_and_cancellation_are_typed(client: Zoorank) -> None:
    with pytest.raises(WaitTimeoutError) as slow:
        client.rank("data:shapes", models=MODELS[2:3], scorers=["logme"], sampling={"seed": 7}, timeout=0.0)
    job_id = slow.value.job_id
    cancelled = client.jobs.cancel(job_id)
    assert cancelled.id == job_id
    try:
        finished = client.jobs.wait(job_id, timeout=WAIT_S)
    except JobCancelledError as exc:
        assert exc.job.status == "cancelled" and exc.job.id == job_id
    else:  # it had finished before the cancel arrived
        assert finished.status == "succeeded"


class DropFirstPostAnswer(httpx.HTTPTransport):
    """A network that loses the first answer to a POST after the server has handled it (the client sees
    a read error); records every POST's ``Idempotency-Key`` and ``Idempotent-Replayed``."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[tuple[str | None, str | None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method != "POST":
            return response
        response.read()
        self.posts.append(
            (request.headers.get("idempotency-key"), response.headers.get("idempotent-replayed"))
        )
        if len(self.posts) == 1:
            response.close()
            raise httpx.ReadError("connection reset after the server answered", request=request)
        return response


def test_a_retried_post_starts_one_job(sdk_stack: SdkStack) -> None:
    network = DropFirstPostAnswer()
    client = Zoorank(
        base_url=sdk_stack.url, api_key=sdk_stack.key, http_client=httpx.Client(transport=network)
    )
    job = client.jobs.create("data:shapes", models=MODELS[1:2], scorers=["leep"], sampling={"seed": 2})
    assert len(network.posts) == 2
    (key1, replayed1), (key2, replayed2) = network.posts
    assert key1 and key1 == key2  # the same Idempotency-Key on the retry
    assert replayed1 is None and replayed2 == "true"  # the server replayed the first answer: no new job
    matching = [j for j in client.jobs.list() if j["request"].get("sampling", {}).get("seed") == 2]
    assert [j.id for j in matching] == [job.id]


def test_new_schema_minor_and_unknown_fields_load(client: Zoorank) -> None:
    ranking = client.rank("data:shapes", models=MODELS[:2], scorers=["logme", "leep"], sampling=SAMPLING)
    doc: dict[str, Any] = ranking.to_dict()
    doc["schema_version"] = "1.2"
    doc["recommendation"] = {"model": ranking.models[0].id, "confidence": "clear"}
    doc["added_later"] = {"anything": [1, 2]}
    doc["models"][0]["new_field"] = 3.5
    newer = Ranking.from_dict(doc)
    assert newer.schema_version == "1.2"
    assert newer["added_later"] == {"anything": [1, 2]} and newer.to_dict() == doc
    assert newer.models[0]["new_field"] == 3.5
    assert newer.recommendation == {"model": ranking.models[0].id, "confidence": "clear"}
    assert newer.best is not None and newer.best.id == ranking.best.id if ranking.best else True
    with pytest.raises(UnsupportedSchemaError):
        Ranking.from_dict({**doc, "schema_version": "2.0"})


def test_retry_after_is_honoured_on_429(sdk_stack: SdkStack) -> None:
    with httpx.Client(base_url=sdk_stack.url, headers={"X-API-Key": sdk_stack.limited_key}) as http:
        statuses = [http.get("/v1/scorers").status_code for _ in range(REQUESTS_PER_MINUTE + 1)]
    assert statuses[-1] == 429
    no_retry = Zoorank(base_url=sdk_stack.url, api_key=sdk_stack.limited_key, max_retries=0)
    with pytest.raises(RateLimitError) as limited:
        no_retry.scorers.list()
    retry_after = limited.value.retry_after
    assert retry_after is not None and 0 < retry_after <= 60
    assert limited.value.code == "rate-limited" and limited.value.status == 429
    # The quota stays exhausted until the window the server named ends: only a client that waits out
    # Retry-After (rather than its own sub-second backoff, 3 tries well inside a window) succeeds.
    patient = Zoorank(base_url=sdk_stack.url, api_key=sdk_stack.limited_key, max_retries=2)
    assert patient.scorers.list()


def test_async_client_mirrors_the_sync_one(sdk_stack: SdkStack) -> None:
    async def run() -> tuple[Ranking, list[str], list[str]]:
        async with AsyncZoorank(base_url=sdk_stack.url, api_key=sdk_stack.key) as client:
            ranking = await client.rank(
                "data:shapes", models=MODELS[:2], scorers=["logme", "leep"], sampling=SAMPLING, timeout=WAIT_S
            )
            jobs = [j.id async for j in client.jobs.list(page_size=2)]
            events = [e.event async for e in client.jobs.events(jobs[0])]
            with pytest.raises(NotFoundError):
                await client.models.get("no.such.model")
            return ranking, jobs, events

    ranking, jobs, events = asyncio.run(run())
    assert ranking.best is not None and ranking.best.id in MODELS[:2]
    assert len(jobs) >= 2 and events[-1] == "done"


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def test_the_client_readme_runs_as_written(sdk_stack: SdkStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOORANK_URL", sdk_stack.url)
    monkeypatch.setenv("ZOORANK_API_KEY", sdk_stack.key)
    blocks = _python_blocks((CLIENT_DIR / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 4
    scope: dict[str, Any] = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, "clients/python/README.md", "exec"), scope)
    assert isinstance(scope["ranking"], Ranking) and scope["job"].status == "succeeded"


def test_the_pipeline_example_hands_on_the_chosen_model(sdk_stack: SdkStack, tmp_path: Path) -> None:
    env = {**os.environ, "ZOORANK_URL": sdk_stack.url, "ZOORANK_API_KEY": sdk_stack.key}
    env["PYTHONPATH"] = os.pathsep.join([str(CLIENT_DIR), str(REPO)])
    out = tmp_path / "chosen.json"
    args = ["data:shapes", "--models", *MODELS[:2], "--scorers", "logme", "--max-per-class", "6"]
    run = subprocess.run(
        [sys.executable, str(REPO / "examples" / "pipeline.py"), *args, "--output", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=WAIT_S,
        check=False,
    )
    choice = json.loads(out.read_text(encoding="utf-8"))
    ranking = Zoorank(base_url=sdk_stack.url, api_key=sdk_stack.key).rank(
        "data:shapes", models=MODELS[:2], scorers=["logme"], sampling={"seed": 0, "max_per_class": 6}
    )
    expected, _ = choose(ranking)
    assert choice["model"] == expected
    if expected is None:
        assert run.returncode == 2 and "no clear winner" in run.stderr
    else:
        assert run.returncode == 0 and run.stdout.strip() == expected, run.stderr
    # a refused request fails the step with the reason
    bad = subprocess.run(
        [sys.executable, str(REPO / "examples" / "pipeline.py"), "data:missing", "--models", MODELS[0]],
        capture_output=True,
        text=True,
        env=env,
        timeout=WAIT_S,
        check=False,
    )
    assert bad.returncode == 1 and "dataset-not-found" not in bad.stdout and "422" in bad.stderr


def test_a_redis_outage_is_retried_through(sdk_stack: SdkStack, client: Zoorank) -> None:
    """Runs last: the restarted redis-server is empty."""
    sdk_stack.stop_redis()
    try:
        with pytest.raises(ServiceUnavailableError) as down:
            client.with_options(max_retries=0).scorers.list()
        assert down.value.status == 503 and down.value.retry_after is not None
        # the call runs on a thread; redis-server is restarted from this one (it dies with the thread
        # that started it)
        with ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            call = pool.submit(client.with_options(max_retries=4).scorers.list)
            time.sleep(2.0)
            assert not call.done()
            sdk_stack.restart_redis()
            scorers = call.result()
        assert {s.name for s in scorers} >= {"logme", "leep"}
        assert time.monotonic() - started >= 2.0  # it answered only once Redis was back
    finally:
        if not sdk_stack.redis.alive():
            sdk_stack.restart_redis()
