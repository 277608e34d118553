"""What the job engine's actors do (the workers' side): declared on the broker of :mod:`service.jobs.broker`.

Actors (each message is small and idempotent; delivery is at least once):

* ``extract(job_id, model_id, ...)``, queue ``extract`` (the GPU queue): the features of a group of the
  job's models that share a preprocessing config (one model, or up to ``extract_group_size``) on the
  job's sample, from the shared feature store or a forward pass; the group's uncached models share one
  decode of each image (:func:`~service.pipeline.extract.extract_shared`, as in ``zoorank rank``). One
  extraction at a time per device; the worker keeps recently used models loaded, LRU of
  ``model_cache_size``. Per model, it writes the :class:`~service.pipeline.extract.ExtractionRecord`
  (never the arrays) to the job and sends ``score``. A model that cannot be used (weights missing or
  corrupt, load failure) completes its part with that error, and its group mates go on.
* ``score(job_id, model_id)``, queue ``score`` (CPU): the per-model scorers on that model's features.
  Cells already in the cell cache (same model, dataset, sampling, scorer version and parameters) are
  reused, the others computed and cached; the model's cells go to the job. Then the fan-in.
* ``finalise(job_id)``, queue ``score``: set-level scorers (``etran``, ``ncti``), aggregation, the
  ensemble section when asked, the ranking stored on the job and in the cache.
* ``budget(job_id)``, queue ``extract``: a budget job (``sampling.budget``) in one message: every round of
  :func:`service.pipeline.budget.budget_rank` (forward passes under the device lock, increments through
  the feature store), a ``progress`` event per round (``stage: budget``, the round's record), dropped
  models marked ``dropped``; then the ranking stored on the job and in the cache.
* ``dead_letter(message, retry_info)``, queue ``score``: a message that failed ``max_retries`` times
  (Dramatiq's ``on_retry_exhausted``) fails its job with code ``worker-error`` or
  ``time-limit-exceeded``, so dead letters are visible on the job.

Fan-in: each completed part runs one Lua script (``SADD done``; when the set is complete, ``SET
finalise NX``) and only the caller that set the flag sends ``finalise``, so a redelivered message never
enqueues it twice; cells and records are written with ``HSETNX`` (first write wins), so a duplicate run
never duplicates a result; ``finalise`` itself ends the job by compare-and-set.

Errors: a typed :class:`~estimators.errors.ZoorankError` fails the job at once (it would fail again);
:class:`~service.errors.JobCancelledError` (the cancel flag, checked between batches and scorers)
ends it as cancelled; anything else is retried with exponential backoff from ``retry_backoff_ms``.
Every actor has an explicit time limit (``extract_time_limit_s``, ``score_time_limit_s``); Dramatiq's
10-minute default never applies. Liveness is the broker heartbeat (``heartbeat_timeout_ms``): a worker
that dies has its messages redelivered to another; a long extraction is never redelivered for running
long.

Nothing here touches CUDA at import: the device is resolved lazily inside the worker process that runs
the actor (:class:`Runtime`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import dramatiq
import redis
import torch

from estimators.errors import ZoorankError
from service.errors import JobCancelledError
from service.jobs import keys
from service.jobs.broker import ACTOR_QUEUES, extract_time_limit_ms
from service.jobs.models import JobError
from service.jobs.request import RankingRequest, to_plan
from service.jobs.store import JobStore, as_str, cell_digest, model_digest
from service.pipeline.assemble import finalise
from service.pipeline.budget import budget_rank
from service.pipeline.extract import (
    Extraction,
    ExtractionRecord,
    extract_model,
    extract_shared,
    load_extraction,
)
from service.pipeline.sample import SampleSummary, resample
from service.pipeline.schema import BudgetRound, ErrorInfo
from service.pipeline.score import cells_from_dict, cells_to_dict, merge_cells, score_model
from service.pipeline.types import Cells
from service.settings import Settings
from zoo.errors import UnknownModelError
from zoo.models import load_model
from zoo.store import FeatureStore, entry_digest

if TYPE_CHECKING:
    from redis import Redis
    from torch import nn

    from service.pipeline.plan import RankPlan
    from service.pipeline.sample import Sample, SampleSummary
    from service.pipeline.types import Cells, ProgressEvent
    from zoo._api import ZooEntry


_PROGRESS_INTERVAL_S = 0.25


class ModelCache:
    """Loaded feature models, least recently used evicted beyond ``size`` (one per entry digest+device)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._models: OrderedDict[tuple[str, str], nn.Module] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def load(self, entry: ZooEntry, device: str) -> nn.Module:
        """The model of ``entry`` on ``device``, loaded (``zoo.models.load_model``) on a miss."""

        key = (entry_digest(entry), device)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                self.hits += 1
                return self._models[key]
        model = load_model(entry, device)
        with self._lock:
            self.misses += 1
            self._models[key] = model
            while len(self._models) > self.size:
                self._models.popitem(last=False)
        return model

    def __len__(self) -> int:
        return len(self._models)


