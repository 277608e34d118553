"""Fault drills with real processes: a redis-server with an append-only file SIGKILLed and restarted in the
middle of an extraction, a worker frozen (SIGSTOP) past its heartbeat timeout and then resumed, and 20
concurrent jobs while workers are SIGKILLed in a loop and Redis is killed twice.

Nothing but the faulted process is restarted: the periodic reconcile that runs inside the worker processes
(:mod:`service.jobs.reconcile`) is what brings a stranded job home. Each drill has its own redis-server (the
session's is in memory and shared) and runs for well under a minute on a loaded machine.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from service.jobs import keys
from service.jobs.engine import JobEngine
from service.jobs.models import JobStatus, JobView
from service.jobs.redis_server import RedisServer, free_port, start_redis_server
from service.pipeline.run import rank
from service.settings import Settings
from tests.service.jobs.test_engine import attempts, plugin_entries, request, slow  # noqa: F401 (a fixture)
from tests.support.service import WorkerFactory, WorkerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: The drills' promise: a job stranded by a fault succeeds within this long after the fault ends.
RECOVERY_S = 60.0
PLUGIN = ("tests.support.zoo_plugin",)


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server with an append-only file (``appendfsync everysec``) of this test alone."""
    server = start_redis_server(directory=tmp_path / "redis", port=free_port(), persistent=True)
    yield server
    server.stop()


def drill_settings(service_settings: Settings, url: str) -> Settings:
    """The test settings on ``url``, with a reconcile every 2 s of jobs idle for 3 s."""
    return service_settings.with_overrides(redis_url=url, reconcile_interval_s=2, reconcile_idle_s=3)


def poll(engine: JobEngine, job_id: str, until: Any, timeout: float) -> JobView:
    """``engine.get(job_id)`` until ``until(view)``; Redis errors while it restarts are waited out."""
    deadline = time.monotonic() + timeout
    last: JobView | None = None
    while time.monotonic() < deadline:
        try:
            last = engine.get(job_id)
            if until(last):
                return last
        except RedisConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s; last view: {last and last.model_dump_json()}")


def extracting(view: JobView) -> bool:
    return view.progress.models[0].status == "extracting" and view.progress.models[0].done > 0


def assert_one_result_per_part(client: Redis, engine: JobEngine, job_id: str) -> None:
    """The job succeeded once: one done event, one finalise, one row per model, no errors."""
    view = engine.get(job_id)
    assert view.status == JobStatus.succeeded, view.errors
    assert not view.errors
    assert attempts(client, job_id, "finalise") == 1
    ranking = json.loads(engine.ranking_json(job_id))
    ids = [m["id"] for m in ranking["models"]]
    assert sorted(ids) == sorted(set(ids)) == sorted(engine.models(job_id))
    events = cast(list[Any], client.xrange(keys.job_events(job_id)))
    done = [e for e in events if e[1].get(b"event") == b"done"]
    assert len(done) == 1


def test_redis_sigkilled_mid_extraction_and_restarted_the_job_succeeds(
    aof_redis: RedisServer,
    service_settings: Settings,
    start_worker: WorkerFactory,
    plugin_entries: None,  # noqa: F811 (the imported fixture)
) -> None:
    settings = drill_settings(service_settings, aof_redis.url)
    start_worker(1, settings=settings, imports=PLUGIN)
    client = Redis.from_url(aof_redis.url)
    engine = JobEngine(settings, client)
    view, _ = engine.submit(slow(70, ["logme"]))
    poll(engine, view.id, extracting, timeout=90)
    time.sleep(1.2)  # past one appendfsync: the job and its message are on disk, the part still runs

    os.kill(aof_redis.pid, signal.SIGKILL)
    aof_redis.process.wait(10)
    time.sleep(2.0)  # the worker's progress writes (and its retry) fail while Redis is away
    port = int(aof_redis.url.rsplit(":", 1)[1].split("/")[0])
    restarted = start_redis_server(directory=aof_redis.directory, port=port, persistent=True)
    try:
        done = poll(engine, view.id, lambda v: v.status.terminal, timeout=RECOVERY_S)
        assert done.status == JobStatus.succeeded, done.errors
        time.sleep(3)  # a late duplicate would land now
        assert_one_result_per_part(client, engine, view.id)
    finally:
        client.close()
        restarted.stop()


def test_a_worker_frozen_past_its_heartbeat_then_resumed_leaves_no_duplicate_and_no_stuck_job(
    aof_redis: RedisServer,
    service_settings: Settings,
    start_worker: WorkerFactory,
    plugin_entries: None,  # noqa: F811 (the imported fixture)
) -> None:
    settings = drill_settings(service_settings, aof_redis.url)
    workers = start_worker(2, settings=settings, imports=PLUGIN)
    client = Redis.from_url(aof_redis.url)
    engine = JobEngine(settings, client)
    view, _ = engine.submit(slow(71, ["logme", "leep"]))
    poll(engine, view.id, extracting, timeout=90)
    entry = json.loads(cast(Any, client.hget(keys.job_models(view.id), "slowtest.cnn4")) or b"{}")
    frozen = next(w for w in workers if w.worker_id == entry["worker"])
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        # frozen for 3 heartbeat timeouts: its message goes back to the queue, the other worker runs it
        time.sleep(3 * settings.heartbeat_timeout_ms / 1000)
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
    try:
        done = poll(engine, view.id, lambda v: v.status.terminal, timeout=RECOVERY_S)
        assert done.status == JobStatus.succeeded, done.errors
        # the resumed worker finishes its copy of the part: it must not add a second result
        poll(engine, view.id, lambda v: v.status.terminal, timeout=5)
        time.sleep(4)
        assert_one_result_per_part(client, engine, view.id)
        assert attempts(client, view.id, "extract:slowtest.cnn4") == 2
        assert frozen.process.poll() is None  # it survived and goes on consuming
    finally:
        client.close()


