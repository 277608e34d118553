"""What a job's view says about its progress, on a real Redis where no worker listens (progress is
written by hand, as a worker would)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from service.jobs.engine import JobEngine
from service.settings import Settings
from tests.service.jobs.test_engine import MODELS, request


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
