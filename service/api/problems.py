"""RFC 9457 problem details: one model, one status table, one handler for every error the API returns.

Every error the service raises on purpose is a :class:`~estimators.errors.ZoorankError` with a stable
``code``. :func:`problem_for` turns one into a ``application/problem+json`` document:

* ``type``: ``urn:zoorank:problem:<code>`` (stable, never dereferenced);
* ``title``: the first line of the error class's docstring (constant per type);
* ``status``: from :data:`STATUS` (the first class in the error's MRO whose code is listed; 500 if none);
* ``detail``: the error message (names the offending value and the rule);
* ``instance``: the request path;
* extension members ``code`` (the same stable code), ``param`` (the offending input, when known) and,
  for validation errors, ``errors`` (one entry per failed field).

Framework errors (unknown route, wrong method, request validation) are converted to the same tree first,
so a client handles exactly one error format.
"""

from __future__ import annotations

import logging
from typing import Any

import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from estimators.errors import ZoorankError
from service.errors import (
    MethodNotAllowedError,
    NotFoundError,
    RateLimitedError,
    RequestValidationFailed,
    UnavailableError,
)

log = logging.getLogger("zoorank.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:zoorank:problem:"
#: ``Retry-After`` of a 429 for a job quota (``too-many-jobs``): jobs take a while to finish.
JOB_QUOTA_RETRY_AFTER_S = 30

#: error code -> HTTP status. Looked up along the error class's MRO, so a new subclass inherits its
#: parent's status unless it is listed itself. Request-content errors are 422 (the request is well-formed
#: but cannot be served as asked); missing resources in the URL are 404; server-side faults are 5xx.
STATUS: dict[str, int] = {
    # HTTP edge
    "not-found": 404,
    "method-not-allowed": 405,
    "unauthorized": 401,
    "not-owner": 403,
    "rate-limited": 429,
    "too-many-jobs": 429,
    "body-too-large": 413,
    "validation-error": 422,
    "idempotency-key-reused": 422,
    "idempotency-in-flight": 409,
    "not-ready": 409,
    "cancelled": 409,
    "unavailable": 503,
    # request content: models, scorers, parameters
    "unknown-model": 422,
    "unknown-scorer": 422,
    "invalid-parameter": 422,
    "invalid-input": 422,
    "degenerate-input": 422,
    "scoring-error": 422,
    "limit-exceeded": 422,
    "weights-missing": 422,
    "no-model-scored": 422,
    # datasets
    "path-not-allowed": 403,
    "dataset-error": 422,
    "dataset-not-found": 422,
    "dataset-format": 422,
    "unknown-dataset-reader": 422,
    "too-many-corrupt-images": 422,
    "unreadable-image": 422,
    "image-limit": 422,
    # server side: configuration, weights, storage, numerics
    "invalid-settings": 500,
    "zoo-error": 500,
    "weights-not-found": 503,
    "weights-integrity": 500,
    "model-load-failed": 500,
    "feature-store-error": 500,
    "numerical-error": 500,
    "non-finite-score": 500,
    "duplicate-registration": 500,
    "zoorank-error": 500,
}


class FieldIssue(BaseModel):
    """One failed field of a request that did not validate."""

    model_config = ConfigDict(extra="forbid")

    loc: str = Field(description="where: body.models.0, query.limit, header.idempotency-key, ...")
    message: str
    kind: str = Field(description="pydantic's error type, e.g. missing, too_long, extra_forbidden")


class Problem(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``)."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="urn:zoorank:problem:<code>")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str = Field(description="the stable error code (the same as the last part of type)")
    param: str | None = Field(default=None, description="the offending parameter or input, when known")
    errors: list[FieldIssue] | None = Field(default=None, description="validation errors, one per field")


def status_for(exc: ZoorankError) -> int:
    """The HTTP status of ``exc`` (first listed code along its class's MRO; 500 when none is)."""
    for cls in type(exc).__mro__:
        code = getattr(cls, "code", None)
        if isinstance(code, str) and code in STATUS:
            return STATUS[code]
    return 500


def _title(exc: ZoorankError) -> str:
    doc = (type(exc).__doc__ or "").strip().splitlines()
    return doc[0].rstrip(".").replace("``", "") if doc else exc.code


def problem_for(exc: ZoorankError, instance: str | None) -> Problem:
    """The problem document of ``exc`` for the request path ``instance``."""
    issues = getattr(exc, "issues", None)
    return Problem(
        type=TYPE_PREFIX + exc.code,
        title=_title(exc),
        status=status_for(exc),
        detail=exc.message or str(exc),
        instance=instance,
        code=exc.code,
        param=exc.param,
        errors=None if issues is None else [FieldIssue(**i) for i in issues],
    )


def problem_response(exc: ZoorankError, instance: str | None) -> Response:
    """``exc`` as an ``application/problem+json`` response, with the headers its kind needs."""
    problem = problem_for(exc, instance)
    headers: dict[str, str] = {}
    if problem.status == 429:
        retry = exc.retry_after if isinstance(exc, RateLimitedError) else JOB_QUOTA_RETRY_AFTER_S
        headers["Retry-After"] = str(retry)
    if isinstance(exc, MethodNotAllowedError) and exc.allow:
        headers["Allow"] = exc.allow
    if isinstance(exc, UnavailableError):
        headers["Retry-After"] = "5"
    if problem.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="zoorank"'
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def validation_error(exc: RequestValidationError) -> RequestValidationFailed:
    """FastAPI's validation error as the project's typed error (first issues summarised in the message)."""
    issues = [
        {"loc": _loc(e.get("loc", ())), "message": str(e.get("msg", "")), "kind": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    summary = "; ".join(f"{i['loc']}: {i['message']}" for i in issues[:5])
    more = f" (and {len(issues) - 5} more)" if len(issues) > 5 else ""
    first = issues[0]["loc"].split(".") if issues else []
    param = first[-1] if first and first[-1] != "body" else None
    if first and first[-1].isdigit() and len(first) > 1:
        param = first[-2]
    return RequestValidationFailed(
        f"invalid request: {summary}{more}", issues=issues, param=None if param is None else str(param)
    )


def install(app: FastAPI) -> None:
    """Register the one handler family on ``app``: typed errors, framework errors, anything else."""

    async def on_zoorank(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ZoorankError)
        if status_for(exc) >= 500:
            log.error("%s on %s: %s", exc.code, request.url.path, exc.message)
        return problem_response(exc, request.url.path)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        err: ZoorankError
        if exc.status_code == 404:
            err = NotFoundError(f"no route {request.method} {request.url.path}")
        elif exc.status_code == 405:
            allow = (exc.headers or {}).get("Allow", "")
            err = MethodNotAllowedError(
                f"{request.method} is not allowed on {request.url.path}"
                + (f" (allowed: {allow})" if allow else ""),
                allow=allow,
            )
        else:
            err = ZoorankError(str(exc.detail))
            problem = problem_for(err, request.url.path).model_copy(
                update={"status": exc.status_code, "code": "http-error", "type": TYPE_PREFIX + "http-error"}
            )
            return JSONResponse(
                problem.model_dump(exclude_none=True),
                status_code=exc.status_code,
                media_type=PROBLEM_MEDIA_TYPE,
            )
        return problem_response(err, request.url.path)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem_response(validation_error(exc), request.url.path)

    async def on_redis(request: Request, exc: Exception) -> Response:
        log.error("redis unreachable on %s: %s", request.url.path, exc)
        return problem_response(UnavailableError(f"the job store is unreachable: {exc}"), request.url.path)

    async def on_anything(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path, exc_info=exc)
        err = ZoorankError("internal server error (logged on the server)")
        problem = problem_for(err, request.url.path).model_copy(
            update={
                "code": "internal-error",
                "type": TYPE_PREFIX + "internal-error",
                "title": "Internal error",
            }
        )
        return JSONResponse(
            problem.model_dump(exclude_none=True), status_code=500, media_type=PROBLEM_MEDIA_TYPE
        )

    app.add_exception_handler(ZoorankError, on_zoorank)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(redis.exceptions.ConnectionError, on_redis)
    app.add_exception_handler(redis.exceptions.TimeoutError, on_redis)
    app.add_exception_handler(Exception, on_anything)


#: ``responses=`` entry documenting the problem responses of a route (for the OpenAPI schema and client).
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given problem statuses, each typed as :class:`Problem`."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out
