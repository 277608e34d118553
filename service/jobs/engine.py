"""The job engine: ranking jobs in Redis, split into Dramatiq messages, answered from cache when possible.

A job is one :class:`~service.jobs.request.RankingRequest`. :meth:`JobEngine.submit` validates it at once
(typed :class:`~estimators.errors.ZoorankError` on bad input: unknown model or scorer, bad parameter,
dataset outside the roots / missing / empty / single-class, over a limit), computes the request
fingerprint (:func:`service.jobs.request.request_fingerprint`) and then:

1. **cache**: a ranking cached under the fingerprint (``rank:{fp}``, TTL ``cache_ttl_s``) answers at once:
   the job that computed it (same id) or, if that job record expired, a new job that is already
   ``succeeded``; no worker is involved;
2. **single flight**: under a redis-py ``Lock`` on the fingerprint (token-checked release), a job still
   running for the same fingerprint (``fp:{fp}``) is returned instead of a new one, so N concurrent
   identical requests compute once;
3. otherwise a new job is written and its parts are enqueued: the models that are not **warm** (their
   extraction record and every per-model score cell cached and their features in the store: no message
   at all) go to queue ``extract``, one message per group of models that share a preprocessing config
   (at most ``extract_group_size``; the worker decodes each image once for the group), and a model
   whose features are there but some cells are missing gets one ``score`` message. Adding one model to a
   cached ranking therefore extracts only that model.
   A budget request (``sampling.budget``) is one ``budget`` message instead: its rounds depend on each
   other, so one worker runs them all (:func:`service.pipeline.budget.budget_rank`), reusing the feature
   store, with a ``progress`` event per round.

The request fingerprint does not include the device: a ranking, record or cell computed from GPU
features (bf16 autocast) answers a later request served by CPU workers and vice versa; the feature store
keeps both feature sets apart (their keys differ), the caches treat them as the same answer.

Workers (:mod:`service.jobs.handlers`) run ``extract`` (per group) -> ``score`` (per model); the part that
completes last enqueues ``finalise`` exactly once (fan-in guard in :class:`JobStore`), which runs the
set-level scorers, assembles the ranking with :func:`service.pipeline.assemble.finalise`, stores it on the
job and in the cache.

After a Redis crash that lost a part's message, :meth:`JobEngine.reconcile` re-sends the parts of idle
unfinished jobs that no message and no live worker account for; :class:`service.jobs.reconcile.Reconciler`
runs it periodically in every API and worker process, one of them at a time (parts are idempotent).

Redis keys: :mod:`service.jobs.keys`. Job state lives in the job hash; progress per model in
``job:{id}:models``; events (``progress``, ``status``, ``done``) in the ``job:{id}:events`` stream (SSE).
Statuses: ``queued -> running -> succeeded | failed | cancelled``; terminal statuses never change again
(transitions are compare-and-set Lua scripts), so a redelivered message cannot resurrect a job.

Error codes raised here (besides the validation errors of :mod:`service.pipeline`): ``not-found``
(:class:`NotFoundError`), ``not-ready`` (:class:`NotReadyError`), ``too-many-jobs``
(:class:`TooManyJobsError`, ``max_queued_jobs_per_key`` unfinished jobs of one owner). Error codes a job
can end with: any typed error of the pipeline, ``cancelled``, ``deadline-exceeded``,
``time-limit-exceeded`` and ``worker-error`` (a message that failed ``max_retries`` times: a dead letter).
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from redis.exceptions import LockError

from estimators.errors import ZoorankError
from service.errors import (
    InvalidEventIdError,
    NotFoundError,
    NotOwnerError,
    NotReadyError,
    TooManyJobsError,
    UnavailableError,
)
from service.jobs import keys
from service.jobs.broker import QUEUES, Sender, extract_time_limit_ms
from service.jobs.models import (
    ACTIVE_STATUSES,
    JobError,
    JobProgress,
    JobStatus,
    JobView,
    ModelProgress,
    StageProgress,
    part_started,
    stored_top_model,
    top_model,
)
from service.jobs.request import RankingRequest, request_fingerprint, to_plan
from service.jobs.store import (
    JobStore,
    as_str,
    as_str_dict,
    cell_digest,
    model_digest,
    new_job_id,
    now_iso,
    parse_timestamp,
    replace_record,
)
from service.pipeline.budget import per_class_need, plan_schedule
from service.pipeline.extract import ExtractionRecord, group_by_preprocessing
from service.pipeline.sample import SampleMemo, sample
from service.pipeline.score import cells_from_dict, cells_to_dict, merge_cells
from service.settings import Settings
from zoo.store import FeatureStore, entry_digest

if TYPE_CHECKING:
    from redis import Redis

    from service.pipeline.plan import RankPlan
    from service.pipeline.sample import SampleSummary
    from zoo._api import ZooEntry


#: The fields of a job's hash that its view (and the deadline check) reads.
VIEW_FIELDS = (
    "status",
    "models",
    "error",
    "created_at",
    "started_at",
    "finished_at",
    "request",
    "cache_hit",
    "fingerprint",
    "top_model",
    "deadline",
)
#: Largest part of a stream id Redis accepts (each of ``<ms>-<seq>`` is an unsigned 64-bit integer).
_STREAM_ID_PART_MAX = (1 << 64) - 1
_STREAM_ID = re.compile(r"^([0-9]{1,20})-([0-9]{1,20})$")


def check_event_id(value: str | None) -> str | None:
    """``value`` when it is an event id of a job's stream (``<milliseconds>-<sequence>``), None for None.

    The one check of a client's ``Last-Event-ID``: Redis refuses anything else in the middle of a read,
    so it is refused here, before a stream starts.

    Raises:
        InvalidEventIdError: any other string (``-1``, ``null``, ``12``, parts over 2**64 - 1, ...).
    """
    if value is None:
        return None
    match = _STREAM_ID.match(value)
    if match is None or any(int(part) > _STREAM_ID_PART_MAX for part in match.groups()):
        shown = value if len(value) <= 64 else value[:64] + "..."
        raise InvalidEventIdError(
            f"Last-Event-ID {shown!r} is not an event id "
            "(expected <milliseconds>-<sequence>, e.g. 1700000000000-0)",
            param="Last-Event-ID",
        )
    return value


def is_budget_job(state: Mapping[str, str]) -> bool:
    """Whether a job's request has a budget (its one ``budget`` message runs it all)."""
    try:
        request = json.loads(state.get("request") or "{}")
    except ValueError:
        return False
    sampling = request.get("sampling") if isinstance(request, dict) else None
    return isinstance(sampling, dict) and sampling.get("budget") is not None


