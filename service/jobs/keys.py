"""Every Redis key zoorank uses, in one place (prefix :data:`PREFIX`).

Invalidate by bumping :data:`VERSION` (or a version inside a key's inputs, e.g. a scorer version in the
request fingerprint), never by scanning and deleting. Keys with a TTL are caches or per-job state that
may expire; the broker's keys (namespace :data:`BROKER_NAMESPACE`) never have one.

Layout (``{..}`` are arguments):

=====================================  ======  ===============================================================
key                                    type    what
=====================================  ======  ===============================================================
``job:{id}``                           hash    status, stage, timestamps, owner, fingerprint, request echo,
                                               plan/sample JSON for workers, model count, error (problem JSON)
                                               and, once succeeded, ranking JSON, etag, top model
``job:{id}:models``                    hash    model id -> progress JSON (status, stage, done, total, error)
``job:{id}:records``                   hash    model id -> ``ExtractionRecord`` JSON
``job:{id}:cells``                     hash    model id -> per-model score cells JSON
``job:{id}:done``                      set     model ids whose part is complete (the fan-in counter)
``job:{id}:finalise``                  string  set once when ``finalise`` was enqueued (fan-in guard)
``job:{id}:cancel``                    string  cooperative cancel flag
``job:{id}:errors``                    list    error JSON per failed message (dead letters included)
``job:{id}:events``                    stream  progress/status/done events for SSE (``XADD MAXLEN ~``)
``job:{id}:attempts:{part}``           string  executions of one part (``INCR``; reliability tests)
``jobs``                               zset    job id by creation time (ms): listing with a cursor
``jobs:owner:{owner}``                 zset    the same per API key owner
``jobs:active:{owner}``                set     the owner's unfinished jobs (``max_queued_jobs_per_key``)
``jobs:running:{owner}``               set     the owner's running jobs (``max_concurrent_jobs_per_key``)
``fp:{fingerprint}``                   string  the job id currently answering a request fingerprint
``rank:{fingerprint}``                 string  finished ranking JSON (TTL ``cache_ttl_s``)
``lock:{name}``                        string  redis-py ``Lock`` tokens (single flight)
``reconciler``                         string  the process running the periodic reconcile (TTL: interval)
``ui:session:{sid}``                   string  a logged-in dashboard session -> its owner (TTL: max age)
``model:{digest}``                     string  extraction record per (model, dataset, sampling) (TTL)
``cell:{digest}``                      string  one model's cell for one scorer+params (TTL)
``stats:{name}``                       string  counters: extractions, cache hits, jobs by outcome
``workers``                            zset    worker id -> last heartbeat (ms)
``worker:{id}``                        hash    worker description (device, queues, host, pid) (TTL)
``idem:{quota}:{digest}``              string  Idempotency-Key record (API)
``ratelimit:{quota}:{window}``         string  requests in one minute window (API)
``ui:flash:{token}``                   string  a refused dashboard form: its values and error (TTL)
=====================================  ======  ===============================================================
"""

from __future__ import annotations

__all__ = [
    "BROKER_NAMESPACE",
    "PREFIX",
    "VERSION",
    "broker_messages",
    "broker_queue",
    "cell",
    "fingerprint_job",
    "idempotency",
    "job",
    "job_attempts",
    "job_cancel",
    "job_cells",
    "job_done",
    "job_errors",
    "job_events",
    "job_finalise",
    "job_models",
    "job_records",
    "jobs_active",
    "jobs_index",
    "jobs_owner",
    "jobs_running",
    "lock",
    "model_record",
    "ranking",
    "reconciler",
    "ui_session",
    "ratelimit",
    "stat",
    "worker",
    "workers",
]

VERSION = "v1"
PREFIX = f"zoorank:{VERSION}:"
#: Namespace of Dramatiq's own keys (queues, acks, heartbeats, dead letters).
BROKER_NAMESPACE = f"zoorank:{VERSION}:dramatiq"


def job(job_id: str) -> str:
    """Hash of one job's state."""
    return f"{PREFIX}job:{job_id}"


def job_models(job_id: str) -> str:
    """Hash: model id -> per-model progress JSON."""
    return f"{PREFIX}job:{job_id}:models"


def job_records(job_id: str) -> str:
    """Hash: model id -> extraction record JSON."""
    return f"{PREFIX}job:{job_id}:records"


