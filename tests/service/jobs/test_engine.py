"""The job engine end to end: real redis-server, real ``zoorank worker`` processes, real (small) zoo models.

Every test submits through :class:`service.jobs.engine.JobEngine` (what the HTTP API calls) and waits for the
workers. Extractions are counted with the engine's ``extractions`` counter, which the worker increments
only when a forward pass really runs (not for feature-store hits).
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from redis import Redis

from service.jobs import keys
from service.jobs.engine import JobEngine
from service.jobs.models import JobStatus, JobView
from service.jobs.request import RankingRequest, Sampling
from service.jobs.store import JobStore
from service.settings import Settings
from tests.support.service import WorkerFactory, WorkerProcess, start_worker_process, write_image_folder

MODELS = ["cnn4.fashion_mnist", "resnet8.glyphs"]
SCORERS = ["logme", "leep", "etran"]


@pytest.fixture(scope="module")
def plugin_entries() -> Iterator[None]:
    """Register the test entries (slow, boom) in this process for the module; removed afterwards."""
    from tests.support.zoo_plugin_entries import entries
    from zoo._api import ENTRIES

    with pytest.MonkeyPatch.context() as mp:
        for entry in entries():
            mp.setitem(ENTRIES._items, entry.id, entry)
        yield


@pytest.fixture(scope="module")
def worker(service_settings: Settings, plugin_entries: None) -> Iterator[WorkerProcess]:
    """One ``zoorank worker`` for the module (it survives the per-test FLUSHALL), with the test entries."""
    proc = start_worker_process(service_settings, imports=("tests.support.zoo_plugin",))
    yield proc
    proc.stop()


@pytest.fixture
def engine(service_settings: Settings, redis_client: Redis) -> JobEngine:
    return JobEngine(service_settings, redis_client)


@pytest.fixture
def idle_engine(service_settings: Settings, redis_client: Redis) -> Iterator[JobEngine]:
    """An engine on database 1 of the test Redis, where no worker listens: jobs stay queued."""
    url = str(service_settings.redis_url).rsplit("/", 1)[0] + "/1"
    client = Redis.from_url(url)
    client.flushdb()
    yield JobEngine(service_settings.with_overrides(redis_url=url), client)
    client.close()


def wait(engine: JobEngine, job_id: str, until: Callable[[JobView], bool], timeout: float = 90.0) -> JobView:
    deadline = time.monotonic() + timeout
    while True:
        view = engine.get(job_id)
        if until(view):
            return view
        assert time.monotonic() < deadline, f"timed out waiting; last view: {view.model_dump_json()}"
        time.sleep(0.1)


def finished(engine: JobEngine, job_id: str, timeout: float = 90.0) -> JobView:
    return wait(engine, job_id, lambda v: v.status.terminal, timeout)


def request(seed: int, models: list[str] | None = None, per_class: int = 5, **kwargs: Any) -> RankingRequest:
    """A request on the shared dataset; tests use their own seed so that their features are fresh."""
    return RankingRequest(
        dataset="data:shapes",
        models=models or MODELS,
        scorers=kwargs.pop("scorers", SCORERS),
        sampling=Sampling(max_per_class=per_class, seed=seed),
        **kwargs,
    )


def slow(seed: int, scorers: list[str]) -> RankingRequest:
    """A request whose one extraction takes 5 batches x SLOW_BATCH_SECONDS (18 images, batches of 4), so
    that a test can reliably act while it runs, even on a loaded machine."""
    return request(seed=seed, models=["slowtest.cnn4"], per_class=6, scorers=scorers)


def extractions(engine: JobEngine) -> int:
    return engine.stats()["extractions"]


def attempts(redis_client: Redis, job_id: str, part: str) -> int:
    raw = redis_client.get(keys.job_attempts(job_id, part))
    return 0 if raw is None else int(cast(Any, raw))


def test_submitted_job_equals_the_in_process_ranking(
    engine: JobEngine, worker: WorkerProcess, service_settings: Settings
) -> None:
    from service.pipeline.run import rank
    from service.pipeline.schema import RANKING_JSON_SCHEMA
    from tests.support.schema import check_schema

    view, cached = engine.submit(request(seed=1))
    assert not cached and view.status in (JobStatus.queued, JobStatus.running)
    done = finished(engine, view.id)
    assert done.status == JobStatus.succeeded, done.errors
    assert done.ranking_id == view.id and done.ranking_url == f"/v1/rankings/{view.id}"
    assert [m.status for m in done.progress.models] == ["done", "done"]
    assert done.progress.stages["extract"].done == 2 and done.progress.stages["finalise"].done == 1

    served = json.loads(engine.ranking_json(view.id))
    check_schema(served, RANKING_JSON_SCHEMA)
    local = json.loads(
        rank(
            "data:shapes",
            models=MODELS,
            scorers=SCORERS,
            max_per_class=5,
            seed=1,
            settings=service_settings,
        ).to_json()
    )
    # The same document: equal except wall times, the store-hit flag and the creation time.
    for doc in (served, local):
        doc["provenance"].pop("created_at")
        for m in doc["models"]:
            m.pop("extraction_seconds")
            m.pop("cached")
        # the certainty is budgeted against wall times (which refits fit): its decision is what must agree
        rec = doc.pop("recommendation")
        doc["recommended"] = (rec["model"], rec["runner_up"], rec["margin"])
    served_scores = [(m["id"], m.pop("scores")) for m in served["models"]]
    local_scores = [(m["id"], m.pop("scores")) for m in local["models"]]
    assert served == local
    # Both computed from the same stored float32 features by the same code; only BLAS reduction order
    # (thread counts differ between the worker and this process) can move the last bits.
    assert [i for i, _ in served_scores] == [i for i, _ in local_scores]
    for (_, a), (_, b) in zip(served_scores, local_scores, strict=True):
        assert a.keys() == b.keys()
        assert all(math.isclose(a[k], b[k], rel_tol=1e-6, abs_tol=1e-9) for k in a)
    events = engine.events(view.id, None, 0)
    names = [name for _, name, _ in events]
    assert names[0] == "status" and names[-1] == "done" and "progress" in names
    assert engine.ranking_etag(view.id) == engine.ranking_etag(view.id)


def test_concurrent_identical_submits_compute_once(
    engine: JobEngine, worker: WorkerProcess, redis_client: Redis
) -> None:
    before = extractions(engine)
    req = request(seed=2)
    results: list[tuple[JobView, bool]] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            results.append(
                JobEngine(engine.settings, Redis.from_url(str(engine.settings.redis_url))).submit(req)
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ids = {view.id for view, _ in results}
    assert len(results) == 20 and len(ids) == 1
    job_id = ids.pop()
    assert finished(engine, job_id).status == JobStatus.succeeded
    assert extractions(engine) - before == len(MODELS)  # one forward pass per model, not 20
    for model in MODELS:
        assert attempts(redis_client, job_id, f"extract:{model}") == 1
        assert attempts(redis_client, job_id, f"score:{model}") == 1
    assert attempts(redis_client, job_id, "finalise") == 1


def test_cached_ranking_is_answered_without_a_worker(
    engine: JobEngine, worker: WorkerProcess, redis_client: Redis
) -> None:
    first, _ = engine.submit(request(seed=3))
    assert finished(engine, first.id).status == JobStatus.succeeded
    before = engine.stats()
    parts_before = sorted(redis_client.scan_iter(match=keys.job_attempts("*", "*")))
    again, cached = engine.submit(request(seed=3))
    assert cached and again.id == first.id and again.status == JobStatus.succeeded
    assert engine.ranking_json(again.id) == engine.ranking_json(first.id)
    # spelled differently (defaults written out, models reordered): the same request
    same = RankingRequest(
        dataset="data:shapes",
        models=list(reversed(MODELS)),
        scorers=SCORERS,
        sampling=Sampling(max_per_class=5, seed=3),
        params={"logme": {}},
    )
    assert engine.submit(same)[0].id == first.id
    after = engine.stats()
    assert after["cache_hits"] - before["cache_hits"] == 2
    assert after["jobs_submitted"] == before["jobs_submitted"] and engine.queue_depths() == {
        "extract": 0,
        "score": 0,
    }
    # no message was sent, so no worker ran any part
    assert sorted(redis_client.scan_iter(match=keys.job_attempts("*", "*"))) == parts_before
    assert all(int(cast(Any, redis_client.get(k)) or 0) == 1 for k in parts_before)

    # with the job record gone (job_ttl_s < cache_ttl_s), the cached ranking still answers: a new job
    original = engine.ranking_json(first.id)
    engine.redis.delete(keys.job(first.id))
    fresh, cached = engine.submit(request(seed=3))
    assert cached and fresh.id != first.id and fresh.status == JobStatus.succeeded and fresh.cache_hit
    assert engine.ranking_json(fresh.id) == original


def test_adding_one_model_extracts_only_that_model(
    engine: JobEngine, worker: WorkerProcess, redis_client: Redis
) -> None:
    first, _ = engine.submit(request(seed=4))
    assert finished(engine, first.id).status == JobStatus.succeeded
    before = extractions(engine)
    bigger, cached = engine.submit(request(seed=4, models=[*MODELS, "resnet8.fashion_mnist"]))
    assert not cached
    done = finished(engine, bigger.id)
    assert done.status == JobStatus.succeeded
    assert extractions(engine) - before == 1
    by_id = {m.id: m for m in done.progress.models}
    assert by_id["cnn4.fashion_mnist"].status == by_id["resnet8.glyphs"].status == "cached"
    for model in MODELS:  # no message at all for the warm models
        assert attempts(redis_client, bigger.id, f"extract:{model}") == 0
        assert attempts(redis_client, bigger.id, f"score:{model}") == 0
    old = {m["id"]: m for m in json.loads(engine.ranking_json(first.id))["models"]}
    new = {m["id"]: m for m in json.loads(engine.ranking_json(bigger.id))["models"]}
    for model in MODELS:  # per-model cells come from the cell cache: identical numbers
        assert {k: new[model]["scores"][k] for k in ("logme", "leep")} == {
            k: old[model]["scores"][k] for k in ("logme", "leep")
        }
        assert new[model]["cached"]
    assert set(new["resnet8.fashion_mnist"]["scores"]) == set(SCORERS)


def test_cancel_stops_a_running_job(engine: JobEngine, worker: WorkerProcess, redis_client: Redis) -> None:
    req = slow(5, ["logme"])
    view, _ = engine.submit(req)
    wait(
        engine,
        view.id,
        lambda v: v.progress.models[0].status == "extracting" and v.progress.models[0].done > 0,
    )
    cancelled = engine.cancel(view.id)
    assert cancelled.status == JobStatus.cancelled and cancelled.error is not None
    assert cancelled.error.code == "cancelled"
    # the worker stops at the next batch: no features are stored, the job never turns succeeded
    time.sleep(1.5)
    after = engine.get(view.id)
    assert after.status == JobStatus.cancelled and not redis_client.hexists(
        keys.job_records(view.id), "slowtest.cnn4"
    )
    assert engine.cancel(view.id).status == JobStatus.cancelled  # idempotent
    # a new identical request starts a new job instead of returning the cancelled one
    again, cached = engine.submit(req)
    assert again.id != view.id and not cached
    engine.cancel(again.id)


def test_an_untyped_failure_is_retried_then_dead_lettered_on_the_job(
    engine: JobEngine, worker: WorkerProcess, redis_client: Redis
) -> None:
    view, _ = engine.submit(
        request(seed=7, models=["boomtest.cnn4", "cnn4.fashion_mnist"], scorers=["logme"])
    )
    done = finished(engine, view.id)
    assert done.status == JobStatus.failed and done.error is not None
    assert done.error.code == "worker-error" and "boom" in done.error.message
    assert done.error.model == "boomtest.cnn4" and done.error.part == "extract"
    # max_retries=1: the first run and one retry, both recorded, then the dead letter
    assert attempts(redis_client, view.id, "extract:boomtest.cnn4") == 2
    assert sum(e.code == "worker-error" for e in done.errors) >= 3
    assert engine.stats()["dead_letters"] >= 1


def test_a_typed_failure_fails_the_job_at_once(
    engine: JobEngine, worker: WorkerProcess, service_root: Path, redis_client: Redis
) -> None:
    write_image_folder(service_root / "changing", per_class=4, size=32)
    view, _ = engine.submit(
        RankingRequest(dataset="data:changing", models=["cnn4.glyphs"], scorers=["logme"])
    )
    # the dataset changes between submission and extraction: a typed error, not retried
    (service_root / "changing" / "circle" / "extra.png").write_bytes(
        (service_root / "changing" / "circle" / "000.png").read_bytes()
    )
    done = finished(engine, view.id)
    assert done.status == JobStatus.failed and done.error is not None
    assert done.error.code == "dataset-changed"
    assert attempts(redis_client, view.id, "extract:cnn4.glyphs") == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"dataset": "data:shapes", "models": ["no_such.model"]}, "unknown-model"),
        ({"dataset": "data:shapes", "models": ["nomatch_*"]}, "unknown-model"),
        ({"dataset": "data:shapes", "scorers": ["no_such_scorer"]}, "unknown-scorer"),
        (
            {"dataset": "data:shapes", "scorers": ["sfda"], "params": {"sfda": {"bogus": 1}}},
            "invalid-parameter",
        ),
        ({"dataset": "data:shapes", "scorers": ["logme"], "params": {"sfda": {}}}, "invalid-parameter"),
        ({"dataset": "/etc"}, "path-not-allowed"),
        ({"dataset": "data:../../etc"}, "path-not-allowed"),
        ({"dataset": "shapes"}, "path-not-allowed"),  # relative without a root name: API has no base
        ({"dataset": "nope:shapes"}, "path-not-allowed"),
        ({"dataset": "data:missing"}, "dataset-not-found"),
        ({"dataset": "data:empty"}, "dataset-format"),
        ({"dataset": "data:single"}, "too-few-classes"),
        ({"dataset": "data:shapes", "sampling": {"max_samples": 10**6}}, "limit-exceeded"),
        (
            {"dataset": "data:shapes", "models": ["cnn4.*", "resnet8.*", "efficientnet_lite*"]},
            "limit-exceeded",
        ),
    ],
)
def test_bad_requests_raise_typed_errors_before_anything_is_queued(
    idle_engine: JobEngine, service_root: Path, body: dict[str, Any], code: str
) -> None:
    from estimators.errors import ZoorankError

    (service_root / "empty").mkdir(exist_ok=True)
    if not (service_root / "single").exists():
        write_image_folder(service_root / "single_src", per_class=2, size=8)
        (service_root / "single").mkdir()
        (service_root / "single_src" / "circle").rename(service_root / "single" / "circle")
    limited = JobEngine(idle_engine.settings.with_overrides(max_models_per_job=8), idle_engine.redis)
    with pytest.raises(ZoorankError) as info:
        limited.submit(RankingRequest.model_validate({"models": ["cnn4.glyphs"], **body}))
    assert info.value.code == code, info.value
    assert idle_engine.stats()["jobs_submitted"] == 0 and idle_engine.queue_depths() == {
        "extract": 0,
        "score": 0,
    }


def test_request_bounds_are_validated_by_the_model() -> None:
    from pydantic import ValidationError

    for body in (
        {"dataset": ""},
        {"dataset": "data:x", "extra": 1},
        {"dataset": "data:x", "sampling": {"seed": 2**32}},
        {"dataset": "data:x", "sampling": {"seed": -1}},
        {"dataset": "data:x", "models": []},
        {"dataset": "data:x", "models": ["a b"]},
        {"dataset": "x" * 1025},
    ):
        with pytest.raises(ValidationError):
            RankingRequest.model_validate(body)
    assert RankingRequest.model_validate({"dataset": "data:x", "sampling": {"seed": 2**32 - 1}})


def test_run_names_are_bounded_printable_text() -> None:
    from pydantic import ValidationError

    from service.jobs.request import MAX_RUN_NAME_CHARS

    for name in ("", " lead", "trail ", "two\nlines", "tab\there", "bell\x07", "zero\u200bwidth", "x" * 121):
        with pytest.raises(ValidationError):
            RankingRequest.model_validate({"dataset": "data:x", "name": name})
    for name in ("baseline", "Église 2 · ResNet vs ViT (run #3)", "模型选择", "x" * MAX_RUN_NAME_CHARS):
        assert RankingRequest.model_validate({"dataset": "data:x", "name": name}).name == name
    assert RankingRequest(dataset="data:x").name is None


def test_the_run_name_labels_the_job_and_not_the_fingerprint(idle_engine: JobEngine) -> None:
    body = request(seed=13, models=["cnn4.glyphs"], scorers=["logme"])
    first, _ = idle_engine.submit(body.model_copy(update={"name": "first run"}))
    assert first.name == "first run" and first.request.name == "first run"
    # the same computation under another name joins the job, which keeps the name it was created with
    again, cached = idle_engine.submit(body.model_copy(update={"name": "second run"}))
    assert not cached and again.id == first.id and again.name == "first run"
    unnamed, _ = idle_engine.submit(body)
    assert unnamed.id == first.id and unnamed.fingerprint == first.fingerprint
    listed, _ = idle_engine.list(None, None, 10, None)
    assert [v.name for v in listed if v.id == first.id] == ["first run"]
    idle_engine.cancel(first.id)
    # once that job has ended, a new one carries the new request's name
    fresh, _ = idle_engine.submit(body.model_copy(update={"name": "second run"}))
    assert fresh.id != first.id and fresh.name == "second run"
    assert fresh.fingerprint == first.fingerprint
    idle_engine.cancel(fresh.id)


def test_unknown_jobs_and_unfinished_rankings_are_typed(idle_engine: JobEngine) -> None:
    from service.errors import NotFoundError, NotReadyError

    with pytest.raises(NotFoundError):
        idle_engine.get("jnope")
    with pytest.raises(NotFoundError):
        idle_engine.cancel("jnope")
    with pytest.raises(NotFoundError):
        idle_engine.ranking_json("jnope")
    view, _ = idle_engine.submit(request(seed=8, models=["cnn4.glyphs"], scorers=["logme"]))
    with pytest.raises(NotReadyError):
        idle_engine.ranking_json(view.id)
    idle_engine.cancel(view.id)


def test_listing_pages_newest_first_and_filters(idle_engine: JobEngine) -> None:
    ids = []
    for seed in (10, 11, 12):
        view, _ = idle_engine.submit(
            request(seed=seed, models=["cnn4.glyphs"], scorers=["logme"]), owner="alice"
        )
        ids.append(view.id)
        time.sleep(0.002)
    idle_engine.cancel(ids[1])
    page, cursor = idle_engine.list(None, None, 2, "alice")
    assert [v.id for v in page] == [ids[2], ids[1]] and cursor is not None
    rest, end = idle_engine.list(None, cursor, 2, "alice")
    assert [v.id for v in rest] == [ids[0]] and end is None
    cancelled, _ = idle_engine.list(JobStatus.cancelled, None, 10, None)
    assert [v.id for v in cancelled] == [ids[1]]
    assert idle_engine.list(None, None, 10, "bob") == ([], None)
    for job_id in (ids[0], ids[2]):
        idle_engine.cancel(job_id)


def test_per_owner_queue_limit(idle_engine: JobEngine) -> None:
    from service.errors import TooManyJobsError

    tight = JobEngine(idle_engine.settings.with_overrides(max_queued_jobs_per_key=1), idle_engine.redis)
    first, _ = tight.submit(request(seed=20, models=["cnn4.glyphs"], scorers=["logme"]), owner="k")
    with pytest.raises(TooManyJobsError):
        tight.submit(request(seed=21, models=["cnn4.glyphs"], scorers=["logme"]), owner="k")
    tight.submit(request(seed=21, models=["cnn4.glyphs"], scorers=["logme"]), owner="other")
    tight.cancel(first.id)  # a finished job frees its slot
    tight.submit(request(seed=21, models=["cnn4.glyphs"], scorers=["logme"]), owner="k")


def test_a_worker_killed_mid_extraction_does_not_lose_the_job(
    service_settings: Settings, start_worker: WorkerFactory, plugin_entries: None, redis_client: Redis
) -> None:
    # database 4: only this test's two workers listen there (the module's worker is never the victim)
    url = str(service_settings.redis_url).rsplit("/", 1)[0] + "/4"
    own = service_settings.with_overrides(redis_url=url)
    client = Redis.from_url(url)
    client.flushdb()
    engine = JobEngine(own, client)
    workers = start_worker(2, settings=own, imports=("tests.support.zoo_plugin",))
    view, _ = engine.submit(slow(6, ["logme", "leep"]))
    running = wait(
        engine,
        view.id,
        lambda v: v.progress.models[0].status == "extracting" and v.progress.models[0].done > 0,
    )
    entry = json.loads(cast(Any, client.hget(keys.job_models(view.id), "slowtest.cnn4")) or b"{}")
    victim = next(w for w in workers if w.worker_id == entry["worker"])
    os.kill(victim.pid, signal.SIGKILL)
    victim.process.wait(10)
    assert running.status == JobStatus.running
    # redelivered after the broker heartbeat times out (2 s here), extracted again on the survivor
    done = finished(engine, view.id, timeout=120)
    assert done.status == JobStatus.succeeded, done.errors
    assert attempts(client, view.id, "extract:slowtest.cnn4") == 2
    assert attempts(client, view.id, "finalise") == 1
    ranking = json.loads(engine.ranking_json(view.id))
    assert set(ranking["models"][0]["scores"]) == {"logme", "leep"}
    client.close()


def test_reconcile_resends_the_parts_a_lost_queue_dropped(idle_engine: JobEngine) -> None:
    view, _ = idle_engine.submit(request(seed=40, scorers=["logme"]))
    assert idle_engine.queue_depths()["extract"] == 1  # the models share a preprocessing config: one group
    assert idle_engine.reconcile() == []  # active a moment ago: left alone
    # Redis restarted without its queue (reliability.md §B2): the job is queued, its messages gone
    idle_engine.redis.delete(keys.broker_queue("extract"), keys.broker_queue("extract") + ".msgs")
    assert idle_engine.queue_depths()["extract"] == 0
    assert idle_engine.reconcile(idle_s=0) == [view.id]
    assert idle_engine.queue_depths()["extract"] == 1
    idle_engine.cancel(view.id)
    assert idle_engine.reconcile(idle_s=0) == []  # finished jobs are never resent


def test_a_part_over_its_time_limit_fails_the_job_instead_of_hanging(
    service_settings: Settings, start_worker: WorkerFactory, plugin_entries: None, redis_client: Redis
) -> None:
    # database 2 of the test Redis: only this test's worker (1 s extraction limit) listens there
    url = str(service_settings.redis_url).rsplit("/", 1)[0] + "/2"
    tight = service_settings.with_overrides(redis_url=url, extract_time_limit_s=1)
    client = Redis.from_url(url)
    client.flushdb()
    start_worker(settings=tight, imports=("tests.support.zoo_plugin",))
    engine = JobEngine(tight, client)
    # the slow extraction takes 5 x 0.6 s = 3 s, over the 1 s limit
    view, _ = engine.submit(slow(50, ["logme"]))
    done = finished(engine, view.id)
    assert done.status == JobStatus.failed and done.error is not None
    assert done.error.code == "time-limit-exceeded" and done.error.part == "extract"
    assert attempts(client, view.id, "extract:slowtest.cnn4") == 2  # the first run and its one retry
    client.close()


def test_an_owner_runs_at_most_its_concurrent_job_limit(
    service_settings: Settings, start_worker: WorkerFactory, plugin_entries: None, redis_client: Redis
) -> None:
    # database 3: only this test's two workers (one running job per owner) listen there
    url = str(service_settings.redis_url).rsplit("/", 1)[0] + "/3"
    one = service_settings.with_overrides(redis_url=url, max_concurrent_jobs_per_key=1)
    client = Redis.from_url(url)
    client.flushdb()
    engine = JobEngine(one, client)
    start_worker(2, settings=one, imports=("tests.support.zoo_plugin",))
    first, _ = engine.submit(slow(60, ["logme"]), owner="k")
    wait(engine, first.id, lambda v: v.status == JobStatus.running)
    second, _ = engine.submit(request(seed=61, models=["cnn4.glyphs"], scorers=["logme"]), owner="k")
    other, _ = engine.submit(request(seed=62, models=["cnn4.glyphs"], scorers=["logme"]), owner="j")
    # the idle worker defers the second job of "k" but starts the other owner's job at once (while the
    # first job still extracts; the extraction itself then waits for the device)
    o, a, b = (finished(engine, j.id) for j in (other, first, second))
    assert o.status == a.status == b.status == JobStatus.succeeded
    assert a.finished_at is not None and b.started_at is not None and b.started_at >= a.finished_at
    assert o.started_at is not None and o.started_at < a.finished_at
    assert attempts(client, second.id, "extract:cnn4.glyphs") == 1  # deferring is not an attempt
    client.close()


def test_a_job_past_its_deadline_fails(idle_engine: JobEngine) -> None:
    short = JobEngine(idle_engine.settings.with_overrides(job_deadline_s=1), idle_engine.redis)
    view, _ = short.submit(request(seed=70, models=["cnn4.glyphs"], scorers=["logme"]))
    assert short.get(view.id).status == JobStatus.queued
    time.sleep(1.1)
    late = short.get(view.id)  # nobody ran it: the next look fails it
    assert late.status == JobStatus.failed and late.error is not None
    assert late.error.code == "deadline-exceeded" and "ZOORANK_JOB_DEADLINE_S" in late.error.message
    # the fingerprint is free again: the same request starts a new job
    assert short.submit(request(seed=70, models=["cnn4.glyphs"], scorers=["logme"]))[0].id != view.id


def test_events_block_until_something_happens(idle_engine: JobEngine) -> None:
    view, _ = idle_engine.submit(request(seed=71, models=["cnn4.glyphs"], scorers=["logme"]))
    first = idle_engine.events(view.id, None, 0)
    assert [name for _, name, _ in first] == ["status"] and first[0][2] == {"status": "queued"}
    last_id = first[-1][0]
    assert idle_engine.events(view.id, last_id, 100) == []  # nothing new within 100 ms
    timer = threading.Timer(0.3, lambda: idle_engine.cancel(view.id))
    timer.start()
    started = time.monotonic()
    got = idle_engine.events(view.id, last_id, 5000)
    timer.join()
    assert got and time.monotonic() - started < 4.5  # woke up on the event, not at the timeout
    names = [name for _, name, _ in got + idle_engine.events(view.id, got[-1][0], 0)]
    assert names[-1] == "done" and "status" in names


def test_a_job_with_ensemble_options_carries_the_ensembles_section(
    engine: JobEngine, worker: WorkerProcess
) -> None:
    from service.pipeline.ensembles import EnsembleOptions

    plain, _ = engine.submit(request(seed=80, scorers=["logme", "leep"]))
    teams, _ = engine.submit(
        request(seed=80, scorers=["logme", "leep"], ensemble=EnsembleOptions(k=2, scorers=["mean_leep"]))
    )
    assert teams.id != plain.id  # the options are part of the request fingerprint
    for job_id in (plain.id, teams.id):
        assert finished(engine, job_id).status == JobStatus.succeeded
    assert json.loads(engine.ranking_json(plain.id)).get("ensembles") is None
    section = json.loads(engine.ranking_json(teams.id))["ensembles"]
    assert section["k"] == 2 and [r["scorer"] for r in section["results"]] == ["mean_leep"]
    # the worker's finalise recommends the default ensemble scorer's team (schema 1.3)
    assert section["recommendation"]["scorer"] == "mean_leep"
    assert section["recommendation"]["team"] == section["results"][0]["teams"][0]["members"]


def test_sigterm_finishes_the_running_part_and_the_job_completes_elsewhere(
    service_settings: Settings, start_worker: WorkerFactory, plugin_entries: None
) -> None:
    # database 5: only this test's workers listen there
    url = str(service_settings.redis_url).rsplit("/", 1)[0] + "/5"
    own = service_settings.with_overrides(redis_url=url)
    client = Redis.from_url(url)
    client.flushdb()
    engine = JobEngine(own, client)
    (first,) = start_worker(settings=own, imports=("tests.support.zoo_plugin",))
    view, _ = engine.submit(slow(7, ["logme"]))
    wait(
        engine,
        view.id,
        lambda v: v.progress.models[0].status == "extracting" and v.progress.models[0].done > 0,
    )
    first.process.send_signal(signal.SIGTERM)  # a deploy: stop after the current message
    assert first.process.wait(60) == 0
    # the extraction in flight was finished and recorded, not abandoned
    assert client.hexists(keys.job_records(view.id), "slowtest.cnn4")
    assert engine.get(view.id).status == JobStatus.running
    start_worker(settings=own, imports=("tests.support.zoo_plugin",))
    assert finished(engine, view.id).status == JobStatus.succeeded
    assert attempts(client, view.id, "extract:slowtest.cnn4") == 1  # not redone
    client.close()


def test_the_cache_is_written_before_the_job_reads_succeeded(
    idle_engine: JobEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client that resubmits the moment it sees "succeeded" must hit the cache (this raced once: the
    # status changed first, and an immediate identical request started a second computation).
    view, _ = idle_engine.submit(request(seed=43, scorers=["logme"]))
    state = idle_engine.state(view.id)
    assert state is not None
    fp = state["fingerprint"]
    cached_when_succeeded: list[bool] = []
    original = JobStore.transition

    def spy(self: JobStore, job_id: str, allowed: Any, values: Any) -> bool:
        if values.get("status") == "succeeded":
            cached_when_succeeded.append(self.redis.get(keys.ranking(fp)) is not None)
        return original(self, job_id, allowed, values)

    monkeypatch.setattr(JobStore, "transition", spy)
    assert idle_engine.succeed(view.id, json.dumps({"models": []}))
    assert cached_when_succeeded == [True]
    again, cached = idle_engine.submit(request(seed=43, scorers=["logme"]))
    assert cached and again.id == view.id and again.status == JobStatus.succeeded


def test_a_resubmit_while_the_job_finishes_joins_it(idle_engine: JobEngine) -> None:
    # finalise writes the ranking cache, then marks the job succeeded. A submit in between once saw the
    # cache with an active job and minted a second job id for the same request (20 concurrent identical
    # submits then got 3 ids). It must join the finishing job.
    req = request(seed=44, scorers=["logme"])
    view, _ = idle_engine.submit(req)
    state = idle_engine.state(view.id)
    assert state is not None
    fp = state["fingerprint"]
    idle_engine.redis.set(keys.ranking(fp), json.dumps({"models": []}))  # the window: cached, not succeeded
    before = idle_engine.stats()["cache_hits"]
    again, cached = idle_engine.submit(req)
    assert again.id == view.id and not cached and again.status == JobStatus.queued
    assert idle_engine.stats()["cache_hits"] == before
    # once it has succeeded, the same request is a cache hit on that job
    assert idle_engine.succeed(view.id, json.dumps({"models": []}))
    done, cached = idle_engine.submit(req)
    assert cached and done.id == view.id and idle_engine.stats()["cache_hits"] == before + 1
