"""The HTTP API application: ``create_api(settings)`` wires routers, errors, auth, limits and metrics.

:func:`service.app.create_app` adds the dashboard to it; this module never imports the dashboard.

Routes (all JSON, errors ``application/problem+json``):

* ``POST /v1/rankings``, ``GET /v1/rankings/{ranking_id}``
* ``GET /v1/jobs``, ``GET /v1/jobs/{job_id}``, ``GET /v1/jobs/{job_id}/events`` (SSE),
  ``POST /v1/jobs/{job_id}/cancel``
* ``GET /v1/models``, ``GET /v1/models/{model_id}``, ``GET /v1/scorers``
* ``POST /v1/datasets/inspect``, ``GET /v1/datasets/roots``
* ``GET /health/live``, ``GET /health/ready`` (no key needed), ``GET /metrics``

The app needs Redis (``settings.redis_url``, or a client passed in). Without either it can still be built,
e.g. to dump its OpenAPI schema (``python -m service.api.openapi``), but it refuses to start serving.
"""

from __future__ import annotations

import copy
import gc
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.api import problems
from service.api.auth import warn_if_open
from service.api.docs import install_docs
from service.api.middleware import BodyLimitMiddleware, HeaderLimitMiddleware, MetricsMiddleware
from service.api.routers import datasets, health, jobs, metrics, models, rankings, scorers
from service.api.routers.rankings import RecentRankings
from service.api.schema_docs import document
from service.api.state import ApiState
from service.errors import SettingsError
from service.jobs import keys
from service.jobs.engine import JobEngine
from service.jobs.metrics import ApiMetrics, stage_stats
from service.jobs.reconcile import Reconciler
from service.pipeline.schema import RANKING_JSON_SCHEMA
from service.pipeline.zoo_manifest import load_zoo
from service.settings import Settings
from service.uploads import purge_expired

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger("zoorank.api")
#: Request paths whose bodies are archives (capped by ``upload_max_bytes``, not ``max_body_bytes``).
UPLOAD_PATH = "/v1/datasets"
UI_UPLOAD_PATH = "/ui/datasets/upload"


API_DESCRIPTION = """\
Rank a zoo of pre-trained models for a labelled image dataset without fine-tuning.

Submit a ranking request (`POST /v1/rankings`), follow the job (`GET /v1/jobs/{id}` or its server-sent
events), then fetch the ranking (`GET /v1/rankings/{id}`). Identical requests share one job and cached
rankings come back at once. Errors are RFC 9457 problem documents whose `code` is stable.
"""


def _ranking_component() -> dict[str, Any]:
    """The ranking document's JSON Schema (:mod:`service.pipeline.schema`) as an OpenAPI 3.1 component."""

    # a JSON round trip, not a deep copy: the schema reuses small nodes ({"type": "string"}, ...) in many
    # places, and the documentation pass gives each place its own description
    schema: dict[str, Any] = json.loads(json.dumps(RANKING_JSON_SCHEMA))
    schema.pop("$schema", None)
    schema["title"] = "Ranking"
    return schema


def _problems_only(schema: dict[str, Any]) -> None:
    """Document every error response as ``application/problem+json`` with the ``Problem`` schema.

    FastAPI lists a ``Problem`` response under ``application/json`` as well, and adds its own 422
    ``HTTPValidationError`` shape to every route with parameters; neither is what the server sends.
    """
    problem = {problems.PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if problems.PROBLEM_MEDIA_TYPE in content or str(status) == "422":
                    response["content"] = copy.deepcopy(problem)
    for name in ("HTTPValidationError", "ValidationError"):
        schema["components"]["schemas"].pop(name, None)


def _version() -> str:

    try:
        return version("zoorank")
    except PackageNotFoundError:
        return "0.0.0"


def build_state(settings: Settings, redis_client: Redis | None, metrics: ApiMetrics) -> ApiState:
    """Connect the engine to Redis (lazily: no command is sent until the first request)."""

    if redis_client is None:
        if settings.redis_url is None:
            raise SettingsError(
                "the API needs Redis: set REDIS_URL, or run `zoorank serve`, which starts a private one",
                param="redis_url",
            )
        redis_client = redis.Redis.from_url(settings.redis_url, health_check_interval=30)
    engine = JobEngine(settings, redis_client)
    client = redis_client
    metrics.bind_engine(
        engine.stats, engine.queue_depths, engine.workers_alive, lambda: stage_stats(client, keys.stat)
    )
    return ApiState(
        settings=settings,
        redis=redis_client,
        engine=engine,
        metrics=metrics,
        api_key_digests=tuple(k.lower() for k in settings.api_keys),
        keys=keys,
        rankings=RecentRankings(),
    )


def create_api(settings: Settings | None = None, *, redis_client: Redis | None = None) -> FastAPI:
    """The zoorank HTTP API without the dashboard (see :func:`service.app.create_app`).

    Args:
        settings: limits, roots, keys and ``redis_url`` (default: read from the environment).
        redis_client: an existing Redis client to use instead of connecting to ``settings.redis_url``.

    Returns:
        The FastAPI app. Redis is connected when the app starts (or now, lazily, when a URL or client is
        given), so building the app for its schema needs neither.
    """
    settings = settings if settings is not None else Settings.from_env()
    load_zoo(settings)  # a bad manifest stops the start-up with its lines, not the first request
    purge_expired(settings)
    api_metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "zoorank", None) is None:
            app.state.zoorank = build_state(settings, redis_client, api_metrics)
        state: ApiState = app.state.zoorank
        if settings.redis_url is not None:
            state.aredis = redis.asyncio.Redis.from_url(settings.redis_url, health_check_interval=30)
        warn_if_open(state.api_key_digests)
        # the periodic reconcile (one process of all APIs and workers runs each turn): jobs whose parts
        # a Redis crash left without a message are re-sent, without restarting anything
        reconciler = Reconciler(state.engine, name=f"api:{os.getpid()}").start()
        # Everything imported and built so far (torch, numpy, the zoo, the app) lives as long as the
        # process: move it out of the collector's generations, so a full collection only scans what
        # requests allocate instead of pausing every request in flight for tens of milliseconds.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            reconciler.stop()
            if state.aredis is not None:
                await state.aredis.aclose()
                state.aredis = None
            state.redis.close()

    app = FastAPI(
        title="zoorank",
        version=_version(),
        description=API_DESCRIPTION,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.zoorank = None
    if settings.redis_url is not None or redis_client is not None:
        app.state.zoorank = build_state(settings, redis_client, api_metrics)
    problems.install(app)
    for module in (rankings, jobs, models, scorers, datasets, health, metrics):
        app.include_router(module.router)
    install_docs(app, settings)
    upload_cap = (settings.upload_max_bytes, "ZOORANK_UPLOAD_MAX_BYTES")
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        paths={UPLOAD_PATH: upload_cap, UI_UPLOAD_PATH: upload_cap},
    )
    app.add_middleware(HeaderLimitMiddleware, max_bytes=settings.max_header_bytes)
    app.add_middleware(MetricsMiddleware, metrics=api_metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Ranking"] = _ranking_component()
            _problems_only(schema)
            document(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
