"""The reconcile's rules on a real Redis where no worker listens: what counts as a part nothing will run,
and the election that lets one process of many run each turn."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import cast

import pytest
from redis import Redis

from service.jobs import keys
from service.jobs.engine import JobEngine
from service.jobs.reconcile import Reconciler
from service.pipeline.extract import ExtractionRecord
from service.settings import Settings
from tests.service.jobs.test_engine import MODELS, request


@pytest.fixture
def engine(service_settings: Settings, redis_client: Redis) -> Iterator[JobEngine]:
    """An engine on database 5 of the test Redis, where no worker listens: jobs stay queued."""
    url = str(service_settings.redis_url).rsplit("/", 1)[0] + "/5"
    client = Redis.from_url(url)
    client.flushdb()
    yield JobEngine(service_settings.with_overrides(redis_url=url, reconcile_interval_s=60), client)
    client.close()


def lose_messages(engine: JobEngine) -> None:
    """What a Redis crash can leave: the job's state without its messages."""
    for queue in ("extract", "score"):
        engine.redis.delete(keys.broker_queue(queue), keys.broker_messages(queue))


def beat(engine: JobEngine, worker_id: str, part: list[str], age_ms: int = 0) -> None:
    engine.redis.zadd(keys.workers(), {worker_id: int(time.time() * 1000) - age_ms})
    engine.redis.hset(keys.worker(worker_id), mapping={"part": json.dumps(part)})


def test_a_part_with_a_message_anywhere_is_left_alone(engine: JobEngine) -> None:
    view, _ = engine.submit(request(seed=80, scorers=["logme"]))
    assert {p[0] for p in engine.queued_parts()} == {"extract"}
    assert engine.reconcile(idle_s=0) == []  # every part still has its message
    lose_messages(engine)
    assert engine.queued_parts() == set()
    assert engine.reconcile(idle_s=0) == [view.id]
    # the models share a preprocessing config: one group message, as at submission
    assert engine.queued_parts() == {("extract", view.id, *MODELS)}
    assert engine.reconcile(idle_s=0) == []  # re-sent once: the new messages account for the parts


def test_a_part_a_live_worker_runs_is_left_alone_a_frozen_workers_part_is_resent(
    engine: JobEngine,
) -> None:
    view, _ = engine.submit(request(seed=81, scorers=["logme"]))
    lose_messages(engine)
    first, second = MODELS
    beat(engine, "live-worker", ["extract", view.id, first])
    stale = engine.settings.heartbeat_timeout_ms + 1000
    beat(engine, "frozen-worker", ["extract", view.id, second], age_ms=stale)
    assert engine.running_parts() == {("extract", view.id, first)}
    assert engine.reconcile(idle_s=0) == [view.id]
    assert engine.queued_parts() == {("extract", view.id, second)}


def test_a_job_active_within_the_idle_threshold_is_left_alone(engine: JobEngine) -> None:
    engine.submit(request(seed=82, scorers=["logme"]))
    lose_messages(engine)
    assert engine.reconcile(idle_s=600) == []


def test_one_process_of_many_runs_each_turn(engine: JobEngine) -> None:
    view, _ = engine.submit(request(seed=83, scorers=["logme"]))
    lose_messages(engine)
    engine.redis.delete(keys.reconciler())
    engine.settings = engine.settings.with_overrides(reconcile_idle_s=0)
    turns = [Reconciler(engine, name=f"p{i}").run_once() for i in range(4)]
    assert turns[0] == [view.id] and turns[1:] == [None, None, None]
    assert engine.redis.get(keys.reconciler()) == b"p0"
    assert 0 < int(cast(int, engine.redis.pttl(keys.reconciler()))) <= 60_000


def test_a_stranded_group_is_resent_as_one_message_of_its_unfinished_models(engine: JobEngine) -> None:
    group = ["cnn4.fashion_mnist", "resnet8.glyphs", "mobilenet_tiny.emoji"]
    view, _ = engine.submit(request(seed=84, models=[*group, "digit_cnn.mnist"], scorers=["logme"]))
    assert engine.queued_parts() == {("extract", view.id, *group), ("extract", view.id, "digit_cnn.mnist")}
    lose_messages(engine)
    # the first model was extracted before the crash (its record is on the job), the others were not
    record = ExtractionRecord(group[0], "0" * 64, False, 0.1, None, (), None, 8, False, False)
    engine.redis.hset(keys.job_records(view.id), group[0], json.dumps(record.to_dict()))
    assert engine.reconcile(idle_s=0) == [view.id]
    assert engine.queued_parts() == {
        ("score", view.id, group[0]),
        ("extract", view.id, *group[1:]),
        ("extract", view.id, "digit_cnn.mnist"),
    }
    limits = {
        tuple(m["args"][1:]): m["options"].get("time_limit")
        for m in map(json.loads, cast(list[bytes], engine.redis.hvals(keys.broker_messages("extract"))))
    }
    assert limits == {
        tuple(group[1:]): 2 * engine.settings.extract_time_limit_s * 1000,
        ("digit_cnn.mnist",): None,
    }
    assert engine.reconcile(idle_s=0) == []  # idempotent: the group message accounts for its models

    # a live worker running the group accounts for every model it names
    lose_messages(engine)
    beat(engine, "live-worker", ["extract", view.id, *group[1:]])
    assert engine.reconcile(idle_s=0) == [view.id]
    assert engine.queued_parts() == {("score", view.id, group[0]), ("extract", view.id, "digit_cnn.mnist")}
