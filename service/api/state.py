"""What the routes share: settings, the Redis client, the job engine, the metrics (one per app)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from redis import Redis
    from redis.asyncio import Redis as AsyncRedis

    from service.jobs.engine import JobEngine
    from service.jobs.metrics import ApiMetrics
    from service.settings import Settings


@dataclass
class ApiState:
    """Per-app state, stored on ``app.state.zoorank`` by :func:`service.app.create_app`.

    Attributes:
        settings: the process's settings (limits, roots, keys).
        redis: the Redis client (decoded responses off: the engine stores JSON text and bytes).
        engine: the job engine over that Redis.
        metrics: the Prometheus collectors of this app.
        api_key_digests: lower-case SHA-256 digests of the accepted keys; empty = auth off.
        keys: the Redis key-template module (``service.jobs.keys``).
        aredis: an asyncio client on the same Redis for the per-request hot path (quota counting),
            created by the app's lifespan on the serving event loop; None before that, or when the app
            was given a sync client and no URL.
        rankings: finished rankings recently served (immutable; see ``routers.rankings``).
    """

    settings: Settings
    redis: Redis
    engine: JobEngine
    metrics: ApiMetrics
    api_key_digests: tuple[str, ...]
    keys: Any
    aredis: AsyncRedis | None = None
    rankings: Any = None


def api_state(conn: HTTPConnection) -> ApiState:
    """The :class:`ApiState` of the app serving ``conn``."""
    state: ApiState = conn.app.state.zoorank
    return state
