"""The job engine on Redis: requests and fingerprints, job state, the broker, the actors' handlers, workers.

Sending side (the API): :mod:`~service.jobs.request` (the HTTP request and its fingerprint),
:mod:`~service.jobs.engine` (submit, cache, single flight, read, cancel, reconcile) and
:mod:`~service.jobs.broker` (queues, actor names, sending a part by name). Receiving side (workers):
:mod:`~service.jobs.handlers` (what each actor does) and :mod:`~service.jobs.worker` (the process).
Both sides share :mod:`~service.jobs.store` (job state), :mod:`~service.jobs.models` (the job's wire
models) and :mod:`~service.jobs.keys` (every Redis key template). The sending side never imports the
handlers: a message names its actor, as in Dramatiq and arq.
"""