class DeviceLock:
    """One extraction at a time per device: a thread lock plus a host-wide ``flock`` (other processes)."""

    def __init__(self, device: str) -> None:
        self.path = os.path.join(
            tempfile.gettempdir(), f"zoorank-device-{re.sub(r'[^a-z0-9]', '-', device)}.lock"
        )
        self._thread = threading.Lock()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the device (released by the kernel if this process dies)."""
        with self._thread:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


@dataclass
class Runtime:
    """What one worker process keeps between messages: Redis, the store, loaded models, recent samples.

    Attributes:
        settings: the worker's settings (``device`` may be ``auto``: resolved on first use, here).
        worker_id: this worker (``host:pid:random``), shown on model progress.
    """

    settings: Settings
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
    )
    _redis: Redis | None = None
    _jobs: JobStore | None = None
    _device: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _samples: OrderedDict[str, Sample] = field(default_factory=OrderedDict)
    _plans: OrderedDict[str, RankPlan] = field(default_factory=OrderedDict)
    _device_lock: DeviceLock | None = None
    #: ``(actor name, *args)`` of the part this worker runs now (its heartbeat publishes it), or None.
    current_part: tuple[str, ...] | None = None

    @contextlib.contextmanager
    def running(self, actor_name: str, *args: str) -> Iterator[None]:
        """Mark ``actor_name(*args)`` as this worker's current part while the block runs."""
        self.current_part = (actor_name, *args)
        try:
            yield
        finally:
            self.current_part = None

    def __post_init__(self) -> None:
        self.models = ModelCache(self.settings.model_cache_size)

    @property
    def redis(self) -> Redis:
        """This process's Redis client."""
        if self._redis is None:
            assert self.settings.redis_url is not None
            self._redis = redis.Redis.from_url(self.settings.redis_url, health_check_interval=30)
        return self._redis

    @property
    def jobs(self) -> JobStore:
        """Job state helpers on this process's client."""
        if self._jobs is None:
            self._jobs = JobStore(self.settings, self.redis)
        return self._jobs

    @property
    def device(self) -> str:
        """The torch device, resolved in this (worker) process on first use."""
        if self._device is None:
            if self.settings.torch_threads:
                torch.set_num_threads(self.settings.torch_threads)
            self._device = self.settings.resolve_device()
        return self._device

    @property
    def device_lock(self) -> DeviceLock:
        """The lock of this worker's device."""
        if self._device_lock is None:
            self._device_lock = DeviceLock(self.device)
        return self._device_lock

    @property
    def store(self) -> FeatureStore:
        """The shared feature store."""

        return FeatureStore(self.settings.store_dir)

    def plan(self, job_id: str, state: dict[str, str]) -> RankPlan:
        """The job's validated plan (models fixed at submission), cached per job."""

        with self._lock:
            if job_id in self._plans:
                return self._plans[job_id]
        request = RankingRequest.model_validate_json(state["plan_request"])
        plan = to_plan(request, self.settings)
        with self._lock:
            self._plans[job_id] = plan
            while len(self._plans) > 16:
                self._plans.popitem(last=False)
        return plan

    def sample(self, summary: SampleSummary) -> Sample:
        """The job's sample, rebuilt from its summary (cached per fingerprint and sampling)."""

        key = json.dumps([summary.reference, summary.fingerprint, dict(summary.sampling)], sort_keys=True)
        with self._lock:
            if key in self._samples:
                self._samples.move_to_end(key)
                return self._samples[key]
        smp = resample(summary, self.settings)
        with self._lock:
            self._samples[key] = smp
            while len(self._samples) > 4:
                self._samples.popitem(last=False)
        return smp


