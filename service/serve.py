"""``zoorank serve``: the API under uvicorn, with an embedded Redis and worker when no ``REDIS_URL`` is set.

* With ``REDIS_URL``: only the API runs here; workers run elsewhere (``zoorank worker``), sharing that
  Redis and the feature store.
* Without it (embedded mode, a laptop): a private ``redis-server`` child is started (unix socket and
  append-only file under ``$ZOORANK_HOME/redis``, see :mod:`service.jobs.redis_server`), then one in-process
  worker (:func:`service.jobs.worker.start_in_process_worker`), then the API. On shutdown (Ctrl-C or SIGTERM)
  uvicorn finishes its requests, the worker stops, and the Redis child is stopped and reaped, in that order.
  The code path is the one a cluster runs: the same broker, actors and keys, just all on one machine.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType

import uvicorn

from service.app import create_app
from service.jobs.redis_server import start_redis_server
from service.jobs.worker import start_in_process_worker
from service.settings import Settings

log = logging.getLogger("zoorank.serve")


@contextmanager
def embedded_backend(settings: Settings) -> Iterator[Settings]:
    """Start the private Redis and the in-process worker when ``settings`` has no Redis URL.

    Yields:
        The settings to serve with (``redis_url`` pointing at the private Redis in embedded mode).
    """
    if settings.redis_url is not None:
        yield settings
        return

    with ExitStack() as stack:
        server = start_redis_server(settings)
        stack.callback(server.stop)
        served = settings.with_overrides(redis_url=server.url)
        log.info("embedded mode: private redis-server (pid %s) at %s", server.pid, server.url)
        worker = start_in_process_worker(served)
        stack.callback(worker.stop)
        yield served


def serve(settings: Settings, *, log_level: str = "info") -> None:
    """Serve the API on ``settings.host:settings.port`` until interrupted (see the module docstring)."""

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    # uvicorn handles SIGINT/SIGTERM itself (graceful shutdown) and then re-raises the signal with the
    # handler it found at start. With the default handlers that re-raise would kill the process before the
    # worker and the Redis child are stopped, so the handlers it finds are no-ops: serve() then returns
    # normally, the ExitStack below stops the worker and Redis, and the exit status is 0.
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with embedded_backend(settings) as served:
            app = create_app(served)
            config = uvicorn.Config(
                app,
                host=served.host,
                port=served.port,
                log_level=log_level,
                proxy_headers=True,
                lifespan="on",
            )
            uvicorn.Server(config).run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 (signal handler signature)
    log.info("signal %d after shutdown: stopping the embedded backend", signum)