def restart_redis(server: RedisServer) -> RedisServer:
    """SIGKILL ``server`` and start a new redis-server on its port and append-only file."""
    os.kill(server.pid, signal.SIGKILL)
    server.process.wait(10)
    time.sleep(1.0)  # clients see it gone: writes and acks fail meanwhile
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    return start_redis_server(directory=server.directory, port=port, persistent=True)


class WorkerKiller(threading.Thread):
    """SIGKILLs the oldest live worker every ``period_s`` and starts a replacement, ``kills`` times."""

    def __init__(
        self, start_worker: WorkerFactory, settings: Settings, workers: list[WorkerProcess], kills: int
    ) -> None:
        super().__init__(daemon=True)
        self.start_worker, self.settings, self.workers = start_worker, settings, workers
        self.kills, self.killed = kills, 0
        self.period_s = 2.5
        self.stopped = threading.Event()

    def run(self) -> None:
        while self.killed < self.kills and not self.stopped.wait(self.period_s):
            victim = self.workers.pop(0)
            os.kill(victim.pid, signal.SIGKILL)
            victim.process.wait(10)
            self.killed += 1
            while not self.stopped.is_set():
                try:  # a replacement that starts while Redis is away may exit: start another
                    self.workers += self.start_worker(1, settings=self.settings, imports=PLUGIN)
                    break
                except RuntimeError:
                    time.sleep(0.5)


def comparable(ranking: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, dict[str, float]]]]:
    """The ranking without what differs between runs (creation time, wall times, cache flags, the
    certainty's wall-time budget), and its scores apart (compared within a tolerance)."""
    doc: dict[str, Any] = json.loads(json.dumps(ranking))
    doc["provenance"].pop("created_at")
    scores = []
    for m in doc["models"]:
        m.pop("extraction_seconds")
        m.pop("cached")
        scores.append((m["id"], m.pop("scores")))
    rec = doc.pop("recommendation")
    doc["recommended"] = (rec["model"], rec["runner_up"], rec["margin"])
    return doc, scores


def test_twenty_jobs_through_worker_kills_and_two_redis_crashes_all_succeed_as_ranked_in_process(
    aof_redis: RedisServer,
    service_settings: Settings,
    start_worker: WorkerFactory,
    plugin_entries: None,  # noqa: F811 (the imported fixture)
) -> None:
    settings = drill_settings(service_settings, aof_redis.url)
    workers = start_worker(2, settings=settings, imports=PLUGIN)
    client = Redis.from_url(aof_redis.url)
    engine = JobEngine(settings, client)
    # 20 separate jobs, each its own seed (so its own sample, features and fingerprint); half of them
    # extract the slow model (1.8 s for 9 images), so the faults land while most jobs are unfinished
    model_sets = [
        ["slowtest.cnn4"],
        ["cnn4.fashion_mnist"],
        ["slowtest.cnn4", "resnet8.glyphs"],
        ["resnet8.glyphs", "cnn4.fashion_mnist"],
    ]
    cases = [(300 + i, model_sets[i % 4]) for i in range(20)]
    ids = [
        engine.submit(request(seed, models, per_class=3, scorers=["logme"]))[0].id for seed, models in cases
    ]
    assert len(set(ids)) == 20
    time.sleep(1.2)  # past one appendfsync: the jobs and their messages are on disk
    killer = WorkerKiller(start_worker, settings, workers, kills=6)
    killer.start()
    server = aof_redis
    try:
        unfinished = sum(not engine.get(i).status.terminal for i in ids)
        server = restart_redis(server)
        # the second crash once the first has been recovered from: some jobs have ended since
        deadline = time.monotonic() + 60
        ended = 0
        while ended < 5 and time.monotonic() < deadline:
            time.sleep(0.5)
            with contextlib.suppress(RedisConnectionError):
                ended = sum(engine.get(i).status.terminal for i in ids)
        assert unfinished > 0 and ended < 20, "the jobs ran faster than the drill: make them slower"
        server = restart_redis(server)
        views = [poll(engine, i, lambda v: v.status.terminal, timeout=2 * RECOVERY_S) for i in ids]
        killer.stopped.set()
        killer.join(90)
        assert killer.killed >= 1
        assert [v.status for v in views] == [JobStatus.succeeded] * 20, [v.errors for v in views]
        for job_id, (seed, models) in zip(ids, cases, strict=True):
            served, served_scores = comparable(json.loads(engine.ranking_json(job_id)))
            local, local_scores = comparable(
                json.loads(
                    rank(
                        "data:shapes",
                        models=models,
                        scorers=["logme"],
                        max_per_class=3,
                        seed=seed,
                        settings=settings,
                    ).to_json()
                )
            )
            assert served == local, job_id
            # Both from the same stored float32 features by the same code: only BLAS reduction order
            # (thread counts differ between a worker and this process) can move the last bits.
            assert [i for i, _ in served_scores] == [i for i, _ in local_scores]
            for (_, a), (_, b) in zip(served_scores, local_scores, strict=True):
                assert a.keys() == b.keys()
                assert all(math.isclose(a[k], b[k], rel_tol=1e-6, abs_tol=1e-9) for k in a), job_id
    finally:
        killer.stopped.set()
        client.close()
        server.stop()
