"""The job engine: ranking jobs in Redis, split into Dramatiq messages, answered from cache when possible.

A job is one :class:`~service.requests.RankingRequest`. :meth:`JobEngine.submit` validates it at once
(typed :class:`~estimators.errors.ZoorankError` on bad input: unknown model or scorer, bad parameter,
dataset outside the roots / missing / empty / single-class, over a limit), computes the request
fingerprint (:func:`service.requests.request_fingerprint`) and then:

1. **cache**: a ranking cached under the fingerprint (``rank:{fp}``, TTL ``cache_ttl_s``) answers at once:
   the job that computed it (same id) or, if that job record expired, a new job that is already
   ``succeeded``; no worker is involved;
2. **single flight**: under a redis-py ``Lock`` on the fingerprint (token-checked release), a job still
   running for the same fingerprint (``fp:{fp}``) is returned instead of a new one, so N concurrent
   identical requests compute once;
3. otherwise a new job is written and its parts are enqueued: one ``extract`` message per model (queue
   ``extract``) unless the model is **warm** (its extraction record and every per-model score cell are
   cached and its features are in the store: it needs no message at all), or one ``score`` message when
   only some cells are missing. Adding one model to a cached ranking therefore extracts only that model.

The request fingerprint does not include the device: a ranking, record or cell computed from GPU
features (bf16 autocast) answers a later request served by CPU workers and vice versa; the feature store
keeps both feature sets apart (their keys differ), the caches treat them as the same answer.

Workers (:mod:`service.actors`) run ``extract`` -> ``score`` per model; the part that completes last
enqueues ``finalise`` exactly once (fan-in guard in :class:`JobStore`), which runs the set-level scorers,
assembles the ranking with :func:`service.pipeline.finalise`, stores it on the job and in the cache.

After a Redis restart that lost queued messages, :meth:`JobEngine.reconcile` re-sends the parts of
unfinished jobs that show no activity (the API may call it at start-up; parts are idempotent).

Redis keys: :mod:`service.keys`. Job state lives in the job hash; progress per model in
``job:{id}:models``; events (``progress``, ``status``, ``done``) in the ``job:{id}:events`` stream (SSE).
Statuses: ``queued -> running -> succeeded | failed | cancelled``; terminal statuses never change again
(transitions are compare-and-set Lua scripts), so a redelivered message cannot resurrect a job.

Error codes raised here (besides the validation errors of :mod:`service.pipeline`): ``not-found``
(:class:`JobNotFoundError`), ``not-ready`` (:class:`RankingNotReadyError`), ``too-many-jobs``
(:class:`TooManyJobsError`, ``max_queued_jobs_per_key`` unfinished jobs of one owner). Error codes a job
can end with: any typed error of the pipeline, ``cancelled``, ``deadline-exceeded``,
``time-limit-exceeded`` and ``worker-error`` (a message that failed ``max_retries`` times: a dead letter).
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ConfigDict, Field

from estimators.errors import ZoorankError
from service import keys
from service.requests import RankingRequest, decode_policy, request_fingerprint, to_plan
from service.settings import Settings

if TYPE_CHECKING:
    from redis import Redis

    from service.actors import Actors
    from service.pipeline import ExtractionRecord, RankPlan, SampleSummary
    from service.ranking import Cells

__all__ = [
    "EngineBusyError",
    "JobEngine",
    "JobError",
    "JobNotFoundError",
    "JobProgress",
    "JobStatus",
    "JobStore",
    "JobView",
    "ModelProgress",
    "RankingNotReadyError",
    "StageProgress",
    "TooManyJobsError",
    "cell_digest",
    "model_digest",
]


class JobNotFoundError(ZoorankError):
    """No job with this id (never submitted, or expired after ``job_ttl_s``)."""

    code = "not-found"


class RankingNotReadyError(ZoorankError):
    """The job has no ranking (yet): it is still running, or it failed or was cancelled."""

    code = "not-ready"


class TooManyJobsError(ZoorankError):
    """The owner already has ``max_queued_jobs_per_key`` unfinished jobs."""

    code = "too-many-jobs"


class EngineBusyError(ZoorankError):
    """Another submission of the same request held its single-flight lock too long; retry shortly."""

    code = "unavailable"


class JobStatus(StrEnum):
    """Where a job is: ``queued -> running -> succeeded | failed | cancelled``."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether the status is final."""
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


_TERMINAL = ("succeeded", "failed", "cancelled")
_ACTIVE = ("queued", "running")


