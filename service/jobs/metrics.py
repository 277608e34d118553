"""Prometheus metrics of the HTTP service (``GET /metrics``).

Request metrics are counted by the API process itself. Job, queue, stage and cache figures live in Redis
(workers on other machines produce them), so a custom collector reads them from the job engine at scrape
time: every API replica reports the same cluster-wide numbers, and nothing is lost when a replica restarts.

Each app gets its own :class:`~prometheus_client.CollectorRegistry`, so several apps in one process (tests)
never collide on the global registry.

Exported series:

* ``zoorank_http_requests_total{method,route,status}`` and ``zoorank_http_request_duration_seconds{route}``;
* ``zoorank_submissions_total{outcome}``: ranking submissions by outcome (``cached``, ``accepted``);
* ``zoorank_jobs_total{status}``: jobs by outcome (``submitted``, ``succeeded``, ``failed``, ``cancelled``);
* ``zoorank_queue_depth{queue}``: messages waiting per Dramatiq queue;
* ``zoorank_workers``: workers with a live heartbeat;
* ``zoorank_stage_duration_seconds{stage}`` (``_count``/``_sum``): time spent per pipeline stage, from the
  ``stats:stage_seconds:<stage>`` / ``stats:stage_count:<stage>`` counters workers add to
  (``INCRBYFLOAT`` / ``INCR``);
* ``zoorank_cache_hits_total``, ``zoorank_extractions_total``, ``zoorank_dead_letters_total``: the engine's
  counters (submissions answered from cache, forward passes run, messages that failed every retry).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import dramatiq
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("zoorank.metrics")

#: Content type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


#: Pipeline stages whose durations the workers record (``stats:stage_seconds:<stage>`` and
#: ``stats:stage_count:<stage>``, see :func:`stage_stats`).
STAGES = ("extract", "score", "finalise")


class EngineCollector(Collector):
    """Reads cluster-wide job figures from Redis at scrape time.

    Args:
        stats: :meth:`service.jobs.engine.JobEngine.stats` (flat counters: ``jobs_<status>``, ``cache_hits``,
            ``extractions``, ``dead_letters``).
        queue_depths: :meth:`service.jobs.engine.JobEngine.queue_depths`.
        workers_alive: :meth:`service.jobs.engine.JobEngine.workers_alive`.
        stage_stats: stage -> (seconds, count) totals (:func:`stage_stats`).
    """

    def __init__(
        self,
        stats: Callable[[], Mapping[str, int]],
        queue_depths: Callable[[], Mapping[str, int]],
        workers_alive: Callable[[], int],
        stage_stats: Callable[[], Mapping[str, tuple[float, int]]],
    ) -> None:
        self._stats = stats
        self._queue_depths = queue_depths
        self._workers = workers_alive
        self._stages = stage_stats

    def collect(self) -> Iterator[Any]:
        try:
            stats = dict(self._stats())
            depths = self._queue_depths()
            workers = self._workers()
            stages = self._stages()
        except Exception as exc:  # a scrape must not fail because Redis is briefly away
            log.warning("metrics: cannot read job figures from Redis: %s", exc)
            return
        jobs = CounterMetricFamily(
            "zoorank_jobs", "Jobs by outcome since the Redis was new", labels=["status"]
        )
        for name, count in stats.items():
            if name.startswith("jobs_"):
                jobs.add_metric([name.removeprefix("jobs_")], float(count))
        yield jobs
        queue = GaugeMetricFamily("zoorank_queue_depth", "Messages waiting per queue", labels=["queue"])
        for name, depth in depths.items():
            queue.add_metric([str(name)], float(depth))
        yield queue
        yield GaugeMetricFamily("zoorank_workers", "Workers with a live heartbeat", value=float(workers))
        summary = SummaryMetricFamily(
            "zoorank_stage_duration_seconds", "Time spent per pipeline stage (all workers)", labels=["stage"]
        )
        for stage, (seconds, count) in stages.items():
            summary.add_metric([stage], count_value=int(count), sum_value=float(seconds))
        yield summary
        for key, name, text in (
            ("cache_hits", "zoorank_cache_hits", "Submissions answered from the ranking cache"),
            ("extractions", "zoorank_extractions", "Forward passes run (feature-store misses)"),
            ("dead_letters", "zoorank_dead_letters", "Messages that failed every retry"),
        ):
            if key in stats:
                yield CounterMetricFamily(name, text, value=float(stats[key]))


def stage_stats(redis: Any, stat_key: Callable[[str], str]) -> dict[str, tuple[float, int]]:
    """Stage -> (total seconds, executions) from the workers' ``stats:stage_*`` counters (0 when absent)."""
    names = [stat_key(f"stage_{kind}:{stage}") for stage in STAGES for kind in ("seconds", "count")]
    values = redis.mget(names)
    out: dict[str, tuple[float, int]] = {}
    for i, stage in enumerate(STAGES):
        seconds, count = values[2 * i], values[2 * i + 1]
        out[stage] = (float(seconds or 0), int(float(count or 0)))
    return out


class ApiMetrics:
    """The collectors of one app: request counters and latencies, submissions, and the engine figures."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "zoorank_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "zoorank_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.submissions = Counter(
            "zoorank_submissions", "Ranking submissions by outcome", ["outcome"], registry=self.registry
        )

    def bind_engine(
        self,
        stats: Callable[[], Mapping[str, int]],
        queue_depths: Callable[[], Mapping[str, int]],
        workers_alive: Callable[[], int],
        stage_stats: Callable[[], Mapping[str, tuple[float, int]]],
    ) -> None:
        """Add the engine collector (once per app, when the engine exists)."""
        self.registry.register(EngineCollector(stats, queue_depths, workers_alive, stage_stats))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        """The text exposition of every series."""
        data: bytes = generate_latest(self.registry)
        return data


def stage_timer(redis: Any, stat_key: Callable[[str], str]) -> Any:
    """A Dramatiq middleware that adds each message's run time to its stage's counters.

    The stage is the actor's name (``extract``, ``score``, ``finalise``); the counters are the ones
    :func:`stage_stats` reads (``INCRBYFLOAT stats:stage_seconds:<stage>`` and
    ``INCR stats:stage_count:<stage>``), so ``zoorank_stage_duration_seconds`` covers every worker.
    Install it on the broker (``broker.add_middleware(stage_timer(client, keys.stat))``). Failures to
    count are logged, never raised: metrics must not fail a message.
    """

    class StageTimer(dramatiq.Middleware):
        def __init__(self) -> None:
            self._started: dict[str, float] = {}

        def before_process_message(self, broker: Any, message: Any) -> None:
            self._started[message.message_id] = time.perf_counter()

        def after_process_message(
            self,
            broker: Any,
            message: Any,
            *,
            result: Any = None,
            exception: Any = None,
        ) -> None:
            started = self._started.pop(message.message_id, None)
            if started is None or message.actor_name not in STAGES:
                return
            try:
                pipe = redis.pipeline(transaction=False)
                pipe.incrbyfloat(
                    stat_key(f"stage_seconds:{message.actor_name}"), time.perf_counter() - started
                )
                pipe.incr(stat_key(f"stage_count:{message.actor_name}"))
                pipe.execute()
            except Exception as exc:
                log.warning("metrics: cannot record the %s stage time: %s", message.actor_name, exc)

        after_skip_message = after_process_message

    return StageTimer()
