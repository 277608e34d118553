"""The zoorank HTTP API (FastAPI under ``/v1``): :func:`create_api`; :mod:`service.app` adds the dashboard."""

from service.api.app import create_api

__all__ = ["create_api"]
