"""Job state in Redis: the job hash, per-model records and cells, events, and compare-and-set transitions."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from service.jobs import keys
from service.jobs.models import ACTIVE_STATUSES, JobError, top_model
from service.jobs.request import decode_policy
from service.pipeline.extract import ExtractionRecord
from service.pipeline.schema import _jsonable
from service.pipeline.score import cells_from_dict
from service.settings import Settings
from zoo.store import canonical_json

if TYPE_CHECKING:
    from redis import Redis

    from service.pipeline.extract import ExtractionRecord
    from service.pipeline.sample import SampleSummary
    from service.pipeline.types import Cells


def as_str(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def as_str_dict(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {as_str(k): as_str(v) for k, v in raw.items()}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def new_job_id() -> str:
    """``j`` + 12 hex digits of the creation time in ms + 16 random hex digits: sortable by time."""
    return f"j{int(time.time() * 1000):012x}{os.urandom(8).hex()}"


def _digest(doc: Any) -> str:

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
        state = as_str_dict(cast(Mapping[Any, Any], raw)) if raw else None
        # a late write of a worker may leave fields of an expired job behind: without a status, no job
        return state if state is not None and "status" in state else None

    def cancelled(self, job_id: str) -> bool:
        """Whether the cancel flag is set."""
        return bool(self.redis.exists(keys.job_cancel(job_id)))

    def models(self, job_id: str) -> list[str]:
        """The job's model ids in request order."""
        raw = self.redis.hget(keys.job(job_id), "models")
        return [str(m) for m in json.loads(as_str(raw))] if raw else []

    def record(self, job_id: str, model_id: str) -> ExtractionRecord | None:
        """A model's extraction record on this job."""

        raw = self.redis.hget(keys.job_records(job_id), model_id)
        return ExtractionRecord.from_dict(json.loads(as_str(raw))) if raw else None

    def cells(self, job_id: str) -> dict[str, Cells]:
        """model id -> per-model cells stored on this job."""

        raw = cast(Mapping[Any, Any], self.redis.hgetall(keys.job_cells(job_id)))
        return {as_str(k): cells_from_dict(json.loads(as_str(v))) for k, v in raw.items()}

    def records(self, job_id: str) -> dict[str, ExtractionRecord]:
        """model id -> extraction record stored on this job."""

        raw = cast(Mapping[Any, Any], self.redis.hgetall(keys.job_records(job_id)))
        return {as_str(k): ExtractionRecord.from_dict(json.loads(as_str(v))) for k, v in raw.items()}

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
        entry = (
            json.loads(as_str(raw)) if raw else {"id": model_id, "status": "queued", "done": 0, "total": 0}
        )
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
                args=[limit, job_id, now_iso(), self.settings.job_deadline_s + self.settings.job_ttl_s],
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
        if state.get("status") not in ACTIVE_STATUSES:
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
        values = {"ranking": ranking_json, "etag": etag, "top_model": top_model(ranking_json) or ""}
        return self._end(job_id, "succeeded", values)

    def _end(self, job_id: str, status: str, values: Mapping[str, str]) -> bool:
        done = self.transition(
            job_id, ACTIVE_STATUSES, {"status": status, "finished_at": now_iso(), **values}
        )
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
        if state.get("status") in ACTIVE_STATUSES and time.time() > deadline:
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


def replace_record(record: ExtractionRecord, **changes: Any) -> ExtractionRecord:
    """A copy of an extraction record with some fields changed."""

    return dataclasses.replace(record, **changes)