@dataclass
class Actors:
    """The declared actors of one broker. ``runtime`` is created on the first message in this process."""

    broker: Any
    settings: Settings
    extract: Any = None
    score: Any = None
    finalise: Any = None
    dead_letter: Any = None
    budget: Any = None
    runtime_factory: Callable[[], Runtime] | None = None
    _runtime: Runtime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def runtime(self) -> Runtime:
        """This process's worker runtime."""
        with self._lock:
            if self._runtime is None:
                factory = self.runtime_factory or (lambda: Runtime(self.settings))
                self._runtime = factory()
            return self._runtime


def _entry(plan: RankPlan, model_id: str) -> ZooEntry:
    for entry in plan.entries:
        if entry.id == model_id:
            return entry

    raise UnknownModelError(f"model {model_id!r} is not part of this job", param="models")


def _summary(state: dict[str, str]) -> SampleSummary:

    return SampleSummary.from_dict(json.loads(state["sample"]))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _begin(
    rt: Runtime, job_id: str, part: str | Sequence[str], defer: Callable[[int], None]
) -> dict[str, str] | None:
    """Common start of every message: the job's state, or None when there is nothing (more) to do.

    ``part`` names what the message runs (``extract:<model>`` for each model of an extract group): each
    counts one attempt. A queued job whose owner already runs ``max_concurrent_jobs_per_key`` jobs does
    not start: the message is sent again with a delay (``defer(ms)``) and this delivery ends.
    """
    jobs = rt.jobs
    state = jobs.state(job_id)
    if state is None or state.get("status") not in ("queued", "running"):
        return None
    if jobs.check_deadline(job_id, state):
        return None
    if not jobs.mark_running(job_id, state.get("owner", "")):
        defer(min(30_000, max(200, rt.settings.retry_backoff_ms * 2)))
        return None
    pipe = rt.redis.pipeline(transaction=False)
    for name in [part] if isinstance(part, str) else part:
        key = keys.job_attempts(job_id, name)
        pipe.incr(key)
        pipe.expire(key, rt.settings.job_deadline_s + rt.settings.job_ttl_s)
    pipe.execute()
    if jobs.cancelled(job_id):
        jobs.mark_cancelled(job_id)
        return None
    return state


@contextlib.contextmanager
def _job_errors(rt: Runtime, job_id: str, part: str, model_id: str | None) -> Iterator[None]:
    """Typed errors fail the job at once; cancellation ends it; anything else is recorded and retried."""

    try:
        yield
    except JobCancelledError:
        rt.jobs.mark_cancelled(job_id)
    except ZoorankError as exc:
        rt.jobs.fail(job_id, JobError(code=exc.code, message=_first_line(exc), model=model_id, part=part))
    except Exception as exc:
        rt.jobs.record_error(
            job_id,
            JobError(
                code="worker-error",
                message=f"{type(exc).__name__}: {_first_line(exc)} "
                f"(retried up to {rt.settings.max_retries} times)",
                model=model_id,
                part=part,
            ),
        )
        raise


def _progress_writer(rt: Runtime, job_id: str, model_id: str) -> Callable[[ProgressEvent], None]:
    last = [0.0]

    def write(event: ProgressEvent) -> None:
        if event.stage != "extract":
            return
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_INTERVAL_S or (event.total and event.done >= event.total):
            last[0] = now
            rt.jobs.model_progress(job_id, model_id, status="extracting", done=event.done, total=event.total)

    return write


def score_progress(
    write: Callable[..., None], clock: Callable[[], float] = time.monotonic
) -> Callable[[ProgressEvent], None]:
    """A :func:`~service.pipeline.score.score_model` progress callback that reports, per scorer event,
    the scorer now running, the scorers done of the total, the folds of that scorer done (probe-like
    scorers), the seconds spent scoring and an ETA through ``write(**fields)``. The ETA is the time per
    scorer so far times the scorers left, counting a scorer part-way through its folds as that fraction
    of one."""
    start = clock()

    def on_event(event: ProgressEvent) -> None:
        if event.stage != "score":
            return
        elapsed = max(0.0, clock() - start)
        done = float(event.done)
        if event.folds_total > 0:
            done += min(event.folds_done, event.folds_total) / event.folds_total
        left = max(0.0, event.total - done)
        eta = elapsed / done * left if done > 0 else None
        write(
            status="scoring",
            scorer=event.message or None,
            scorers_done=event.done,
            scorers_total=event.total,
            folds_done=event.folds_done,
            folds_total=event.folds_total,
            score_elapsed_s=round(elapsed, 3),
            score_eta_s=None if eta is None else round(eta, 3),
        )

    return on_event