class JobEngine(JobStore):
    """The API side of the job engine (see the module docstring). Sync, redis-py; thread-safe.

    Args:
        settings: limits, roots, TTLs and the Redis URL the workers share.
        redis_client: the API's client (the broker shares it).
    """

    def __init__(self, settings: Settings, redis_client: Redis) -> None:
        super().__init__(settings, redis_client)
        self.send = Sender(settings, redis_client)
        self.samples = SampleMemo(settings.sample_memo_files)

    def reconcile(self, *, idle_s: float | None = None, limit: int = 10_000) -> list[str]:
        """Re-send the parts of unfinished jobs that nothing will run any more.

        A part (``extract`` or ``score`` of one model, ``finalise`` of the job) is re-sent when all hold:
        its job shows no event for ``idle_s`` seconds (default ``reconcile_idle_s``), the broker holds no
        message for it (waiting, delayed for a retry, or taken by a worker and not yet acknowledged: see
        :meth:`queued_parts`), and no worker with a live heartbeat is named on the model's progress. That
        is the state a Redis crash leaves behind when a part failed while Redis was down (its retry could
        not be enqueued, then its message was acknowledged). Every part is idempotent, so a part re-sent
        while another copy runs costs at most a store lookup: models without an extraction record get
        ``extract``, models with one but not done get ``score``, a job whose parts are all done gets
        ``finalise``. The models of one job that need ``extract`` go together as at submission
        (:meth:`send_extracts`: one message per preprocessing group), so a stranded group is re-sent as one
        message of its unfinished models; a model named by any queued or running part (a group message
        among others) counts as accounted for.

        Returns:
            The ids of the jobs whose parts were re-sent.
        """
        idle = self.settings.reconcile_idle_s if idle_s is None else idle_s
        now_ms = time.time() * 1000
        touched: list[str] = []
        ids = [
            as_str(i)
            for i in cast(list[Any], self.redis.zrevrangebylex(keys.jobs_index(), "+", "-", 0, limit))
        ]
        queued: set[tuple[str, ...]] | None = None  # read once, only when some job is idle
        covered: set[tuple[str, str]] = set()
        for job_id in ids:
            state = self.state(job_id)
            if (
                state is None
                or state.get("status") not in ACTIVE_STATUSES
                or self.check_deadline(job_id, state)
            ):
                continue
            last = cast(list[Any], self.redis.xrevrange(keys.job_events(job_id), count=1))
            last_ms = float(as_str(last[0][0]).split("-")[0]) if last else 0.0
            if now_ms - last_ms < idle * 1000:
                continue
            if queued is None:
                queued = self.queued_parts() | self.running_parts()
                # a model is accounted for by any extract or score part naming it (a group's among others)
                covered = {(p[1], m) for p in queued if p[0] in ("extract", "score") for m in p[2:]}
            if is_budget_job(state):  # one message runs the whole job
                if ("budget", job_id) not in queued:
                    self.send("budget", job_id)
                    self.emit(job_id, "status", {"status": state["status"], "reconciled": True})
                    touched.append(job_id)
                continue
            records = self.records(job_id)
            done = {as_str(m) for m in cast(set[Any], self.redis.smembers(keys.job_done(job_id)))}
            pending = [m for m in self.models(job_id) if m not in done]
            sent = 0
            stranded: list[str] = []
            for model_id in pending:
                if (job_id, model_id) in covered:
                    continue
                if model_id in records:
                    self.send("score", job_id, model_id)
                    sent += 1
                else:
                    stranded.append(model_id)
            if stranded:
                sent += self._send_stranded(job_id, state, stranded)
            if not pending and ("finalise", job_id) not in queued:
                self.send("finalise", job_id)
                sent += 1
            if sent:
                self.emit(job_id, "status", {"status": state["status"], "reconciled": True})
                touched.append(job_id)
        return touched

    def _send_stranded(self, job_id: str, state: Mapping[str, str], model_ids: builtins.list[str]) -> int:
        """Re-send ``extract`` for ``model_ids`` of the job, grouped as at submission; the messages sent."""
        try:
            plan = to_plan(RankingRequest.model_validate_json(state["plan_request"]), self.settings)
            by_id = {e.id: e for e in plan.entries}
            entries = [by_id[m] for m in model_ids]
        except (ZoorankError, ValueError, KeyError):
            # the plan no longer resolves (an entry left the zoo): one message per model, so that each
            # worker records its model's own error
            for model_id in model_ids:
                self.send("extract", job_id, model_id)
            return len(model_ids)
        return self.send_extracts(job_id, entries)

    def send_extracts(self, job_id: str, entries: Sequence[ZooEntry]) -> int:
        """Send ``extract`` for ``entries``: one message per group that shares a preprocessing config
        (:func:`~service.pipeline.extract.group_by_preprocessing`, at most ``extract_group_size`` models),
        so that the worker decodes each image once for the whole group. A message of n models runs under
        n times ``extract_time_limit_s``.

        Returns:
            The number of messages sent.
        """
        groups = group_by_preprocessing(entries, self.settings.extract_group_size)
        for group in groups:
            limit = extract_time_limit_ms(self.settings, len(group))
            self.send("extract", job_id, *(e.id for e in group), time_limit_ms=limit)
        return len(groups)

    def queued_parts(self) -> set[tuple[str, ...]]:
        """``(actor name, *args)`` of every message the broker holds, in every queue and its delay queue.

        A message stays in its queue's message hash from enqueue until a worker acknowledges it, so this
        covers waiting, delayed (retries) and running parts alike; dead letters are not included.
        """
        out: set[tuple[str, ...]] = set()
        for queue in QUEUES:
            for name in (queue, f"{queue}.DQ"):
                for _, raw in self.redis.hscan_iter(keys.broker_messages(name), count=500):
                    try:
                        message = json.loads(raw)
                        out.add((str(message["actor_name"]), *(str(a) for a in message.get("args", ()))))
                    except (ValueError, KeyError, TypeError):
                        continue  # not a Dramatiq message: nothing to match
        return out

    def queue_position(self, job_id: str, *, limit: int = 10_000) -> int | None:
        """Messages waiting ahead of the job's first waiting message (0: next), over the extract and score
        queues (Dramatiq's queues are FIFO lists); None when none of its messages waits in the first
        ``limit`` of a queue."""
        return self.queue_positions([job_id], limit=limit).get(job_id)

    def queue_positions(self, job_ids: Collection[str], *, limit: int = 10_000) -> dict[str, int]:
        """:meth:`queue_position` of several jobs in one pass over the queues (a page of the job list);
        jobs with no waiting message are left out."""
        wanted = set(job_ids)
        best: dict[str, int] = {}
        if not wanted:
            return best
        for queue in QUEUES:
            ids = cast(list[Any], self.redis.lrange(keys.broker_queue(queue), 0, limit - 1))
            if not ids:
                continue
            bodies = cast(list[Any], self.redis.hmget(keys.broker_messages(queue), ids))
            seen: set[str] = set()
            for i, raw in enumerate(bodies):
                try:
                    args = json.loads(raw).get("args", []) if raw else []
                except (ValueError, AttributeError):
                    continue
                job_id = str(args[0]) if args else None
                if job_id in wanted and job_id not in seen:
                    seen.add(job_id)
                    best[job_id] = min(best.get(job_id, i), i)
                    if len(seen) == len(wanted):
                        break
        return best

    def running_parts(self) -> set[tuple[str, ...]]:
        """``(actor name, *args)`` of the parts that workers with a live heartbeat say they run now.

        Covers a part whose message Redis lost while a worker still runs it (a crash restored from an
        append-only file a second old). A frozen or dead worker's heartbeat is not live, so its part
        counts as not running.
        """
        now = int(time.time() * 1000)
        beats = self.redis.zrangebyscore(keys.workers(), now - self.settings.heartbeat_timeout_ms, "+inf")
        ids = [as_str(w) for w in cast(list[Any], beats)]
        if not ids:
            return set()
        pipe = self.redis.pipeline(transaction=False)
        for worker_id in ids:
            pipe.hget(keys.worker(worker_id), "part")
        out: set[tuple[str, ...]] = set()
        for raw in pipe.execute():
            try:
                part = json.loads(as_str(raw)) if raw else None
            except ValueError:
                continue
            if isinstance(part, list) and part:
                out.add(tuple(str(p) for p in part))
        return out

    # -- submit -----------------------------------------------------------------------------------

    def submit(self, request: RankingRequest, *, owner: str | None = None) -> tuple[JobView, bool]:
        """Validate and submit a ranking request (see the module docstring).

        Returns:
            ``(job, from_cache)``: ``from_cache`` is True when the job is already ``succeeded`` because the
            ranking was cached.

        Raises:
            ZoorankError: a typed validation error (the request is refused; nothing was written),
                :class:`TooManyJobsError`, or :class:`UnavailableError` (code ``unavailable``: the
                single-flight lock of this request could not be taken within 60 s).
        """

        plan = to_plan(request, self.settings)
        smp = sample(plan.dataset_ref, plan.spec, self.settings, base=None, memo=self.samples)
        if plan.budget is not None:  # a budget too small for this sample is refused now, not in a worker
            plan_schedule(
                np.asarray(smp.data.labels),
                int(smp.spec.seed),
                len(plan.entries),
                plan.budget,
                floor=per_class_need(plan.scorers),
            )
        summary = smp.summary()
        fp = request_fingerprint(plan, summary, self.settings)
        hit = self._from_cache(fp, request, owner)
        if hit is not None:
            return hit, True

        lock = self.redis.lock(keys.lock(f"fp:{fp}"), timeout=60, blocking_timeout=60, thread_local=False)
        if not lock.acquire():
            raise UnavailableError("an identical request is being submitted right now; retry in a moment")
        try:
            hit = self._from_cache(fp, request, owner)  # double-checked after acquiring
            if hit is not None:
                return hit, True
            running = self.redis.get(keys.fingerprint_job(fp))
            if running:
                state = self.state(as_str(running))
                if (
                    state is not None
                    and state.get("status") in ACTIVE_STATUSES
                    and not self.check_deadline(as_str(running), state)
                ):
                    return self.get(as_str(running)), False
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
        if plan.budget is not None:
            self.send("budget", job_id)
        else:
            self._enqueue_parts(job_id, plan, summary)
        return self.get(job_id), False

    def _from_cache(self, fp: str, request: RankingRequest, owner: str | None) -> JobView | None:
        """The succeeded job answering ``fp`` from the ranking cache, or None (not cached, or finishing).

        A job that computed ``fp`` writes the cache and only then reads ``succeeded``. In that window its
        ranking is cached but the job is still active: None then, so that the caller joins that job
        instead of minting a second one for the same request.
        """
        # whether it is cached first: the document itself is only read when a new job must hold it
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(keys.ranking(fp))
        pipe.get(keys.fingerprint_job(fp))
        is_cached, previous = pipe.execute()
        if not is_cached:
            return None
        if previous:
            state = self.view_states([as_str(previous)])[0]
            status = None if state is None else state.get("status")
            if state is not None and status == "succeeded":
                self.count("cache_hits")
                return self._views([(as_str(previous), state)])[0]
            if (
                state is not None
                and status in ACTIVE_STATUSES
                and not self.check_deadline(as_str(previous), state)
            ):
                return None
        cached = self.redis.get(keys.ranking(fp))
        if cached is None:  # expired since
            return None
        self.count("cache_hits")
        # the cached ranking outlived its job record: a new job, already succeeded
        job_id = new_job_id()
        now = now_iso()
        ranking_json = as_str(cached)
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
                "top_model": top_model(ranking_json) or "",
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
                "created_at": now_iso(),
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
        """``extract`` for the models without features (:meth:`send_extracts`: one message per
        preprocessing group), ``score`` for those missing cells; finalise at once when every model is warm."""

        store = FeatureStore(self.settings.store_dir)
        model_plans = [p for p in plan.scorers if p.spec.kind == "model"]
        cold: builtins.list[ZooEntry] = []
        for entry in plan.entries:
            mkey = model_digest(entry_digest(entry), summary, self.settings)
            raw = self.redis.get(keys.model_record(mkey))
            record = ExtractionRecord.from_dict(json.loads(as_str(raw))) if raw else None
            usable = (
                record is not None
                and record.error is None
                and record.feature_key is not None
                and store.path_for(record.feature_key).is_file()
            )
            if not usable or record is None:
                cold.append(entry)
                continue
            warm = replace_record(record, cached=True, seconds=0.0)
            self.redis.hset(keys.job_records(job_id), entry.id, json.dumps(warm.to_dict()))
            cell_keys = [keys.cell(cell_digest(mkey, p.name, p.spec.version, p.params)) for p in model_plans]
            values = cast(list[Any], self.redis.mget(cell_keys)) if cell_keys else []
            if any(v is None for v in values):
                self.model_progress(
                    job_id, entry.id, status="extracted", cached=True, done=summary.num_sampled
                )
                self.send("score", job_id, entry.id)
                continue
            cells = merge_cells(*(cells_from_dict(json.loads(as_str(v))) for v in values))
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
                self.send("finalise", job_id)
        if cold:
            self.send_extracts(job_id, cold)

    # -- reading ----------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobView:
        """The job's current view.

        Raises:
            NotFoundError: no such job (or it expired).
        """
        state = self.view_states([job_id])[0]
        if state is None:
            raise NotFoundError(f"no job {job_id!r}", param="job_id")
        if self.check_deadline(job_id, state):
            state = self.view_states([job_id])[0] or state
        return self._views([(job_id, state)])[0]

    def view_states(self, job_ids: builtins.list[str]) -> builtins.list[dict[str, str] | None]:
        """The fields of each job's hash a view reads (:data:`VIEW_FIELDS`), in one round trip; None for
        a job that does not exist. The ranking document, the largest field, is left where it is."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(keys.job(job_id), list(VIEW_FIELDS))
        out: builtins.list[dict[str, str] | None] = []
        for values in pipe.execute():
            state = {f: as_str(v) for f, v in zip(VIEW_FIELDS, values, strict=True) if v is not None}
            out.append(state if "status" in state else None)
        return out

    def _views(self, jobs: builtins.list[tuple[str, Mapping[str, str]]]) -> builtins.list[JobView]:
        """The views of ``(job id, view state)`` pairs, reading what they need of Redis in one round trip
        (plus one pass over the queues when some wait there, for their queue positions)."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id, state in jobs:
            pipe.hgetall(keys.job_models(job_id))
            pipe.exists(keys.job_finalise(job_id))
            pipe.lrange(keys.job_errors(job_id), 0, 99)
            # a job that ended before ``top_model`` was stored: computed from its ranking
            if state.get("status") == JobStatus.succeeded.value and "top_model" not in state:
                pipe.hget(keys.job(job_id), "ranking")
            else:
                pipe.echo("")
        replies = pipe.execute()
        queued = [job_id for job_id, state in jobs if state.get("status") == JobStatus.queued.value]
        positions: dict[str, int] | None = None

        def position(job_id: str) -> int | None:
            nonlocal positions
            if positions is None:  # once, for every queued job of the batch
                positions = self.queue_positions(queued)
            return positions.get(job_id)

        views: builtins.list[JobView] = []
        for i, (job_id, state) in enumerate(jobs):
            models_raw, finalising, errors_raw, ranking = replies[4 * i : 4 * i + 4]
            if ranking:
                state = {**state, "ranking": as_str(ranking)}
            views.append(self._view(job_id, state, models_raw, bool(finalising), errors_raw, position))
        return views

    def _view(
        self,
        job_id: str,
        state: Mapping[str, str],
        models_raw: Mapping[Any, Any],
        finalising: bool,
        errors_raw: builtins.list[Any],
        position: Callable[[str], int | None],
    ) -> JobView:
        models = [str(m) for m in json.loads(state.get("models", "[]"))]
        entries = {as_str(k): json.loads(as_str(v)) for k, v in models_raw.items()}
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
                    scorer=e.get("scorer"),
                    scorers_done=int(e.get("scorers_done", 0)),
                    scorers_total=int(e.get("scorers_total", 0)),
                    folds_done=int(e.get("folds_done", 0)),
                    folds_total=int(e.get("folds_total", 0)),
                    score_elapsed_s=e.get("score_elapsed_s"),
                    score_eta_s=e.get("score_eta_s"),
                )
            )
        status = JobStatus(state["status"])
        extracted = sum(1 for p in progress if p.status not in ("queued", "extracting"))
        scored = sum(1 for p in progress if p.status in ("done", "cached", "failed", "dropped"))
        finalised = 1 if status == JobStatus.succeeded else 0
        # A job is running once a worker has taken any of its parts. The hash's ``queued`` can trail that:
        # it is read before the models' progress, a part's progress can outlive a lost write (Redis
        # restarted on its append-only file), and a worker's ``queued -> running`` compare-and-set stays
        # the one writer of the stored status. Models warm at submission are no started part: the job
        # waits for a worker (and its owner's concurrency limit) to score them.
        if status == JobStatus.queued and any(part_started(p) for p in progress):
            status = JobStatus.running
        started = status != JobStatus.queued
        if status.terminal:
            stage = "done"
        elif not started:
            stage = "queued"
        elif finalising:
            stage = "finalise"
        elif extracted < len(models):
            stage = "extract"
        else:
            stage = "score"
        errors = [JobError.model_validate_json(as_str(e)) for e in errors_raw]
        error = JobError.model_validate_json(state["error"]) if state.get("error") else None
        created = parse_timestamp(state.get("created_at"))
        assert created is not None
        request = RankingRequest.model_validate_json(state["request"])
        return JobView(
            id=job_id,
            name=request.name,
            status=status,
            stage=stage,
            created_at=created,
            started_at=parse_timestamp(state.get("started_at")),
            finished_at=parse_timestamp(state.get("finished_at")),
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
            request=request,
            top_model=stored_top_model(state) if status == JobStatus.succeeded else None,
            queue_position=position(job_id) if stage == "queued" else None,
        )

    def cancel(self, job_id: str, *, owner: str | None = None) -> JobView:
        """Cancel a queued or running job (workers stop at the next batch or scorer); a finished job is
        returned unchanged.

        Identical requests of several API keys share one job, so only the key that created it may stop
        it: ``owner`` is the caller's owner id (None: no authentication, anyone may cancel).

        Raises:
            NotFoundError: no such job.
            NotOwnerError: the job was created by another owner.
        """
        state = self.state(job_id)
        if state is None:
            raise NotFoundError(f"no job {job_id!r}", param="job_id")
        creator = state.get("owner") or None
        if owner is not None and creator is not None and creator != owner:
            raise NotOwnerError(
                f"job {job_id} was created by another API key; only that key may cancel it", param="job_id"
            )
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
                as_str(i)
                for i in cast(list[Any], self.redis.zrevrangebylex(index, start, "-", start=0, num=batch))
            ]
            if not ids:
                return out, None
            candidates: builtins.list[tuple[str, Mapping[str, str]]] = []
            for job_id, state in zip(ids, self.view_states(ids), strict=True):
                if state is None:
                    self.redis.zrem(index, job_id)  # expired
                    continue
                stored = state.get("status")
                # a job stored ``queued`` may be running already (:meth:`_view`): its view decides
                if (
                    status is not None
                    and stored != status.value
                    and (stored, status.value) != ("queued", "running")
                ):
                    continue
                candidates.append((job_id, state))
            # views are built a page at a time: a status filter may drop some, so no more than needed
            for begin in range(0, len(candidates), limit):
                for (job_id, _), view in zip(
                    candidates[begin : begin + limit],
                    self._views(candidates[begin : begin + limit]),
                    strict=True,
                ):
                    if status is not None and view.status != status:
                        continue
                    out.append(view)
                    if len(out) == limit:
                        return out, job_id
            last = ids[-1]
            start = f"({last}"
        return out, last

    def events(
        self, job_id: str, last_event_id: str | None, block_ms: int
    ) -> builtins.list[tuple[str, str, dict[str, Any]]]:
        """Events after ``last_event_id`` (all when None), waiting up to ``block_ms`` for the first one.

        Returns:
            ``(stream id, event name, data)`` tuples; event names are ``progress``, ``status`` and ``done``.

        Raises:
            NotFoundError: no such job. InvalidEventIdError: ``last_event_id`` is not an event id.
        """
        after = check_event_id(last_event_id) or "0-0"
        if not self.redis.exists(keys.job(job_id)):
            raise NotFoundError(f"no job {job_id!r}", param="job_id")
        stream = keys.job_events(job_id)
        if block_ms > 0:
            reply = self.redis.xread({stream: after}, count=500, block=block_ms)
        else:
            reply = self.redis.xread({stream: after}, count=500)
        out: builtins.list[tuple[str, str, dict[str, Any]]] = []
        for _, entries in cast(list[Any], reply) or []:
            for stream_id, fields in entries:
                f = as_str_dict(fields)
                out.append((as_str(stream_id), f.get("event", "progress"), json.loads(f.get("data", "{}"))))
        return out

    def ranking_json(self, job_id: str) -> str:
        """The ranking document of a succeeded job, exactly ``Ranking.to_json()``.

        Raises:
            NotFoundError: no such job. NotReadyError: the job has not succeeded.
        """
        state = self.state(job_id)
        if state is None:
            raise NotFoundError(f"no ranking {job_id!r}", param="ranking_id")
        if state.get("status") != "succeeded" or "ranking" not in state:
            raise NotReadyError(
                f"job {job_id} is {state.get('status')}; its ranking is available once it has succeeded",
                param="ranking_id",
            )
        return state["ranking"]

    def ranking_etag(self, job_id: str) -> str:
        """A strong validator of the ranking document (hex digest of its bytes)."""
        self.ranking_json(job_id)
        return as_str(self.redis.hget(keys.job(job_id), "etag"))

    # -- health and metrics -----------------------------------------------------------------------

    def workers_alive(self) -> int:
        """Workers whose heartbeat is younger than ``heartbeat_timeout_ms``."""
        now = int(time.time() * 1000)
        return int(self.redis.zcount(keys.workers(), now - self.settings.heartbeat_timeout_ms, "+inf"))  # type: ignore[arg-type]

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting per queue (``extract``, ``score``)."""

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
        return {n: int(as_str(v)) if v is not None else 0 for n, v in zip(names, values, strict=True)}