def job_cells(job_id: str) -> str:
    """Hash: model id -> per-model score cells JSON."""
    return f"{PREFIX}job:{job_id}:cells"


def job_done(job_id: str) -> str:
    """Set of model ids whose part is complete."""
    return f"{PREFIX}job:{job_id}:done"


def job_finalise(job_id: str) -> str:
    """Set once, by the message that completes the last part, when it enqueues ``finalise``."""
    return f"{PREFIX}job:{job_id}:finalise"


def job_cancel(job_id: str) -> str:
    """Cooperative cancel flag."""
    return f"{PREFIX}job:{job_id}:cancel"


def job_errors(job_id: str) -> str:
    """List of error JSON documents (failed and dead-lettered messages)."""
    return f"{PREFIX}job:{job_id}:errors"


def job_events(job_id: str) -> str:
    """Stream of progress events (SSE)."""
    return f"{PREFIX}job:{job_id}:events"


def job_attempts(job_id: str, part: str) -> str:
    """Counter of executions of one part (``extract:<model>``, ``score:<model>``, ``finalise``)."""
    return f"{PREFIX}job:{job_id}:attempts:{part}"


def jobs_index() -> str:
    """Sorted set of every job id by creation time in ms."""
    return f"{PREFIX}jobs"


def jobs_owner(owner: str) -> str:
    """Sorted set of one owner's job ids by creation time in ms."""
    return f"{PREFIX}jobs:owner:{owner}"


def jobs_active(owner: str) -> str:
    """Set of one owner's unfinished job ids."""
    return f"{PREFIX}jobs:active:{owner}"


def jobs_running(owner: str) -> str:
    """Set of one owner's running job ids (``max_concurrent_jobs_per_key``)."""
    return f"{PREFIX}jobs:running:{owner}"


def fingerprint_job(fingerprint: str) -> str:
    """The job currently answering a request fingerprint."""
    return f"{PREFIX}fp:{fingerprint}"


def ranking(fingerprint: str) -> str:
    """The cached ranking JSON of a request fingerprint."""
    return f"{PREFIX}rank:{fingerprint}"


def lock(name: str) -> str:
    """A single-flight lock (``fp:<fingerprint>`` for submissions)."""
    return f"{PREFIX}lock:{name}"


def reconciler() -> str:
    """Held (``SET NX PX``) by the one process that runs the periodic reconcile in this interval."""
    return f"{PREFIX}reconciler"


def ui_session(sid: str) -> str:
    """A logged-in dashboard session (value: its owner); deleted at logout, expires with the cookie."""
    return f"{PREFIX}ui:session:{sid}"


def model_record(digest: str) -> str:
    """Cached extraction record of one (model, dataset, sampling, decode policy)."""
    return f"{PREFIX}model:{digest}"


def cell(digest: str) -> str:
    """Cached per-model score cell of one (model, dataset, sampling, scorer, version, params)."""
    return f"{PREFIX}cell:{digest}"


def stat(name: str) -> str:
    """A counter (``extractions``, ``cache_hits``, ``jobs_succeeded``, ...)."""
    return f"{PREFIX}stats:{name}"


def workers() -> str:
    """Sorted set: worker id -> last heartbeat (ms)."""
    return f"{PREFIX}workers"


def worker(worker_id: str) -> str:
    """Hash describing one worker (device, queues, host, pid), with a TTL."""
    return f"{PREFIX}worker:{worker_id}"


def idempotency(quota_id: str, key_digest: str) -> str:
    """An ``Idempotency-Key`` record of one API key (the key itself is hashed by the caller)."""
    return f"{PREFIX}idem:{quota_id}:{key_digest}"


def ratelimit(quota_id: str, window: int) -> str:
    """Requests of one API key in one minute window."""
    return f"{PREFIX}ratelimit:{quota_id}:{window}"


def ui_flash(token: str) -> str:
    """A dashboard form the server refused (values and error) for the page its redirect shows."""
    return f"{PREFIX}ui:flash:{token}"


def broker_messages(queue: str) -> str:
    """Dramatiq's hash of message id -> message of ``queue`` (``extract``, ``score.DQ``, ...): a message
    stays there from enqueue until a worker acknowledges it, waiting, delayed or running."""
    return f"{BROKER_NAMESPACE}:{queue}.msgs"


def broker_queue(queue: str) -> str:
    """Dramatiq's list of message ids waiting in ``queue`` (its length is the queue depth)."""
    return f"{BROKER_NAMESPACE}:{queue}"