#: Model statuses that say a model's extraction outcome was handed on (``score`` sent, or the part failed).
_FORWARDED = frozenset({"extracted", "scoring", "done", "cached", "failed"})


def _forwarded(rt: Runtime, job_id: str, model_id: str) -> bool:
    raw = rt.redis.hget(keys.job_models(job_id), model_id)
    return raw is not None and str(json.loads(as_str(raw)).get("status")) in _FORWARDED


def _group_progress(
    rt: Runtime, job_id: str, total: int, started: set[str]
) -> Callable[[ProgressEvent], None]:
    """Progress of a shared extraction, per model: ``extracting`` on this worker from the model's first
    event (its extraction starts there, so its images/s is measured from there), then its images done."""
    writers: dict[str, Callable[[ProgressEvent], None]] = {}

    def on_event(event: ProgressEvent) -> None:
        model_id = event.model_id
        if model_id is None or event.stage not in ("load", "extract"):
            return
        if model_id not in started:
            started.add(model_id)
            rt.jobs.model_progress(job_id, model_id, status="extracting", worker=rt.worker_id, total=total)
        if model_id not in writers:
            writers[model_id] = _progress_writer(rt, job_id, model_id)
        writers[model_id](event)

    return on_event


def _save_record(rt: Runtime, job_id: str, entry: ZooEntry, summary: SampleSummary, run: Extraction) -> bool:
    """Write ``run``'s record on the job (first write wins) and, when usable, in the record cache.

    Returns:
        Whether this write was the first (a concurrent duplicate delivery loses and hands nothing on).
    """
    rec = run.record()
    text = json.dumps(rec.to_dict())
    won = bool(rt.redis.hsetnx(keys.job_records(job_id), entry.id, text))
    rt.redis.hsetnx(keys.job(job_id), "device", rt.device)
    if rec.error is None:
        mkey = model_digest(entry_digest(entry), summary, rt.settings)
        rt.redis.set(keys.model_record(mkey), text, ex=rt.settings.cache_ttl_s)
    return won


def _hand_on(actors: Actors, job_id: str, model_id: str, total: int) -> None:
    """After a model's extraction record is written: ``score`` it, or complete its part with its error."""
    jobs = actors.runtime.jobs
    record = jobs.record(job_id, model_id)
    assert record is not None
    if record.error is not None or record.feature_key is None:
        err = record.error
        error = JobError(
            code=err.code if err else "model-error",
            message=err.message if err else "no features",
            model=model_id,
            part="extract",
        )
        jobs.model_progress(job_id, model_id, status="failed", error=error.model_dump())
        jobs.record_error(job_id, error)
        if jobs.complete_part(job_id, model_id):
            actors.finalise.send(job_id)
        return
    jobs.model_progress(job_id, model_id, status="extracted", cached=record.cached, done=total, total=total)
    actors.score.send(job_id, model_id)