class JobError(BaseModel):
    """Why a job, or one model or message of it, failed.

    Attributes:
        code: the stable error code (``ZoorankError.code``, ``worker-error``, ``time-limit-exceeded``, ...).
        message: one human-readable line.
        model: the model concerned, if any.
        part: the message concerned (``extract``, ``score``, ``finalise``), if any.
    """

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    model: str | None = None
    part: str | None = None


class StageProgress(BaseModel):
    """Models (or, for ``finalise``, steps) done out of total in one stage."""

    model_config = ConfigDict(extra="forbid")

    done: int = Field(ge=0)
    total: int = Field(ge=0)


class ModelProgress(BaseModel):
    """One model of a job.

    Attributes:
        id: zoo entry id.
        status: ``queued``, ``extracting``, ``extracted``, ``scoring``, ``done`` (scored), ``cached``
            (everything came from the caches), ``failed`` (the model is unusable; see ``error``).
        done, total: images through the model during extraction (both equal when features were reused).
        cached: features came from the feature store.
        error: why the model is unusable, if it is.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    status: str
    done: int = 0
    total: int = 0
    cached: bool = False
    error: JobError | None = None


class JobProgress(BaseModel):
    """Progress per stage (``extract``, ``score``, ``finalise``) and per model."""

    model_config = ConfigDict(extra="forbid")

    stages: dict[str, StageProgress]
    models: list[ModelProgress]


class JobView(BaseModel):
    """A job as the API shows it (``GET /v1/jobs/{id}``).

    Attributes:
        id: job id (time-sortable).
        status: ``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``.
        stage: ``queued``, ``extract``, ``score``, ``finalise`` or ``done``.
        created_at, started_at, finished_at: UTC timestamps.
        progress: per stage and per model.
        error: why the job failed (or ``cancelled``), else None.
        errors: every error recorded: failed models, failed or dead-lettered messages.
        cache_hit: the ranking came from the cache (no worker was involved).
        fingerprint: the request fingerprint (the cache key).
        ranking_id, ranking_url: where the ranking is, once ``succeeded``.
        request: the request as submitted.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    status: JobStatus
    stage: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: JobProgress
    error: JobError | None = None
    errors: list[JobError] = Field(default_factory=list)
    cache_hit: bool = False
    fingerprint: str
    ranking_id: str | None = None
    ranking_url: str | None = None
    request: RankingRequest


# --- helpers -------------------------------------------------------------------------------------


