"""Budget jobs in the engine, on a real Redis where no worker listens: one ``budget`` message per job,
a budget too small for the sample refused at submission, a lost message re-sent by the reconcile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from estimators.errors import InvalidParameterError
from service.jobs import keys
from service.jobs.engine import JobEngine, is_budget_job
from service.jobs.request import RankingRequest, Sampling
from service.settings import Settings
from tests.service.jobs.test_engine import MODELS


@pytest.fixture
def engine(service_settings: Settings, redis_client: Redis) -> Iterator[JobEngine]:
    """An engine on database 6 of the test Redis, where no worker listens: jobs stay queued."""
    url = str(service_settings.redis_url).rsplit("/", 1)[0] + "/6"
    client = Redis.from_url(url)
    client.flushdb()
    yield JobEngine(service_settings.with_overrides(redis_url=url, reconcile_interval_s=60), client)
    client.close()


def budget_request(seed: int, budget: float) -> RankingRequest:
    return RankingRequest(
        dataset="data:shapes",
        models=MODELS,
        scorers=["hscore"],
        sampling=Sampling(max_per_class=6, seed=seed, budget=budget),
    )


def test_a_budget_job_is_one_budget_message_and_a_lost_one_is_resent(engine: JobEngine) -> None:
    view, cached = engine.submit(budget_request(seed=90, budget=0.9))
    assert not cached
    assert engine.queued_parts() == {("budget", view.id)}
    state = engine.state(view.id)
    assert state is not None and is_budget_job(state)
    assert engine.reconcile(idle_s=0) == []  # its message is there
    engine.redis.delete(keys.broker_queue("extract"), keys.broker_messages("extract"))
    assert engine.reconcile(idle_s=0) == [view.id]
    assert engine.queued_parts() == {("budget", view.id)}  # never the parts of a full ranking


def test_the_budget_is_part_of_the_fingerprint(engine: JobEngine) -> None:
    full, _ = engine.submit(RankingRequest(dataset="data:shapes", models=MODELS, scorers=["hscore"],
                                           sampling=Sampling(max_per_class=6, seed=91)))  # fmt: skip
    a, _ = engine.submit(budget_request(seed=91, budget=0.9))
    b, _ = engine.submit(budget_request(seed=91, budget=0.8))
    again, _ = engine.submit(budget_request(seed=91, budget=0.9))
    assert len({full.id, a.id, b.id}) == 3 and again.id == a.id  # single flight joins the same budget


def test_a_budget_too_small_for_the_sample_is_refused_before_a_job_exists(engine: JobEngine) -> None:
    with pytest.raises(InvalidParameterError, match="needs a budget of at least") as exc:
        engine.submit(budget_request(seed=92, budget=0.05))
    assert exc.value.param == "sampling.budget"
    assert engine.queued_parts() == set()
