"""Extract groups: the uncached models of a job that share a preprocessing config go to the ``extract`` queue
as one message, and the worker decodes each image once for all of them.

Real redis-server, real ``zoorank worker`` processes, real zoo models; the queue is observed in Redis (the
broker's message hashes), and redeliveries are the actor function called again, as a worker would run a
message the broker handed out twice.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest
from redis import Redis

from service.jobs import keys
from service.jobs.broker import make_broker
from service.jobs.engine import JobEngine
from service.jobs.handlers import Actors, Runtime, declare_actors
from service.jobs.models import JobStatus
from service.jobs.request import RankingRequest, Sampling
from service.pipeline.run import rank
from service.settings import Settings
from tests.service.jobs.test_engine import (  # noqa: F401 (fixtures)
    attempts,
    extractions,
    finished,
    plugin_entries,
    worker,
)
from tests.service.pipeline.test_extract import _count_decodes as count_decodes
from tests.support.service import WorkerProcess

#: Three models with the same preprocessing config (32 px, mean/std 0.5) and one with its own (28 px grey).
GROUP = ["cnn4.fashion_mnist", "resnet8.glyphs", "mobilenet_tiny.emoji"]
LONE = "digit_cnn.mnist"


def request(seed: int, models: list[str], scorers: list[str] | None = None) -> RankingRequest:
    return RankingRequest(
        dataset="data:shapes",
        models=models,
        scorers=scorers or ["logme", "leep"],
        sampling=Sampling(max_per_class=4, seed=seed),
    )


def own_database(service_settings: Settings, db: int, **overrides: Any) -> tuple[Settings, Redis]:
    """Settings and a client on database ``db`` of the test Redis, emptied: no worker listens there."""
    url = str(service_settings.redis_url).rsplit("/", 1)[0] + f"/{db}"
    client = Redis.from_url(url)
    client.flushdb()
    return service_settings.with_overrides(redis_url=url, **overrides), client


@pytest.fixture
def idle(service_settings: Settings) -> Iterator[JobEngine]:
    """An engine on database 8, where no worker listens: its messages stay in the queue to be read."""
    settings, client = own_database(service_settings, 8)
    yield JobEngine(settings, client)
    client.close()


def extract_messages(engine: JobEngine) -> list[dict[str, Any]]:
    """The ``extract`` messages the broker holds (waiting or delayed), as Dramatiq stores them."""
    out = []
    for name in ("extract", "extract.DQ"):
        for raw in cast(list[Any], engine.redis.hvals(keys.broker_messages(name))):
            out.append(json.loads(raw))
    return out


def score_messages(client: Redis) -> list[tuple[str, ...]]:
    raw = cast(list[Any], client.hvals(keys.broker_queue("score") + ".msgs"))
    return [tuple(str(a) for a in m["args"]) for m in map(json.loads, raw) if m["actor_name"] == "score"]


def test_models_that_share_a_preprocessing_config_go_in_one_extract_message(idle: JobEngine) -> None:
    view, _ = idle.submit(request(seed=101, models=[GROUP[0], LONE, *GROUP[1:]]))
    messages = extract_messages(idle)
    assert sorted(tuple(m["args"]) for m in messages) == sorted([(view.id, *GROUP), (view.id, LONE)])
    assert idle.queue_depths()["extract"] == 2
    limits = {len(m["args"]) - 1: m["options"].get("time_limit") for m in messages}
    # a group of n models has n times the limit of one extraction; a lone model keeps the actor's own
    assert limits == {3: 3 * idle.settings.extract_time_limit_s * 1000, 1: None}


def test_a_group_is_split_at_the_group_size_limit(idle: JobEngine) -> None:
    small = JobEngine(idle.settings.with_overrides(extract_group_size=2), idle.redis)
    view, _ = small.submit(request(seed=102, models=GROUP))
    assert sorted(tuple(m["args"]) for m in extract_messages(small)) == [
        (view.id, *GROUP[:2]),
        (view.id, GROUP[2]),
    ]


def normalised(doc: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, dict[str, float]]]]:
    """The ranking without wall times, store-hit flags and creation time, and its scores apart."""
    doc["provenance"].pop("created_at")
    for m in doc["models"]:
        m.pop("extraction_seconds")
        m.pop("cached")
    # the certainty is budgeted against wall times (which refits fit): its decision is what must agree
    rec = doc.pop("recommendation")
    doc["recommended"] = (rec["model"], rec["runner_up"], rec["margin"])
    return doc, [(m["id"], m.pop("scores")) for m in doc["models"]]


def test_a_group_job_fails_only_its_model_with_corrupt_weights_and_equals_the_in_process_ranking(
    worker: WorkerProcess,  # noqa: F811 (the imported fixture)
    service_settings: Settings,
    redis_client: Redis,
) -> None:
    engine = JobEngine(service_settings, redis_client)
    models = ["corrupttest.cnn4", *GROUP]
    before = extractions(engine)
    view, _ = engine.submit(request(seed=103, models=models))
    done = finished(engine, view.id)
    assert done.status == JobStatus.succeeded, done.errors
    by_id = {m.id: m for m in done.progress.models}
    assert by_id["corrupttest.cnn4"].status == "failed"
    assert by_id["corrupttest.cnn4"].error is not None
    assert by_id["corrupttest.cnn4"].error.code == "weights-integrity"
    assert [by_id[m].status for m in GROUP] == ["done"] * 3
    # one extraction started per model, once (the corrupt model's stops at its weights check)
    assert extractions(engine) - before == len(models)
    for model in models:  # the one group message, run once
        assert attempts(redis_client, view.id, f"extract:{model}") == 1

    served, served_scores = normalised(json.loads(engine.ranking_json(view.id)))
    local, local_scores = normalised(
        json.loads(
            rank(
                "data:shapes",
                models=models,
                scorers=["logme", "leep"],
                max_per_class=4,
                seed=103,
                settings=service_settings,
            ).to_json()
        )
    )
    assert served == local
    # Both computed from the same stored float32 features by the same code; only BLAS reduction order
    # (thread counts differ between the worker and this process) can move the last bits.
    assert [i for i, _ in served_scores] == [i for i, _ in local_scores]
    for (_, a), (_, b) in zip(served_scores, local_scores, strict=True):
        assert a.keys() == b.keys()
        assert all(math.isclose(a[k], b[k], rel_tol=1e-6, abs_tol=1e-9) for k in a)


@pytest.fixture
def direct(service_settings: Settings) -> Iterator[tuple[JobEngine, Actors]]:
    """An engine on database 9 (no worker listens) and actors whose functions this test calls itself."""
    settings, client = own_database(service_settings, 9)
    runtime = Runtime(settings)
    yield (
        JobEngine(settings, client),
        declare_actors(make_broker(settings), settings, runtime_factory=lambda: runtime),
    )
    client.close()


def test_a_redelivered_group_message_does_no_double_work(
    direct: tuple[JobEngine, Actors], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, actors = direct
    view, _ = engine.submit(request(seed=104, models=GROUP))
    ((args),) = [tuple(m["args"]) for m in extract_messages(engine)]
    assert args == (view.id, *GROUP)

    decoded = count_decodes(monkeypatch)
    actors.extract.fn(*args)
    # each sampled image decoded once for the three models (decoding runs inline: workers=0)
    sampled = engine.get(view.id).progress.models[0].total
    assert sampled > 0 and sorted(decoded) == list(range(sampled))
    assert extractions(engine) == len(GROUP)
    assert engine.redis.hlen(keys.job_records(view.id)) == len(GROUP)
    assert sorted(score_messages(engine.redis)) == sorted((view.id, m) for m in GROUP)
    views = {m.id: m for m in engine.get(view.id).progress.models}
    assert all(views[m].status == "extracted" and views[m].done == views[m].total > 0 for m in GROUP)
    records = cast(dict[Any, Any], engine.redis.hgetall(keys.job_records(view.id)))

    # delivered again, once after the other and twice at the same time: nothing is extracted or sent twice
    actors.extract.fn(*args)
    threads = [threading.Thread(target=actors.extract.fn, args=args) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert extractions(engine) == len(GROUP) and len(decoded) == sampled  # store hits: nothing decoded
    assert engine.redis.hgetall(keys.job_records(view.id)) == records
    assert sorted(score_messages(engine.redis)) == sorted((view.id, m) for m in GROUP)

    # a model whose part is done is skipped outright: no attempt counted for it
    actors.score.fn(view.id, GROUP[0])
    assert engine.redis.sismember(keys.job_done(view.id), GROUP[0])
    counted = attempts(engine.redis, view.id, f"extract:{GROUP[0]}")
    actors.extract.fn(*args)
    assert attempts(engine.redis, view.id, f"extract:{GROUP[0]}") == counted


def test_a_group_redelivered_after_a_delivery_stopped_midway_extracts_only_the_rest(
    direct: tuple[JobEngine, Actors],
) -> None:
    engine, actors = direct
    view, _ = engine.submit(request(seed=105, models=GROUP))
    # a first delivery got as far as the first model (its record written and handed on), then died
    actors.extract.fn(view.id, GROUP[0])
    assert extractions(engine) == 1 and score_messages(engine.redis) == [(view.id, GROUP[0])]
    # ... and a second stopped between the record of the second model and handing it on: its score
    # message and status as if never written (the first model's score message is dropped with them)
    actors.extract.fn(view.id, GROUP[1])
    engine.redis.delete(keys.broker_queue("score"), keys.broker_queue("score") + ".msgs")
    engine.redis.hset(
        keys.job_models(view.id),
        GROUP[1],
        json.dumps({"id": GROUP[1], "status": "extracting", "done": 0, "total": 0}),
    )
    assert extractions(engine) == 2
    actors.extract.fn(view.id, *GROUP)
    assert extractions(engine) == 3  # only the third model ran a forward pass
    # the second model is handed on now; the first, handed on before, is not sent again
    assert sorted(score_messages(engine.redis)) == sorted([(view.id, GROUP[1]), (view.id, GROUP[2])])
