"""The Dramatiq broker, the queues and actor names, and sending a job part by actor name.

Both sides of the engine use this module: the API sends ``extract``, ``score`` and ``finalise`` messages
with :func:`send` (by actor name, as Dramatiq and arq allow), and the workers declare the actors with
their handlers (:mod:`service.jobs.handlers`) on the queues named here. So the sending side never imports
the code that runs a part.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.encoder import JSONEncoder
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from service.errors import SettingsError
from service.jobs import keys
from service.jobs.metrics import stage_timer
from service.settings import Settings

if TYPE_CHECKING:
    from redis import Redis


log = logging.getLogger("zoorank.worker")


QUEUE_EXTRACT = "extract"


QUEUE_SCORE = "score"


QUEUES: tuple[str, ...] = (QUEUE_EXTRACT, QUEUE_SCORE)


#: Share of broker commands (per million) that also requeue the messages of dead workers. Cheap while
#: no worker is dead; high enough that a killed worker's messages move within a few polls.
MAINTENANCE_PER_MILLION = 200_000


def make_broker(settings: Settings, *, client: Redis | None = None) -> Any:
    """A Dramatiq ``RedisBroker`` on ``settings.redis_url`` (or ``client``), JSON messages, our middleware.

    Raises:
        SettingsError: neither a client nor ``redis_url`` is given.
    """

    if not isinstance(dramatiq.get_encoder(), JSONEncoder):
        dramatiq.set_encoder(JSONEncoder())  # never pickle
    middleware = [
        AgeLimit(),
        TimeLimit(time_limit=settings.score_time_limit_s * 1000, interval=200),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(
            max_retries=settings.max_retries,
            min_backoff=settings.retry_backoff_ms,
            max_backoff=max(settings.retry_backoff_ms, 300_000),
        ),
        CurrentMessage(),
    ]
    options: dict[str, Any] = {
        "middleware": middleware,
        "namespace": keys.BROKER_NAMESPACE,
        "heartbeat_timeout": settings.heartbeat_timeout_ms,
        "maintenance_chance": MAINTENANCE_PER_MILLION,
        "dead_message_ttl": settings.job_ttl_s * 1000,
    }
    if client is not None:
        broker = RedisBroker(client=client, **options)  # type: ignore[no-untyped-call]
    elif settings.redis_url is None:
        raise SettingsError(
            "the job engine needs Redis: set REDIS_URL (or ZOORANK_REDIS_URL)", param="redis_url"
        )
    else:
        broker = RedisBroker(url=settings.redis_url, **options)  # type: ignore[no-untyped-call]
    # per-stage run times for /metrics (zoorank_stage_duration_seconds), shared by every worker
    broker.add_middleware(stage_timer(broker.client, keys.stat))
    return broker


#: Actor name -> the queue its messages go to (the handlers declare each actor on this queue).
ACTOR_QUEUES: dict[str, str] = {
    "extract": QUEUE_EXTRACT,
    "score": QUEUE_SCORE,
    "finalise": QUEUE_SCORE,
    "dead_letter": QUEUE_SCORE,
    "budget": QUEUE_EXTRACT,  # extracts as it goes: on the queue of the workers that hold a device
}


def extract_time_limit_ms(settings: Settings, models: int) -> int | None:
    """The time limit of an ``extract`` message of ``models`` models: ``extract_time_limit_s`` per model
    (None for one model: the actor's own limit, which is that)."""
    return None if models <= 1 else settings.extract_time_limit_s * 1000 * models


def send(
    broker: Any,
    actor_name: str,
    *args: Any,
    delay_ms: int | None = None,
    time_limit_ms: int | None = None,
) -> None:
    """Enqueue one message for ``actor_name`` on its queue (after ``delay_ms`` when given).

    ``time_limit_ms`` overrides the actor's time limit for this message (and its retries).

    Raises:
        KeyError: ``actor_name`` is not one of :data:`ACTOR_QUEUES`.
    """
    options = {} if time_limit_ms is None else {"time_limit": time_limit_ms}
    message: Any = dramatiq.Message(
        queue_name=ACTOR_QUEUES[actor_name], actor_name=actor_name, args=args, kwargs={}, options=options
    )
    broker.enqueue(message, delay=delay_ms)


class Sender:
    """Sends job parts over a broker made on first use (it shares ``client``, the caller's Redis client)."""

    def __init__(self, settings: Settings, client: Redis) -> None:
        self._settings = settings
        self._client = client
        self._broker: Any = None
        self._lock = threading.Lock()

    @property
    def broker(self) -> Any:
        """The Dramatiq broker (made on first use)."""
        with self._lock:
            if self._broker is None:
                self._broker = make_broker(self._settings, client=self._client)
            return self._broker

    def __call__(
        self, actor_name: str, *args: Any, delay_ms: int | None = None, time_limit_ms: int | None = None
    ) -> None:
        send(self.broker, actor_name, *args, delay_ms=delay_ms, time_limit_ms=time_limit_ms)