def _run_extract(actors: Actors, job_id: str, *model_ids: str) -> None:
    """Extract a group of the job's models that share a preprocessing config (or one model).

    The uncached models of the group go through one shared decode (``extract_shared``), the others
    (features in the store, a model that cannot join the shared pass) one at a time (``extract_model``);
    each model's record is written and handed on (``score``, or its part completed with its error) as
    soon as it is there. A model's own failure stays its own: a typed model error (weights missing or
    corrupt) is its record's error, and an untyped one is recorded on that model while its group mates
    go on, then the message is retried for the models still without a record.

    Redelivery does no double work: models whose part is done are skipped, models with a record are not
    extracted again (and are handed on only if no delivery did so yet), and features in the store are
    read, not recomputed.
    """

    rt = actors.runtime
    jobs = rt.jobs
    todo = [m for m in model_ids if not jobs.is_done(job_id, m)]
    if not todo:
        return
    limit = extract_time_limit_ms(rt.settings, len(model_ids))
    options: dict[str, Any] = {} if limit is None else {"time_limit": limit}
    state = _begin(
        rt,
        job_id,
        [f"extract:{m}" for m in todo],
        lambda ms: actors.extract.send_with_options(args=(job_id, *model_ids), delay=ms, **options),
    )
    if state is None:
        return
    failure: Exception | None = None
    with _job_errors(rt, job_id, "extract", model_ids[0] if len(model_ids) == 1 else None):
        total = int(json.loads(state["sample"])["num_sampled"])
        missing = [m for m in todo if jobs.record(job_id, m) is None]
        for model_id in todo:
            if model_id not in missing and not _forwarded(rt, job_id, model_id):
                _hand_on(actors, job_id, model_id, total)  # a previous delivery stopped in between
        if not missing:
            return
        plan = rt.plan(job_id, state)
        entries = [_entry(plan, m) for m in missing]
        summary = _summary(state)
        smp = rt.sample(summary)
        started: set[str] = set()
        common: dict[str, Any] = {
            "device": rt.device,
            "store": rt.store,
            "cancel": lambda: jobs.cancelled(job_id),
            "load": rt.models.load,
            "on_compute": lambda: jobs.count("extractions"),
        }
        with rt.device_lock.held():
            shared: dict[str, Extraction] = {}
            if len(entries) > 1:
                try:
                    shared = extract_shared(
                        entries,
                        smp,
                        rt.settings,
                        progress=_group_progress(rt, job_id, len(smp.data), started),
                        **common,
                    )
                except (ZoorankError, JobCancelledError):
                    raise
                except Exception as exc:  # a model broke the shared pass: alone below, it fails alone
                    jobs.record_error(
                        job_id,
                        JobError(
                            code="worker-error",
                            message=f"{type(exc).__name__}: {_first_line(exc)} "
                            "(the group's models are extracted one at a time)",
                            part="extract",
                        ),
                    )
            for entry in entries:
                run = shared.get(entry.id)
                if run is None:
                    if entry.id not in started:
                        started.add(entry.id)
                        jobs.model_progress(
                            job_id, entry.id, status="extracting", worker=rt.worker_id, total=len(smp.data)
                        )
                    try:
                        run = extract_model(
                            entry,
                            smp,
                            rt.settings,
                            progress=_progress_writer(rt, job_id, entry.id),
                            **common,
                        )
                    except (ZoorankError, JobCancelledError):
                        raise
                    except Exception as exc:  # this model's own: recorded on it, retried after its mates
                        if len(model_ids) == 1:
                            raise
                        jobs.record_error(
                            job_id,
                            JobError(
                                code="worker-error",
                                message=f"{type(exc).__name__}: {_first_line(exc)} "
                                f"(retried up to {rt.settings.max_retries} times)",
                                model=entry.id,
                                part="extract",
                            ),
                        )
                        failure = failure or exc
                        continue
                if _save_record(rt, job_id, entry, summary, run):
                    _hand_on(actors, job_id, entry.id, total)
    if failure is not None:
        raise failure


def _cell_of(cells: Cells, name: str) -> Cells:

    out = Cells()
    if name in cells.scores:
        out.scores[name] = cells.scores[name]
    if name in cells.errors:
        out.errors[name] = cells.errors[name]
    if name in cells.info:
        out.info[name] = cells.info[name]
    return out


