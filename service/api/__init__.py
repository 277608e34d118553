"""The zoorank HTTP API (FastAPI under ``/v1``); see :func:`create_app`."""

from service.api.app import create_app

__all__ = ["create_app"]