def _s(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _h(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in raw.items()}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ts(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def new_job_id() -> str:
    """``j`` + 12 hex digits of the creation time in ms + 16 random hex digits: sortable by time."""
    return f"j{int(time.time() * 1000):012x}{os.urandom(8).hex()}"


def _digest(doc: Any) -> str:
    from zoo.store import canonical_json

    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def model_digest(entry_digest: str, summary: SampleSummary, settings: Settings) -> str:
    """Key of the cached extraction record of one model on one sample under one decode policy."""
    return _digest(
        {
            "model": entry_digest,
            "dataset": summary.fingerprint,
            "sampling": dict(summary.sampling),
            "decode": decode_policy(settings),
        }
    )


def cell_digest(model_key: str, name: str, version: str, params: Mapping[str, Any]) -> str:
    """Key of one cached per-model score cell: (model record key, scorer, version, full params)."""
    from service.schema import _jsonable

    return _digest(
        {"model": model_key, "scorer": name, "version": version, "params": _jsonable(dict(params))}
    )


# compare-and-set of the status: ARGV = [json {"allowed": [...], "set": {...}}]
_TRANSITION = """
local spec = cjson.decode(ARGV[1])
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return 0 end
for _, s in ipairs(spec['allowed']) do
  if s == current then
    for k, v in pairs(spec['set']) do redis.call('HSET', KEYS[1], k, v) end
    return 1
  end
end
return 0
"""

# fan-in: record one completed part; 1 exactly once, when the last part completes
_COMPLETE = """
redis.call('SADD', KEYS[1], ARGV[1])
local total = tonumber(redis.call('HGET', KEYS[3], 'total') or '0')
if total > 0 and redis.call('SCARD', KEYS[1]) >= total then
  if redis.call('SET', KEYS[2], '1', 'NX', 'EX', tonumber(ARGV[2])) then return 1 end
end
return 0
"""

# queued -> running under the owner's concurrency limit: 1 running before, 2 started now, 0 ended, -1 wait
# KEYS = [job hash, owner's running set]; ARGV = [limit (0: none), job id, now]
_START = """
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'running' then return 1 end
if st ~= 'queued' then return 0 end
local limit = tonumber(ARGV[1])
if limit > 0 and redis.call('SCARD', KEYS[2]) >= limit then return -1 end
redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[3])
if limit > 0 then
  redis.call('SADD', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4] or '86400'))
end
return 2
"""

# delete KEYS[1] only when it still holds ARGV[1]
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class JobStore:
    """Job state in Redis, shared by the API side (:class:`JobEngine`) and the workers (actors).

    Args:
        settings: TTLs, limits, ``events_maxlen``.
        redis_client: a redis-py client (bytes or decoded responses both work).
    """

    def __init__(self, settings: Settings, redis_client: Redis) -> None:
        self.settings = settings
        self.redis = redis_client
        self._transition = redis_client.register_script(_TRANSITION)
        self._complete = redis_client.register_script(_COMPLETE)
        self._delete_if = redis_client.register_script(_DELETE_IF)
        self._start = redis_client.register_script(_START)

    # -- reading -------------------------------------------------------------------------------------

    def state(self, job_id: str) -> dict[str, str] | None:
        """The job hash (decoded), or None when there is no such job."""
        raw = self.redis.hgetall(keys.job(job_id))
        state = _h(cast(Mapping[Any, Any], raw)) if raw else None
        # a late write of a worker may leave fields of an expired job behind: without a status, no job
        return state if state is not None and "status" in state else None

    def cancelled(self, job_id: str) -> bool:
        """Whether the cancel flag is set."""
        return bool(self.redis.exists(keys.job_cancel(job_id)))

    def models(self, job_id: str) -> list[str]:
        """The job's model ids in request order."""
        raw = self.redis.hget(keys.job(job_id), "models")
        return [str(m) for m in json.loads(_s(raw))] if raw else []

    def record(self, job_id: str, model_id: str) -> ExtractionRecord | None:
        """A model's extraction record on this job."""
        from service.pipeline import ExtractionRecord

        raw = self.redis.hget(keys.job_records(job_id), model_id)
        return ExtractionRecord.from_dict(json.loads(_s(raw))) if raw else None

    def cells(self, job_id: str) -> dict[str, Cells]:
        """model id -> per-model cells stored on this job."""
        from service.pipeline import cells_from_dict

        raw = cast(Mapping[Any, Any], self.redis.hgetall(keys.job_cells(job_id)))
        return {_s(k): cells_from_dict(json.loads(_s(v))) for k, v in raw.items()}

    def records(self, job_id: str) -> dict[str, ExtractionRecord]:
        """model id -> extraction record stored on this job."""
        from service.pipeline import ExtractionRecord

        raw = cast(Mapping[Any, Any], self.redis.hgetall(keys.job_records(job_id)))
        return {_s(k): ExtractionRecord.from_dict(json.loads(_s(v))) for k, v in raw.items()}

    def is_done(self, job_id: str, model_id: str) -> bool:
        """Whether this model's part already completed (a redelivered message returns at once)."""
        return bool(self.redis.sismember(keys.job_done(job_id), model_id))

    # -- events and progress ----------------------------------------------------------------------

    def emit(self, job_id: str, event: str, data: Mapping[str, Any]) -> None:
        """Append an event (``progress``, ``status`` or ``done``) to the job's stream (bounded length)."""
        self.redis.xadd(
            keys.job_events(job_id),
            {"event": event, "data": json.dumps(dict(data), separators=(",", ":"))},
            maxlen=self.settings.events_maxlen,
            approximate=True,
        )

    def model_progress(self, job_id: str, model_id: str, **fields: Any) -> None:
        """Update one model's progress entry and emit a ``progress`` event."""
        key = keys.job_models(job_id)
        raw = self.redis.hget(key, model_id)
        entry = json.loads(_s(raw)) if raw else {"id": model_id, "status": "queued", "done": 0, "total": 0}
        entry.update(fields)
        self.redis.hset(key, model_id, json.dumps(entry, separators=(",", ":")))
        self.emit(job_id, "progress", {"model": model_id, **entry})

    def record_error(self, job_id: str, error: JobError) -> None:
        """Append an error to the job's error list (which expires with the job)."""
        key = keys.job_errors(job_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(key, error.model_dump_json())
        pipe.expire(key, self.settings.job_deadline_s + self.settings.job_ttl_s)
        pipe.execute()

    def count(self, name: str, amount: int = 1) -> None:
        """Increment a ``stats:{name}`` counter."""
        self.redis.incrby(keys.stat(name), amount)

    # -- transitions ------------------------------------------------------------------------------

    def transition(self, job_id: str, allowed: Sequence[str], values: Mapping[str, str]) -> bool:
        """Set ``values`` on the job hash iff its status is one of ``allowed`` (atomic)."""
        spec = json.dumps({"allowed": list(allowed), "set": dict(values)})
        return bool(self._transition(keys=[keys.job(job_id)], args=[spec]))

    def mark_running(self, job_id: str, owner: str = "") -> bool:
        """``queued -> running`` unless the owner already runs ``max_concurrent_jobs_per_key`` jobs.

        Returns:
            False when the job must wait (the caller defers its message), True otherwise (it is running,
            started now or before, or it already ended).
        """
        limit = self.settings.max_concurrent_jobs_per_key if owner else 0
        started = int(
            self._start(
                keys=[keys.job(job_id), keys.jobs_running(owner)],
                args=[limit, job_id, _now(), self.settings.job_deadline_s + self.settings.job_ttl_s],
            )
        )
        if started == 2:
            self.emit(job_id, "status", {"status": "running"})
        return started != -1

    def complete_part(self, job_id: str, model_id: str) -> bool:
        """Record that a model's part is done; True exactly once: for the caller that must send finalise."""
        ttl = self.settings.job_deadline_s + self.settings.job_ttl_s
        return bool(
            self._complete(
                keys=[keys.job_done(job_id), keys.job_finalise(job_id), keys.job(job_id)],
                args=[model_id, ttl],
            )
        )

    def fail(self, job_id: str, error: JobError) -> bool:
        """End the job as ``failed`` with ``error`` (no effect on a finished job); True if it ended now."""
        self.record_error(job_id, error)
        return self._end(job_id, "failed", {"error": error.model_dump_json()})

    def mark_cancelled(self, job_id: str) -> bool:
        """Set the cancel flag and end the job as ``cancelled`` (no effect on a finished job)."""
        self.redis.set(
            keys.job_cancel(job_id), "1", ex=self.settings.job_deadline_s + self.settings.job_ttl_s
        )
        error = JobError(code="cancelled", message="the job was cancelled")
        return self._end(job_id, "cancelled", {"error": error.model_dump_json()})

    def succeed(self, job_id: str, ranking_json: str) -> bool:
        """Store the ranking on the job and in the cache; end the job as ``succeeded``."""
        etag = hashlib.sha256(ranking_json.encode("utf-8")).hexdigest()[:32]
        state = self.state(job_id) or {}
        if state.get("status") not in _ACTIVE:
            return False
        fp = state.get("fingerprint")
        if fp:
            # Cached before the job reads succeeded: a client that resubmits the moment it sees
            # succeeded must get the cache, not a second computation.
            ttl = self.settings.cache_ttl_s
            pipe = self.redis.pipeline(transaction=False)
            pipe.set(keys.ranking(fp), ranking_json, ex=ttl)
            pipe.set(keys.fingerprint_job(fp), job_id, ex=ttl)
            pipe.execute()
        return self._end(job_id, "succeeded", {"ranking": ranking_json, "etag": etag})

    def _end(self, job_id: str, status: str, values: Mapping[str, str]) -> bool:
        done = self.transition(job_id, _ACTIVE, {"status": status, "finished_at": _now(), **values})
        if not done:
            return False
        state = self.state(job_id) or {}
        fp, owner = state.get("fingerprint", ""), state.get("owner", "")
        if status != "succeeded" and fp:
            self._delete_if(keys=[keys.fingerprint_job(fp)], args=[job_id])
        if owner:
            self.redis.srem(keys.jobs_active(owner), job_id)
            self.redis.srem(keys.jobs_running(owner), job_id)
        self.count(f"jobs_{status}")
        self.expire(job_id, self.settings.job_ttl_s)
        self.emit(job_id, "status", {"status": status})
        self.emit(job_id, "done", {"status": status, "ranking_id": job_id if status == "succeeded" else None})
        return True

    def expire(self, job_id: str, ttl: int) -> None:
        """Put ``ttl`` on every key of the job."""
        pipe = self.redis.pipeline(transaction=False)
        for key in (
            keys.job(job_id),
            keys.job_models(job_id),
            keys.job_records(job_id),
            keys.job_cells(job_id),
            keys.job_done(job_id),
            keys.job_finalise(job_id),
            keys.job_cancel(job_id),
            keys.job_errors(job_id),
            keys.job_events(job_id),
        ):
            pipe.expire(key, ttl)
        pipe.execute()

    def check_deadline(self, job_id: str, state: Mapping[str, str]) -> bool:
        """Fail a job past its deadline (``job_deadline_s`` after creation); True if it is past."""
        deadline = float(state.get("deadline", "inf"))
        if state.get("status") in _ACTIVE and time.time() > deadline:
            self.fail(
                job_id,
                JobError(
                    code="deadline-exceeded",
                    message=f"the job did not finish within {self.settings.job_deadline_s} s "
                    "(ZOORANK_JOB_DEADLINE_S)",
                ),
            )
            return True
        return False


class JobEngine(JobStore):
    """The API side of the job engine (see the module docstring). Sync, redis-py; thread-safe.

    Args:
        settings: limits, roots, TTLs and the Redis URL the workers share.
        redis_client: the API's client (the broker shares it).
    """

    def __init__(self, settings: Settings, redis_client: Redis) -> None:
        super().__init__(settings, redis_client)
        self._actors: Actors | None = None
        self._actors_lock = threading.Lock()

    @property
    def actors(self) -> Actors:
        """The Dramatiq actors (declared on first use; the broker shares this engine's client)."""
        with self._actors_lock:
            if self._actors is None:
                from service.actors import declare_actors, make_broker

                self._actors = declare_actors(make_broker(self.settings, client=self.redis), self.settings)
            return self._actors

    def reconcile(self, *, idle_s: float = 300.0, limit: int = 10_000) -> list[str]:
        """Re-send the parts of unfinished jobs that show no activity for ``idle_s`` seconds.

        For after a Redis restart that lost queued messages (reliability.md §B2; run it at API start-up
        or from an operator's shell). Every part is idempotent, so a message sent twice costs at most a
        store lookup: models without an extraction record get ``extract``, models with one but not done
        get ``score``, and a job whose parts are all done gets ``finalise``.

        Returns:
            The ids of the jobs whose parts were re-sent.
        """
        now_ms = time.time() * 1000
        touched: list[str] = []
        ids = [
            _s(i) for i in cast(list[Any], self.redis.zrevrangebylex(keys.jobs_index(), "+", "-", 0, limit))
        ]
        for job_id in ids:
            state = self.state(job_id)
            if state is None or state.get("status") not in _ACTIVE or self.check_deadline(job_id, state):
                continue
            last = cast(list[Any], self.redis.xrevrange(keys.job_events(job_id), count=1))
            last_ms = float(_s(last[0][0]).split("-")[0]) if last else 0.0
            if now_ms - last_ms < idle_s * 1000:
                continue
            records = self.records(job_id)
            done = {_s(m) for m in cast(set[Any], self.redis.smembers(keys.job_done(job_id)))}
            pending = [m for m in self.models(job_id) if m not in done]
            for model_id in pending:
                if model_id in records:
                    self.actors.score.send(job_id, model_id)
                else:
                    self.actors.extract.send(job_id, model_id)
            if not pending:
                self.actors.finalise.send(job_id)
            self.emit(job_id, "status", {"status": state["status"], "reconciled": True})
            touched.append(job_id)
        return touched

    # -- submit -----------------------------------------------------------------------------------

    def submit(self, request: RankingRequest, *, owner: str | None = None) -> tuple[JobView, bool]:
        """Validate and submit a ranking request (see the module docstring).

        Returns:
            ``(job, from_cache)``: ``from_cache`` is True when the job is already ``succeeded`` because the
            ranking was cached.

        Raises:
            ZoorankError: a typed validation error (the request is refused; nothing was written),
                :class:`TooManyJobsError`, or :class:`EngineBusyError` (code ``unavailable``: the
                single-flight lock of this request could not be taken within 60 s).
        """
        from service.pipeline import sample

        plan = to_plan(request, self.settings)
        summary = sample(plan.dataset_ref, plan.spec, self.settings, base=None).summary()
        fp = request_fingerprint(plan, summary, self.settings)
        hit = self._from_cache(fp, request, owner)
        if hit is not None:
            return hit, True
        from redis.exceptions import LockError

        lock = self.redis.lock(keys.lock(f"fp:{fp}"), timeout=60, blocking_timeout=60, thread_local=False)
        if not lock.acquire():
            raise EngineBusyError("an identical request is being submitted right now; retry in a moment")
        try:
            hit = self._from_cache(fp, request, owner)  # double-checked after acquiring
            if hit is not None:
                return hit, True
            running = self.redis.get(keys.fingerprint_job(fp))
            if running:
                state = self.state(_s(running))
                if (
                    state is not None
                    and state.get("status") in _ACTIVE
                    and not self.check_deadline(_s(running), state)
                ):
                    return self.get(_s(running)), False
            if owner is not None:
                active = int(self.redis.scard(keys.jobs_active(owner)))  # type: ignore[arg-type]
                if active >= self.settings.max_queued_jobs_per_key:
                    raise TooManyJobsError(
                        f"{active} unfinished jobs; the limit is "
                        f"{self.settings.max_queued_jobs_per_key} per key "
                        "(ZOORANK_MAX_QUEUED_JOBS_PER_KEY)",
                        param="owner",
                    )
            job_id = self._create(fp, request, plan, summary, owner)
        finally:
            with contextlib.suppress(LockError):  # expired meanwhile: another holder may own it now
                lock.release()
        self._enqueue_parts(job_id, plan, summary)
        return self.get(job_id), False

    def _from_cache(self, fp: str, request: RankingRequest, owner: str | None) -> JobView | None:
        """The succeeded job answering ``fp`` from the ranking cache, or None (not cached, or finishing).

        A job that computed ``fp`` writes the cache and only then reads ``succeeded``. In that window its
        ranking is cached but the job is still active: None then, so that the caller joins that job
        instead of minting a second one for the same request.
        """
        cached = self.redis.get(keys.ranking(fp))
        if cached is None:
            return None
        previous = self.redis.get(keys.fingerprint_job(fp))
        if previous:
            state = self.state(_s(previous))
            status = None if state is None else state.get("status")
            if status == "succeeded":
                self.count("cache_hits")
                return self.get(_s(previous))
            if state is not None and status in _ACTIVE and not self.check_deadline(_s(previous), state):
                return None
        self.count("cache_hits")
        # the cached ranking outlived its job record: a new job, already succeeded
        job_id = new_job_id()
        now = _now()
        ranking_json = _s(cached)
        models = [m["id"] for m in json.loads(ranking_json)["models"]]
        etag = hashlib.sha256(ranking_json.encode("utf-8")).hexdigest()[:32]
        self._write_job(
            job_id,
            {
                "id": job_id,
                "status": "succeeded",
                "created_at": now,
                "started_at": now,
                "finished_at": now,
                "fingerprint": fp,
                "owner": owner or "",
                "request": request.model_dump_json(),
                "models": json.dumps(models),
                "total": str(len(models)),
                "cache_hit": "1",
                "ranking": ranking_json,
                "etag": etag,
                "deadline": str(time.time() + self.settings.job_deadline_s),
            },
            owner=None,
        )
        self.redis.hset(
            keys.job_models(job_id),
            mapping={
                m: json.dumps({"id": m, "status": "cached", "done": 0, "total": 0, "cached": True})
                for m in models
            },
        )
        self.redis.set(keys.fingerprint_job(fp), job_id, ex=self.settings.cache_ttl_s)
        self.expire(job_id, self.settings.job_ttl_s)
        self.emit(job_id, "done", {"status": "succeeded", "ranking_id": job_id})
        return self.get(job_id)

    def _write_job(self, job_id: str, fields: Mapping[str, str], owner: str | None) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.job(job_id), mapping=dict(fields))
        pipe.zadd(keys.jobs_index(), {job_id: 0})
        owner_id = fields.get("owner") or None
        if owner_id:
            pipe.zadd(keys.jobs_owner(owner_id), {job_id: 0})
        if owner:
            pipe.sadd(keys.jobs_active(owner), job_id)
        pipe.execute()

    def _create(
        self, fp: str, request: RankingRequest, plan: RankPlan, summary: SampleSummary, owner: str | None
    ) -> str:
        job_id = new_job_id()
        models = plan.model_ids
        # the plan's resolved ids replace patterns, so every worker ranks the same models
        fixed = request.model_copy(update={"models": models})
        self._write_job(
            job_id,
            {
                "id": job_id,
                "status": "queued",
                "created_at": _now(),
                "fingerprint": fp,
                "owner": owner or "",
                "request": request.model_dump_json(),
                "plan_request": fixed.model_dump_json(),
                "sample": json.dumps(summary.to_dict()),
                "models": json.dumps(models),
                "total": str(len(models)),
                "cache_hit": "0",
                "deadline": str(time.time() + self.settings.job_deadline_s),
            },
            owner=owner,
        )
        self.redis.hset(
            keys.job_models(job_id),
            mapping={
                m: json.dumps({"id": m, "status": "queued", "done": 0, "total": summary.num_sampled})
                for m in models
            },
        )
        self.emit(job_id, "status", {"status": "queued"})
        self.expire(job_id, self.settings.job_deadline_s + self.settings.job_ttl_s)
        self.redis.set(keys.fingerprint_job(fp), job_id, ex=self.settings.job_deadline_s)
        self.count("jobs_submitted")
        return job_id

    def _enqueue_parts(self, job_id: str, plan: RankPlan, summary: SampleSummary) -> None:
        """One message per model that is not warm; finalise at once when every model is warm."""
        from service.pipeline import ExtractionRecord, cells_from_dict, cells_to_dict, merge_cells
        from zoo.store import FeatureStore, entry_digest

        store = FeatureStore(self.settings.store_dir)
        model_plans = [p for p in plan.scorers if p.spec.kind == "model"]
        for entry in plan.entries:
            mkey = model_digest(entry_digest(entry), summary, self.settings)
            raw = self.redis.get(keys.model_record(mkey))
            record = ExtractionRecord.from_dict(json.loads(_s(raw))) if raw else None
            usable = (
                record is not None
                and record.error is None
                and record.feature_key is not None
                and store.path_for(record.feature_key).is_file()
            )
            if not usable or record is None:
                self.actors.extract.send(job_id, entry.id)
                continue
            warm = replace_record(record, cached=True, seconds=0.0)
            self.redis.hset(keys.job_records(job_id), entry.id, json.dumps(warm.to_dict()))
            cell_keys = [keys.cell(cell_digest(mkey, p.name, p.spec.version, p.params)) for p in model_plans]
            values = cast(list[Any], self.redis.mget(cell_keys)) if cell_keys else []
            if any(v is None for v in values):
                self.model_progress(
                    job_id, entry.id, status="extracted", cached=True, done=summary.num_sampled
                )
                self.actors.score.send(job_id, entry.id)
                continue
            cells = merge_cells(*(cells_from_dict(json.loads(_s(v))) for v in values))
            self.redis.hset(keys.job_cells(job_id), entry.id, json.dumps(cells_to_dict(cells)))
            self.model_progress(
                job_id,
                entry.id,
                status="cached",
                cached=True,
                done=summary.num_sampled,
                total=summary.num_sampled,
            )
            if self.complete_part(job_id, entry.id):
                self.actors.finalise.send(job_id)

    # -- reading ----------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobView:
        """The job's current view.

        Raises:
            JobNotFoundError: no such job (or it expired).
        """
        state = self.state(job_id)
        if state is None:
            raise JobNotFoundError(f"no job {job_id!r}", param="job_id")
        if self.check_deadline(job_id, state):
            state = self.state(job_id) or state
        return self._view(job_id, state)

    def _view(self, job_id: str, state: Mapping[str, str]) -> JobView:
        models = [str(m) for m in json.loads(state.get("models", "[]"))]
        raw = cast(Mapping[Any, Any], self.redis.hgetall(keys.job_models(job_id)))
        entries = {_s(k): json.loads(_s(v)) for k, v in raw.items()}
        progress: list[ModelProgress] = []
        for m in models:
            e = entries.get(m, {"status": "queued"})
            err = e.get("error")
            progress.append(
                ModelProgress(
                    id=m,
                    status=str(e.get("status", "queued")),
                    done=int(e.get("done", 0)),
                    total=int(e.get("total", 0)),
                    cached=bool(e.get("cached", False)),
                    error=None if not err else JobError(**err),
                )
            )
        status = JobStatus(state["status"])
        extracted = sum(1 for p in progress if p.status not in ("queued", "extracting"))
        scored = sum(1 for p in progress if p.status in ("done", "cached", "failed"))
        finalised = 1 if status == JobStatus.succeeded else 0
        if status.terminal:
            stage = "done"
        elif status == JobStatus.queued:
            stage = "queued"
        elif self.redis.exists(keys.job_finalise(job_id)):
            stage = "finalise"
        elif extracted < len(models):
            stage = "extract"
        else:
            stage = "score"
        errors = [
            JobError.model_validate_json(_s(e))
            for e in cast(list[Any], self.redis.lrange(keys.job_errors(job_id), 0, 99))
        ]
        error = JobError.model_validate_json(state["error"]) if state.get("error") else None
        created = _ts(state.get("created_at"))
        assert created is not None
        return JobView(
            id=job_id,
            status=status,
            stage=stage,
            created_at=created,
            started_at=_ts(state.get("started_at")),
            finished_at=_ts(state.get("finished_at")),
            progress=JobProgress(
                stages={
                    "extract": StageProgress(done=extracted, total=len(models)),
                    "score": StageProgress(done=scored, total=len(models)),
                    "finalise": StageProgress(done=finalised, total=1),
                },
                models=progress,
            ),
            error=error,
            errors=errors,
            cache_hit=state.get("cache_hit") == "1",
            fingerprint=state.get("fingerprint", ""),
            ranking_id=job_id if status == JobStatus.succeeded else None,
            ranking_url=f"/v1/rankings/{job_id}" if status == JobStatus.succeeded else None,
            request=RankingRequest.model_validate_json(state["request"]),
        )

    def cancel(self, job_id: str) -> JobView:
        """Cancel a queued or running job (workers stop at the next batch or scorer); a finished job is
        returned unchanged.

        Raises:
            JobNotFoundError: no such job.
        """
        if self.state(job_id) is None:
            raise JobNotFoundError(f"no job {job_id!r}", param="job_id")
        self.mark_cancelled(job_id)
        return self.get(job_id)

    def list(
        self, status: JobStatus | None, cursor: str | None, limit: int, owner: str | None
    ) -> tuple[builtins.list[JobView], str | None]:
        """Jobs newest first, optionally of one status and one owner, ``limit`` per page.

        Returns:
            ``(jobs, next_cursor)``; ``next_cursor`` is None on the last page.
        """
        index = keys.jobs_owner(owner) if owner else keys.jobs_index()
        out: builtins.list[JobView] = []
        start = f"({cursor}" if cursor else "+"
        batch = max(limit * 2, 50)
        last: str | None = None
        for _ in range(20):  # bounded scan when a status filter skips many jobs
            ids = [
                _s(i)
                for i in cast(list[Any], self.redis.zrevrangebylex(index, start, "-", start=0, num=batch))
            ]
            if not ids:
                return out, None
            for job_id in ids:
                last = job_id
                state = self.state(job_id)
                if state is None:
                    self.redis.zrem(index, job_id)  # expired
                    continue
                if status is not None and state.get("status") != status.value:
                    continue
                out.append(self._view(job_id, state))
                if len(out) == limit:
                    return out, job_id
            start = f"({last}"
        return out, last

    def events(
        self, job_id: str, last_event_id: str | None, block_ms: int
    ) -> builtins.list[tuple[str, str, dict[str, Any]]]:
        """Events after ``last_event_id`` (all when None), waiting up to ``block_ms`` for the first one.

        Returns:
            ``(stream id, event name, data)`` tuples; event names are ``progress``, ``status`` and ``done``.

        Raises:
            JobNotFoundError: no such job.
        """
        if not self.redis.exists(keys.job(job_id)):
            raise JobNotFoundError(f"no job {job_id!r}", param="job_id")
        stream = keys.job_events(job_id)
        after = last_event_id or "0-0"
        if block_ms > 0:
            reply = self.redis.xread({stream: after}, count=500, block=block_ms)
        else:
            reply = self.redis.xread({stream: after}, count=500)
        out: builtins.list[tuple[str, str, dict[str, Any]]] = []
        for _, entries in cast(list[Any], reply) or []:
            for stream_id, fields in entries:
                f = _h(fields)
                out.append((_s(stream_id), f.get("event", "progress"), json.loads(f.get("data", "{}"))))
        return out

    def ranking_json(self, job_id: str) -> str:
        """The ranking document of a succeeded job, exactly ``Ranking.to_json()``.

        Raises:
            JobNotFoundError: no such job. RankingNotReadyError: the job has not succeeded.
        """
        state = self.state(job_id)
        if state is None:
            raise JobNotFoundError(f"no ranking {job_id!r}", param="ranking_id")
        if state.get("status") != "succeeded" or "ranking" not in state:
            raise RankingNotReadyError(
                f"job {job_id} is {state.get('status')}; its ranking is available once it has succeeded",
                param="ranking_id",
            )
        return state["ranking"]

    def ranking_etag(self, job_id: str) -> str:
        """A strong validator of the ranking document (hex digest of its bytes)."""
        self.ranking_json(job_id)
        return _s(self.redis.hget(keys.job(job_id), "etag"))

    # -- health and metrics -----------------------------------------------------------------------

    def workers_alive(self) -> int:
        """Workers whose heartbeat is younger than ``heartbeat_timeout_ms``."""
        now = int(time.time() * 1000)
        return int(self.redis.zcount(keys.workers(), now - self.settings.heartbeat_timeout_ms, "+inf"))  # type: ignore[arg-type]

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting per queue (``extract``, ``score``)."""
        from service.actors import QUEUES

        pipe = self.redis.pipeline(transaction=False)
        for q in QUEUES:
            pipe.llen(keys.broker_queue(q))
        return {q: int(n) for q, n in zip(QUEUES, pipe.execute(), strict=True)}

    def stats(self) -> dict[str, int]:
        """Counters: ``jobs_submitted``, ``jobs_succeeded``, ``jobs_failed``, ``jobs_cancelled``,
        ``cache_hits``, ``extractions`` (forward passes run), ``dead_letters``."""
        names = [
            "jobs_submitted",
            "jobs_succeeded",
            "jobs_failed",
            "jobs_cancelled",
            "cache_hits",
            "extractions",
            "dead_letters",
        ]
        values = cast(list[Any], self.redis.mget([keys.stat(n) for n in names]))
        return {n: int(_s(v)) if v is not None else 0 for n, v in zip(names, values, strict=True)}


def replace_record(record: ExtractionRecord, **changes: Any) -> ExtractionRecord:
    """A copy of an extraction record with some fields changed."""
    import dataclasses

    return dataclasses.replace(record, **changes)
