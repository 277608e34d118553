"""Worker processes: ``zoorank worker --device cuda:N|cpu --queues extract,score``, and the in-process worker.

A worker is one long-lived process with one Dramatiq worker thread: one message at a time, so one
extraction at a time on its device (a host-wide lock also keeps two processes off the same device),
and its loaded models stay warm between messages (:class:`service.jobs.handlers.ModelCache`). Scale out by
starting more workers, on any number of machines, all pointing at the same Redis (``REDIS_URL``) and the
same feature store (``ZOORANK_FEATURE_STORE`` on a shared filesystem) with the same data roots: one per GPU
with ``--queues extract`` (or ``extract,score``), and CPU workers with ``--queues score``. At least one
worker must consume ``score``: ``finalise`` and dead letters run there.

Every worker writes a heartbeat (``zoorank:v1:workers``, a sorted set by last beat, and its ``worker:{id}``
hash with the part it runs now) every third of ``heartbeat_timeout_ms``; ``GET /health/ready`` counts the
live ones, and the reconcile (:mod:`service.jobs.reconcile`, which also runs in every worker) leaves the
parts they run alone. Dramatiq's own broker heartbeat
decides redelivery: the messages of a worker silent for ``heartbeat_timeout_ms`` go back to their queue.

SIGTERM or SIGINT stops a worker gracefully: it finishes its current message (up to ``stop_timeout``)
and gives back the prefetched ones. CUDA is only touched inside the worker process (lazily, on its first
message), never in a parent.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dramatiq

from service.errors import SettingsError
from service.jobs import keys
from service.jobs.broker import QUEUES, make_broker
from service.jobs.engine import JobEngine
from service.jobs.handlers import Actors, Runtime, declare_actors
from service.jobs.reconcile import Reconciler
from service.pipeline.zoo_manifest import load_zoo
from service.settings import Settings
from zoo.features import check_device

__all__ = ["WorkerHandle", "main", "run_worker", "start_in_process_worker"]

log = logging.getLogger("zoorank.worker")


@dataclass
class WorkerHandle:
    """A running worker (threads in this process). :meth:`stop` ends it.

    Attributes:
        worker_id: the id of its heartbeat entry.
        actors: its declared actors (``actors.runtime`` holds the loaded models).
    """

    worker: Any
    actors: Actors
    worker_id: str
    device: str
    queues: tuple[str, ...]
    reconciler: Reconciler | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _beat: threading.Thread | None = None

    def _heartbeat(self) -> None:
        rt = self.actors.runtime
        interval = max(0.1, rt.settings.heartbeat_timeout_ms / 3000)
        info = {
            "id": self.worker_id,
            "device": self.device,
            "queues": ",".join(self.queues),
            "host": socket.gethostname(),
            "pid": str(os.getpid()),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        ttl_ms = max(1000, rt.settings.heartbeat_timeout_ms * 2)
        while not self._stop.is_set():
            try:
                pipe = rt.redis.pipeline(transaction=False)
                pipe.zadd(keys.workers(), {self.worker_id: int(time.time() * 1000)})
                part = json.dumps(list(rt.current_part)) if rt.current_part else ""
                pipe.hset(
                    keys.worker(self.worker_id),
                    mapping={**info, "models_loaded": str(len(rt.models)), "part": part},
                )
                pipe.pexpire(keys.worker(self.worker_id), ttl_ms)
                pipe.execute()
            except Exception as exc:  # Redis away for a moment: keep beating, never die of it
                log.warning("heartbeat failed: %s", exc)
            self._stop.wait(interval)

    def start(self) -> WorkerHandle:
        """Start the Dramatiq worker and the heartbeat."""
        self.worker.start()
        self._beat = threading.Thread(target=self._heartbeat, name="zoorank-heartbeat", daemon=True)
        self._beat.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current message (up to ``timeout`` s), requeue prefetched ones, drop the heartbeat."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self.reconciler is not None:
            self.reconciler.stop()
        self.worker.stop(timeout=int(timeout * 1000))
        if self._beat is not None:
            self._beat.join(timeout)
        try:
            rt = self.actors.runtime
            rt.redis.zrem(keys.workers(), self.worker_id)
            rt.redis.delete(keys.worker(self.worker_id))
        except Exception as exc:  # the Redis may be gone already (embedded mode shutting down)
            log.debug("could not remove the heartbeat: %s", exc)
        self.actors.broker.close()


def _check_queues(queues: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(q.strip() for q in queues if q.strip()))
    bad = [q for q in chosen if q not in QUEUES]
    if bad or not chosen:
        raise SettingsError(
            f"unknown queue(s) {bad or list(queues)}; choose from {', '.join(QUEUES)}", param="queues"
        )
    return chosen


def start_in_process_worker(
    settings: Settings,
    *,
    device: str | None = None,
    queues: Sequence[str] = QUEUES,
    imports: Sequence[str] = (),
) -> WorkerHandle:
    """Start a worker in this process (threads): ``zoorank serve``'s embedded mode, and ``run_worker``.

    Args:
        settings: ``redis_url`` must be set (the embedded Redis's URL in embedded mode).
        device: overrides ``settings.device``.
        queues: queues to consume (default both).
        imports: modules to import first (e.g. ones that register extra zoo entries).

    Raises:
        SettingsError: no ``redis_url``, an unknown queue, or a bad device.
        DeviceUnavailableError: the extract queue is asked for on a device this machine lacks.
    """

    for module in imports:
        importlib.import_module(module)
    load_zoo(settings)  # the same manifest entries as the API that sends this worker its jobs
    if device is not None:
        settings = settings.with_overrides(device=device)
    chosen = _check_queues(queues)
    if "extract" in chosen:
        check_device(settings.resolve_device())  # one clear line now, not a traceback at the first job
    broker = make_broker(settings)
    runtime = Runtime(settings)
    actors = declare_actors(broker, settings, runtime_factory=lambda: runtime)
    # what Dramatiq's own CLI does in each worker process: starts the TimeLimit (and shutdown) watchers,
    # without which no time limit would ever fire
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(
        broker, queues=set(chosen), worker_threads=1, worker_timeout=settings.worker_poll_ms
    )
    worker.queue_prefetch = 1  # a busy worker must not sit on messages another worker could run
    reconciler = Reconciler(JobEngine(settings, runtime.redis), name=f"worker:{runtime.worker_id}")
    handle = WorkerHandle(
        worker=worker,
        actors=actors,
        worker_id=runtime.worker_id,
        device=settings.device,
        queues=chosen,
        reconciler=reconciler,
    )
    handle.start()
    reconciler.start()
    return handle


def run_worker(
    settings: Settings,
    *,
    device: str | None = None,
    queues: Sequence[str] = QUEUES,
    imports: Sequence[str] = (),
) -> int:
    """Run a worker in the foreground until SIGTERM or SIGINT; returns the exit status (0)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:  # noqa: ARG001 (signal handler signature)
        stop.set()

    handle = start_in_process_worker(settings, device=device, queues=queues, imports=imports)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info(
        "worker %s ready: device %s, queues %s",
        handle.worker_id,
        handle.device,
        ",".join(handle.queues),
    )
    # one line on stdout for supervisors and tests: the worker is consuming
    sys.stdout.write(json.dumps({"event": "ready", "worker_id": handle.worker_id}) + "\n")
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
        log.info("worker %s stopping", handle.worker_id)
    finally:
        handle.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m service.jobs.worker``: the same as ``zoorank worker``."""
    parser = argparse.ArgumentParser(prog="zoorank worker", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default ZOORANK_DEVICE)")
    parser.add_argument("--queues", default=",".join(QUEUES), help="comma-separated: extract, score")
    parser.add_argument(
        "--import", dest="imports", action="append", default=[], help="module to import first"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_worker(
        Settings.from_env(), device=args.device, queues=args.queues.split(","), imports=args.imports
    )


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess tests
    raise SystemExit(main())