def _run_score(actors: Actors, job_id: str, model_id: str) -> None:

    rt = actors.runtime
    state = _begin(
        rt,
        job_id,
        f"score:{model_id}",
        lambda ms: actors.score.send_with_options(args=(job_id, model_id), delay=ms),
    )
    if state is None or rt.jobs.is_done(job_id, model_id):
        return
    jobs = rt.jobs
    with _job_errors(rt, job_id, "score", model_id):
        record = jobs.record(job_id, model_id)
        if record is None:
            raise RuntimeError(f"score of {model_id} ran before its extraction record was written")
        plan = rt.plan(job_id, state)
        entry = _entry(plan, model_id)
        mkey = model_digest(entry_digest(entry), _summary(state), rt.settings)
        model_plans = [p for p in plan.scorers if p.spec.kind == "model"]
        cell_keys = {
            p.name: keys.cell(cell_digest(mkey, p.name, p.spec.version, p.params)) for p in model_plans
        }
        values = cast(list[Any], rt.redis.mget(list(cell_keys.values()))) if cell_keys else []
        cached = {
            n: cells_from_dict(json.loads(v)) for n, v in zip(cell_keys, values, strict=True) if v is not None
        }
        missing = [n for n in cell_keys if n not in cached]
        computed = merge_cells()
        if missing:
            jobs.model_progress(job_id, model_id, status="scoring")
            run = load_extraction(entry, record, rt.store)
            inputs = run.inputs()
            assert inputs is not None and run.features is not None
            computed = score_model(
                model_id,
                inputs,
                run.features.labels,
                plan.scorers,
                progress=score_progress(partial(jobs.model_progress, job_id, model_id)),
                cancel=lambda: jobs.cancelled(job_id),
                only=missing,
            )
            pipe = rt.redis.pipeline(transaction=False)
            for name in missing:
                pipe.set(
                    cell_keys[name],
                    json.dumps(cells_to_dict(_cell_of(computed, name))),
                    ex=rt.settings.cache_ttl_s,
                )
            pipe.execute()
        cells = merge_cells(*cached.values(), computed)
        rt.redis.hsetnx(keys.job_cells(job_id), model_id, json.dumps(cells_to_dict(cells)))
        jobs.model_progress(
            job_id,
            model_id,
            status="done",
            scorer=None,
            scorers_done=len(model_plans),
            scorers_total=len(model_plans),
            folds_done=0,
            folds_total=0,
            score_eta_s=0.0,
        )
        if jobs.complete_part(job_id, model_id):
            actors.finalise.send(job_id)


def _run_finalise(actors: Actors, job_id: str) -> None:

    rt = actors.runtime
    state = _begin(
        rt, job_id, "finalise", lambda ms: actors.finalise.send_with_options(args=(job_id,), delay=ms)
    )
    if state is None:
        return
    jobs = rt.jobs
    with _job_errors(rt, job_id, "finalise", None):
        jobs.emit(job_id, "progress", {"stage": "finalise", "worker": rt.worker_id})
        plan = rt.plan(job_id, state)
        records = jobs.records(job_id)
        cells = jobs.cells(job_id)
        runs: list[Extraction] = []
        for entry in plan.entries:
            rec = records.get(entry.id)
            if rec is None:  # cannot happen after a complete fan-in; kept as a model error, not a crash
                rec = ExtractionRecord(
                    model_id=entry.id,
                    feature_key=None,
                    cached=False,
                    seconds=0.0,
                    error=ErrorInfo("worker-error", "the model's extraction record is missing"),
                    notes=(),
                    weights_sha256=None,
                    feature_dim=None,
                    has_source_head=False,
                    source_profile=False,
                )
            runs.append(load_extraction(entry, rec, rt.store))
        raw_device = state.get("device") or rt.redis.hget(keys.job(job_id), "device")
        device = raw_device.decode() if isinstance(raw_device, bytes) else str(raw_device or rt.device)
        ranking = finalise(
            _summary(state),
            plan.scorers,
            runs,
            cells,
            device=device,
            ensemble=plan.ensemble,
            cancel=lambda: jobs.cancelled(job_id),
            ensemble_scorer=rt.settings.default_ensemble_scorer,
        )
        jobs.succeed(job_id, ranking.to_json())


def _budget_progress(rt: Runtime, job_id: str) -> Callable[[ProgressEvent], None]:
    """Per-model progress of a budget job: extraction (throttled like ``extract``'s) and scoring."""
    writers: dict[str, Callable[[ProgressEvent], None]] = {}

    def write(event: ProgressEvent) -> None:
        if event.model_id is None:
            return
        if event.stage == "extract":
            if event.model_id not in writers:
                writers[event.model_id] = _progress_writer(rt, job_id, event.model_id)
            writers[event.model_id](event)
        elif event.stage == "score" and event.done == 0:
            rt.jobs.model_progress(job_id, event.model_id, status="scoring", worker=rt.worker_id)

    return write


