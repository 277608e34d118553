"""The periodic reconcile: every API and worker process runs a :class:`Reconciler`, one of them acts.

Each ``reconcile_interval_s`` (with a little jitter) every process tries ``SET NX PX`` on
:func:`service.jobs.keys.reconciler` with a lifetime of one interval; the one that gets it runs
:meth:`service.jobs.engine.JobEngine.reconcile` and lets the key expire, so the reconcile runs about once
per interval however many processes there are, and keeps running when any of them dies. Redis being
away is logged and waited out, never raised: that is what ``/health/ready`` reports.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from typing import TYPE_CHECKING

from service.jobs import keys

if TYPE_CHECKING:
    from service.jobs.engine import JobEngine

__all__ = ["Reconciler"]

log = logging.getLogger("zoorank.reconcile")


class Reconciler:
    """A daemon thread that takes part in the periodic reconcile of ``engine``'s Redis.

    Args:
        engine: the job engine (its settings give the interval and the idle threshold).
        name: this process in the election key and the log (``api:<pid>``, ``worker:<id>``).
    """

    def __init__(self, engine: JobEngine, name: str | None = None) -> None:
        self.engine = engine
        self.name = name or f"pid:{os.getpid()}"
        self.interval_s = float(engine.settings.reconcile_interval_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> list[str] | None:
        """Run the reconcile if this process wins this interval's election.

        Returns:
            The ids of the jobs whose parts were re-sent, or None when another process holds the turn.
        """
        redis = self.engine.redis
        won = redis.set(keys.reconciler(), self.name, nx=True, px=max(1, int(self.interval_s * 1000)))
        if not won:
            return None
        resent = self.engine.reconcile()
        if resent:
            log.warning(
                "%s re-sent the parts of %d job(s) that nothing would run: %s",
                self.name,
                len(resent),
                ", ".join(resent[:10]),
            )
        return resent

    def _loop(self) -> None:
        # the first turn comes soon after start (a restarted process reconciles what it left), then one
        # per interval; the jitter spreads processes started together
        wait = min(1.0, self.interval_s)
        while not self._stop.wait(wait):
            try:
                self.run_once()
            except Exception as exc:  # Redis away, a job record damaged: log, try next time
                log.warning("%s: reconcile skipped: %s", self.name, exc)
            wait = self.interval_s * random.uniform(0.9, 1.1)

    def start(self) -> Reconciler:
        """Start the daemon thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="zoorank-reconcile", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (a reconcile in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
