"""The served application: the HTTP API with the dashboard mounted at ``/ui``, assembled in one place.

``uvicorn --factory service.app:create_app`` serves it; ``zoorank serve`` does the same with an embedded
Redis and worker (:mod:`service.serve`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from service.api import create_api
from service.settings import Settings
from service.ui import mount_ui

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, redis_client: Redis | None = None) -> FastAPI:
    """The zoorank HTTP API (:func:`service.api.create_api`) with the dashboard at ``/ui``.

    The dashboard is a sub-app outside the OpenAPI schema; ``ZOORANK_UI=0`` leaves it out.

    Args:
        settings: limits, roots, keys and ``redis_url`` (default: read from the environment).
        redis_client: an existing Redis client to use instead of connecting to ``settings.redis_url``.
    """
    settings = settings if settings is not None else Settings.from_env()
    app = create_api(settings, redis_client=redis_client)
    mount_ui(app, settings)
    return app
