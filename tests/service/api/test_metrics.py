"""Stage timings: the Dramatiq middleware of ``service.jobs.metrics`` on a real Redis broker, read back as the
``zoorank_stage_duration_seconds`` series."""

from __future__ import annotations

import time

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from service.jobs import keys
from service.jobs.metrics import ApiMetrics, stage_stats, stage_timer


def test_stage_timer_counts_each_message_of_a_stage(redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/2"  # a database of its own: nothing else consumes it
    client = redis.Redis.from_url(url)
    broker = RedisBroker(url=url, namespace="zoorank-test-stage-timer")  # type: ignore[no-untyped-call]
    broker.add_middleware(stage_timer(client, keys.stat))
    ran = []

    def extract(n: int) -> None:
        time.sleep(0.05)
        ran.append(n)

    actor = dramatiq.actor(extract, broker=broker, actor_name="extract", max_retries=0)  # type: ignore[call-overload]
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        for n in range(3):
            actor.send(n)
        deadline = time.monotonic() + 30
        while stage_stats(client, keys.stat)["extract"][1] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
        broker.close()
    assert sorted(ran) == [0, 1, 2]
    seconds, count = stage_stats(client, keys.stat)["extract"]
    assert count == 3
    assert 0.15 <= seconds < 20  # three 50 ms sleeps; the upper bound only rules out garbage
    metrics = ApiMetrics()
    metrics.bind_engine(dict, dict, int, lambda: stage_stats(client, keys.stat))
    text = metrics.render().decode()
    assert 'zoorank_stage_duration_seconds_count{stage="extract"} 3.0' in text
