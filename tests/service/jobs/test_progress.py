"""What a job's view says about its progress, on a real Redis where no worker listens (progress is
written by hand, as a worker would)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis

from service.jobs.engine import JobEngine
from service.jobs.handlers import score_progress
from service.jobs.models import JobError, JobStatus, stored_top_model, top_model
from service.jobs.request import RankingRequest, Sampling
from service.pipeline.types import ProgressEvent
from service.settings import Settings
from tests.service.jobs.test_engine import MODELS, finished, request
from tests.support.service import WorkerFactory


@pytest.fixture
def engine(service_settings: Settings, redis_client: Redis) -> Iterator[JobEngine]:
    """An engine on database 6 of the test Redis, where no worker listens."""
    url = str(service_settings.redis_url).rsplit("/", 1)[0] + "/6"
    client = Redis.from_url(url)
    client.flushdb()
    yield JobEngine(service_settings.with_overrides(redis_url=url), client)
    client.close()


def test_the_stage_follows_the_slowest_unfinished_part_even_while_the_job_is_marked_queued(
    engine: JobEngine,
) -> None:
    view, _ = engine.submit(request(seed=90, scorers=["logme"]))
    assert (view.status.value, view.stage) == ("queued", "queued")
    first, second = MODELS
    engine.model_progress(view.id, first, status="extracted", done=15, total=15)
    assert engine.get(view.id).stage == "extract"  # the second model has not been extracted yet
    engine.model_progress(view.id, second, status="scoring", done=15, total=15)
    assert engine.get(view.id).stage == "score"  # every model is past extraction, none is finalising
    engine.model_progress(view.id, first, status="done")
    engine.model_progress(view.id, second, status="done")
    view = engine.get(view.id)
    assert view.stage == "score" and view.progress.stages["score"].done == len(MODELS)


def test_score_progress_reports_the_scorer_elapsed_time_and_an_eta() -> None:
    """A fake clock (seconds) makes the ETA exact: 2 of 4 scorers took 6 s, so 2 more take 6 s."""
    written: list[dict[str, Any]] = []
    now = [100.0]
    on_event = score_progress(lambda **fields: written.append(fields), clock=lambda: now[0])
    on_event(ProgressEvent("score", "m", 0, 4, "logme"))
    now[0] = 106.0
    on_event(ProgressEvent("score", "m", 2, 4, "probe_cv"))
    on_event(ProgressEvent("extract", "m", 5, 10))  # not a scoring event: ignored
    assert written[0] == {
        "status": "scoring", "scorer": "logme", "scorers_done": 0, "scorers_total": 4,
        "folds_done": 0, "folds_total": 0, "score_elapsed_s": 0.0, "score_eta_s": None,
    }  # fmt: skip
    assert written[1]["scorer"] == "probe_cv" and written[1]["score_elapsed_s"] == 6.0
    assert written[1]["score_eta_s"] == 6.0 and len(written) == 2


def test_score_progress_counts_the_folds_of_a_probe_like_scorer() -> None:
    """Fake clock: 1 scorer and 3 of probe_cv's 4 folds (1.75 scorers of 3) took 7 s, so 1.25 scorers
    are left at 4 s each: the ETA is 5 s; the folds reset when the next scorer starts."""
    written: list[dict[str, Any]] = []
    now = [10.0]
    on_event = score_progress(lambda **fields: written.append(fields), clock=lambda: now[0])
    on_event(ProgressEvent("score", "m", 1, 3, "probe_cv"))
    now[0] = 17.0
    on_event(ProgressEvent("score", "m", 1, 3, "probe_cv", folds_done=3, folds_total=4))
    assert (written[1]["folds_done"], written[1]["folds_total"]) == (3, 4)
    assert (written[1]["scorer"], written[1]["scorers_done"]) == ("probe_cv", 1)
    assert written[1]["score_elapsed_s"] == 7.0 and written[1]["score_eta_s"] == 5.0
    on_event(ProgressEvent("score", "m", 2, 3, "logme"))
    assert (written[2]["folds_done"], written[2]["folds_total"]) == (0, 0)


def test_the_view_carries_fold_progress(engine: JobEngine) -> None:
    view, _ = engine.submit(request(seed=97, scorers=["probe_cv"]))
    first = MODELS[0]
    engine.model_progress(
        view.id, first, status="scoring", scorer="probe_cv", scorers_done=0, scorers_total=1,
        folds_done=3, folds_total=5,
    )  # fmt: skip
    model = next(m for m in engine.get(view.id).progress.models if m.id == first)
    assert (model.scorer, model.folds_done, model.folds_total) == ("probe_cv", 3, 5)
    listed = engine.list(None, None, 10, None)[0][0]
    assert next(m for m in listed.progress.models if m.id == first).folds_done == 3


def test_the_view_carries_score_progress(engine: JobEngine) -> None:
    view, _ = engine.submit(request(seed=91, scorers=["logme"]))
    first = MODELS[0]
    engine.model_progress(
        view.id, first, status="scoring", scorer="logme", scorers_done=1, scorers_total=3,
        score_elapsed_s=2.5, score_eta_s=5.0,
    )  # fmt: skip
    model = next(m for m in engine.get(view.id).progress.models if m.id == first)
    assert (model.scorer, model.scorers_done, model.scorers_total) == ("logme", 1, 3)
    assert (model.score_elapsed_s, model.score_eta_s) == (2.5, 5.0)


def test_a_succeeded_job_names_its_top_model_in_the_list(engine: JobEngine) -> None:
    view, _ = engine.submit(request(seed=92, scorers=["logme"]))
    assert view.top_model is None
    assert engine.succeed(
        view.id,
        json.dumps(
            {"models": [{"id": "resnet8.glyphs", "aggregate_rank": 1}, {"id": "x", "aggregate_rank": 2}]}
        ),
    )
    listed, _ = engine.list(None, None, 10, None)
    assert [(j.id, j.top_model) for j in listed] == [(view.id, "resnet8.glyphs")]
    assert top_model("{}") is None and top_model("not json") is None


def test_a_queued_job_shows_its_queue_position(engine: JobEngine) -> None:
    first, _ = engine.submit(request(seed=93, scorers=["logme"]))
    second, _ = engine.submit(request(seed=94, scorers=["logme"]))
    assert engine.get(first.id).queue_position == 0
    # the first job's one extract message ahead (its models share a preprocessing config: one group)
    assert engine.get(second.id).queue_position == 1
    engine.model_progress(second.id, MODELS[0], status="extracting", done=1, total=15)
    assert engine.get(second.id).queue_position is None  # started: no longer waiting


def test_a_job_is_running_once_a_worker_has_taken_any_part_before_its_stored_status_says_so(
    engine: JobEngine,
) -> None:
    view, _ = engine.submit(request(seed=95, scorers=["logme"]))
    engine.model_progress(view.id, MODELS[0], status="extracting", done=4, total=15)
    assert (engine.state(view.id) or {})["status"] == "queued"  # the worker's compare-and-set lags
    running = engine.get(view.id)
    assert (running.status.value, running.stage, running.queue_position) == ("running", "extract", None)
    assert [j.id for j in engine.list(JobStatus.running, None, 10, None)[0]] == [view.id]
    assert engine.list(JobStatus.queued, None, 10, None)[0] == []
    # the stored status still moves by compare-and-set only: queued -> running once, then terminal
    assert engine.mark_running(view.id) and engine.mark_running(view.id)
    statuses = [data.get("status") for _, name, data in engine.events(view.id, None, 0) if name == "status"]
    assert statuses == ["queued", "running"]
    assert engine.fail(view.id, JobError(code="worker-error", message="x"))
    engine.mark_running(view.id)  # a late worker cannot bring a failed job back
    assert engine.get(view.id).status == JobStatus.failed


def test_models_warm_at_submission_leave_the_job_queued_until_a_worker_takes_it(engine: JobEngine) -> None:
    view, _ = engine.submit(request(seed=96, scorers=["logme"]))
    # what submission writes for a model whose features are in the store (its score part is queued)
    engine.model_progress(view.id, MODELS[0], status="extracted", cached=True, done=15, total=15)
    waiting = engine.get(view.id)
    assert (waiting.status.value, waiting.stage) == ("queued", "queued")
    assert waiting.queue_position is not None
    engine.model_progress(view.id, MODELS[0], status="scoring", scorer="logme")  # a worker scores it
    assert engine.get(view.id).status == JobStatus.running


def test_the_top_model_is_stored_once_and_read_back_not_reparsed() -> None:
    """The view reads the field stored with the ranking; older records fall back to their ranking."""
    ranked = json.dumps({"models": [{"id": "m1", "aggregate_rank": 1.0}]})
    assert stored_top_model({"top_model": "m2", "ranking": ranked}) == "m2"  # the stored field wins
    assert stored_top_model({"top_model": "", "ranking": ranked}) is None  # stored: no ranked model
    assert stored_top_model({"ranking": ranked}) == "m1"  # an older record: computed from its ranking
    assert stored_top_model({}) is None


def test_a_probe_cv_job_streams_its_fold_progress(
    service_settings: Settings, redis_client: Redis, start_worker: WorkerFactory
) -> None:
    """A real worker scores probe_cv (5 folds by default): the job's events carry each fold."""
    start_worker()
    engine = JobEngine(service_settings, redis_client)
    view, _ = engine.submit(
        RankingRequest(
            dataset="data:shapes",
            models=["cnn4.glyphs"],
            scorers=["probe_cv"],
            sampling=Sampling(max_per_class=6, seed=98),
        )
    )
    assert finished(engine, view.id).status == JobStatus.succeeded
    folds = [
        (data["folds_done"], data["folds_total"])
        for _, name, data in engine.events(view.id, None, 0)
        if name == "progress" and data.get("scorer") == "probe_cv" and data.get("folds_total")
    ]
    assert folds == [(f, 5) for f in range(1, 6)]
    done = engine.get(view.id).progress.models[0]
    assert (done.status, done.folds_done, done.folds_total) == ("done", 0, 0)