def _run_budget(actors: Actors, job_id: str) -> None:
    """A budget job (``sampling.budget``): every round in this one message, then the ranking stored.

    Redelivery runs it again from the start; the increments already extracted come from the store.
    """
    rt = actors.runtime
    state = _begin(rt, job_id, "budget", lambda ms: actors.budget.send_with_options(args=(job_id,), delay=ms))
    if state is None:
        return
    jobs = rt.jobs
    with _job_errors(rt, job_id, "budget", None):
        plan = rt.plan(job_id, state)
        smp = rt.sample(_summary(state))

        def on_round(rnd: BudgetRound) -> None:
            jobs.emit(job_id, "progress", {"stage": "budget", "worker": rt.worker_id, **rnd.to_dict()})
            for m in rnd.dropped:
                jobs.model_progress(job_id, m, status="dropped", done=rnd.num_samples, total=len(smp.data))

        ranking = budget_rank(
            plan,
            rt.settings,
            smp=smp,
            device=rt.device,
            progress=_budget_progress(rt, job_id),
            cancel=lambda: jobs.cancelled(job_id),
            load=rt.models.load,
            on_compute=lambda: jobs.count("extractions"),
            hold=rt.device_lock.held,
            on_round=on_round,
        )
        rt.redis.hsetnx(keys.job(job_id), "device", rt.device)
        for row in ranking.models:
            if row.dropped is None:
                done = ranking.dataset.num_samples
                status = "failed" if row.error is not None else "done"
                jobs.model_progress(job_id, row.id, status=status, done=done, total=len(smp.data))
        jobs.succeed(job_id, ranking.to_json())


def _run_dead_letter(actors: Actors, message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    rt = actors.runtime
    args = list(message.get("args") or [])
    if not args:
        return
    job_id = str(args[0])
    model_id = str(args[1]) if len(args) > 1 else None
    part = str(message.get("actor_name", "?"))
    if len(args) > 2:  # an extract group: the model whose failure exhausted the retries has no record
        pending = [str(m) for m in args[1:] if rt.jobs.record(job_id, str(m)) is None]
        model_id = pending[0] if len(pending) == 1 else None
    trace = str((message.get("options") or {}).get("traceback", "")).strip()
    code = "time-limit-exceeded" if "TimeLimitExceeded" in trace else "worker-error"
    last = trace.splitlines()[-1] if trace else "unknown error"
    retries = retry_info.get("retries", "?")
    rt.jobs.count("dead_letters")
    rt.jobs.fail(
        job_id,
        JobError(
            code=code, message=f"{part} gave up after {retries} retries: {last}", model=model_id, part=part
        ),
    )


def declare_actors(
    broker: Any, settings: Settings, *, runtime_factory: Callable[[], Runtime] | None = None
) -> Actors:
    """Declare ``extract``, ``score``, ``finalise``, ``dead_letter`` and ``budget`` on ``broker``.

    The API side declares them to send messages with the right queue and options; a worker declares
    them to run them. ``runtime_factory`` builds the worker state (default: :class:`Runtime`).
    """
    actors = Actors(broker=broker, settings=settings, runtime_factory=runtime_factory)
    common = {"max_retries": settings.max_retries, "min_backoff": settings.retry_backoff_ms}

    def extract(job_id: str, *model_ids: str) -> None:
        with actors.runtime.running("extract", job_id, *model_ids):
            _run_extract(actors, job_id, *model_ids)

    def score(job_id: str, model_id: str) -> None:
        with actors.runtime.running("score", job_id, model_id):
            _run_score(actors, job_id, model_id)

    def finalise(job_id: str) -> None:
        with actors.runtime.running("finalise", job_id):
            _run_finalise(actors, job_id)

    def dead_letter(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
        _run_dead_letter(actors, message, retry_info)

    def budget(job_id: str) -> None:
        with actors.runtime.running("budget", job_id):
            _run_budget(actors, job_id)

    def declare(fn: Callable[..., None], name: str, **options: Any) -> Any:
        return dramatiq.actor(actor_name=name, queue_name=ACTOR_QUEUES[name], broker=broker, **options)(fn)

    actors.dead_letter = declare(dead_letter, "dead_letter", time_limit=60_000, max_retries=3)
    actors.extract = declare(
        extract,
        "extract",
        time_limit=settings.extract_time_limit_s * 1000,
        on_retry_exhausted="dead_letter",
        **common,
    )
    actors.score = declare(
        score,
        "score",
        time_limit=settings.score_time_limit_s * 1000,
        on_retry_exhausted="dead_letter",
        **common,
    )
    actors.finalise = declare(
        finalise,
        "finalise",
        time_limit=settings.score_time_limit_s * 1000,
        on_retry_exhausted="dead_letter",
        **common,
    )
    actors.budget = declare(
        budget,
        "budget",
        time_limit=(settings.extract_time_limit_s + settings.score_time_limit_s) * 1000,
        on_retry_exhausted="dead_letter",
        **common,
    )
    return actors
