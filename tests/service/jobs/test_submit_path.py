"""What an identical or listed request costs the engine, and that the shortcuts answer as the long way:
the sample memo of :meth:`JobEngine.submit`, the batched reads of job views."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from redis import Redis

from service.jobs import keys
from service.jobs.engine import JobEngine
from service.jobs.models import JobStatus
from service.jobs.request import RankingRequest, Sampling
from service.pipeline.sample import SampleMemo
from service.settings import Settings
from tests.support.service import write_image_folder


@pytest.fixture
def idle_engine(service_settings: Settings, redis_client: Redis) -> Iterator[JobEngine]:
    """An engine on database 2 of the test Redis, where no worker listens: jobs stay queued."""
    url = str(service_settings.redis_url).rsplit("/", 1)[0] + "/2"
    client = Redis.from_url(url)
    client.flushdb()
    engine = JobEngine(service_settings.with_overrides(redis_url=url), client)
    # no racy window: the test's dataset is a moment old; its changes move an mtime set an hour back
    engine.samples = SampleMemo(10_000, racy_window_ns=0)
    yield engine
    client.close()


def _dataset(settings: Settings, name: str) -> Path:
    folder = write_image_folder(settings.named_roots["data"] / name, per_class=4, size=8)
    old = time.time() - 3600
    for parent, _, files in os.walk(folder):
        for path in [parent, *(os.path.join(parent, f) for f in files)]:
            os.utime(path, (old, old))
    return folder


def _request(name: str) -> RankingRequest:
    return RankingRequest(
        dataset=f"data:{name}", models=["cnn4.glyphs"], scorers=["logme"], sampling=Sampling(max_per_class=3)
    )


def test_an_identical_submit_reuses_the_sample_and_a_changed_dataset_does_not(
    idle_engine: JobEngine, service_settings: Settings
) -> None:
    folder = _dataset(service_settings, "memo_shapes")
    first, _ = idle_engine.submit(_request("memo_shapes"))
    again, _ = idle_engine.submit(_request("memo_shapes"))
    assert idle_engine.samples.hits == 1
    assert (again.id, again.fingerprint) == (first.id, first.fingerprint)  # single flight, same answer
    with open(folder / "circle" / "000.png", "ab") as fh:
        fh.write(b"\0")  # same name, other content
    changed, _ = idle_engine.submit(_request("memo_shapes"))
    assert idle_engine.samples.hits == 1
    assert changed.fingerprint != first.fingerprint and changed.id != first.id
    for job_id in (first.id, changed.id):
        idle_engine.cancel(job_id)


def _sent_bytes(client: Redis) -> int:
    stats = cast(dict[str, Any], client.info("stats"))
    return int(stats["total_net_output_bytes"])


def test_listed_views_equal_single_views_and_never_read_the_ranking(
    idle_engine: JobEngine, service_settings: Settings
) -> None:
    _dataset(service_settings, "list_shapes")
    ids = []
    for seed in (1, 2, 3, 4):
        sampling = Sampling(max_per_class=3, seed=seed)
        request = _request("list_shapes").model_copy(update={"sampling": sampling})
        ids.append(idle_engine.submit(request, owner="carol")[0].id)
        time.sleep(0.002)
    # a ranking of 4 MB: a view that read it would make Redis send at least that much
    ranking = json.dumps({"models": [{"id": "cnn4.glyphs", "aggregate_rank": 1}], "pad": "x" * (4 << 20)})
    assert idle_engine.succeed(ids[0], ranking)
    idle_engine.cancel(ids[1])
    before = _sent_bytes(idle_engine.redis)
    listed, _ = idle_engine.list(None, None, 10, "carol")
    assert [v.id for v in listed] == ids[::-1]
    assert listed == [idle_engine.get(job_id) for job_id in ids[::-1]]
    assert _sent_bytes(idle_engine.redis) - before < 1 << 20
    assert [v.status for v in listed] == [JobStatus.queued] * 2 + [JobStatus.cancelled, JobStatus.succeeded]
    assert listed[-1].top_model == "cnn4.glyphs"
    # the queue positions of a page come from one pass over the queues: the same as one job's
    # one extract message per job, in submission order; those of the ended jobs wait too (a worker drops
    # them), so the newest job has 3 ahead of it
    assert [v.queue_position for v in listed[:2]] == [3, 2]
    # a job that ended before ``top_model`` was stored: its view computes it from the ranking
    idle_engine.redis.hdel(keys.job(ids[0]), "top_model")
    assert idle_engine.list(JobStatus.succeeded, None, 10, "carol")[0][0].top_model == "cnn4.glyphs"
    for job_id in ids[2:]:
        idle_engine.cancel(job_id)
