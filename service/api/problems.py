"""RFC 9457 problem details: one model, one status table, one handler for every error the API returns.

Every error the service raises on purpose is a :class:`~estimators.errors.ZoorankError` with a stable
``code``. :func:`problem_for` turns one into a ``application/problem+json`` document:

* ``type``: ``urn:zoorank:problem:<code>`` (stable, never dereferenced);
* ``title``: the first line of the error class's docstring (constant per type);
* ``status``: from :data:`STATUS` (the first class in the error's MRO whose code is listed; 500 if none);
* ``detail``: the error message (names the offending value and the rule);
* ``instance``: the request path;
* extension members ``code`` (the same stable code), ``param`` (the offending input, when known),
  for validation errors ``errors`` (one entry per failed field), and for server-side faults (5xx)
  ``request_id``.

A server-side fault's message can name internals (Redis's address, a weights file's path): it goes to
the log with the request id (the client's ``X-Request-ID`` when it sent a sane one, a fresh id
otherwise), and the problem document carries only the title and that id.

``param`` of an error about the JSON request body is a JSON pointer (RFC 6901) into that body
(``/models/0``, ``/params/logme/tol``, ``/dataset``, ``/sampling/seed``): :func:`json_pointer` translates
the names the layers below use, here and only here. Query, header and path parameters keep their names
(``limit``, ``Idempotency-Key``, ``job_id``).

Framework errors (unknown route, wrong method, request validation) are converted to the same tree first,
so a client handles exactly one error format.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from estimators.errors import UnknownScorerError, ZoorankError
from service.errors import (
    MalformedBodyError,
    MethodNotAllowedError,
    NotFoundError,
    RateLimitedError,
    RequestValidationFailed,
    UnavailableError,
)
from zoo.errors import DatasetError, UnknownModelError

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
    "headers-too-large": 431,
    "malformed-body": 400,
    "invalid-event-id": 400,
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
    "upload-refused": 422,
    "unknown-dataset-reader": 422,
    "too-many-corrupt-images": 422,
    "unreadable-image": 422,
    "image-limit": 422,
    "storage-error": 502,
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
    param: str | None = Field(
        default=None,
        description=(
            "the offending input, when known: a JSON pointer into the request body (/models/0, "
            "/params/logme/tol, /dataset), or the name of a query, header or path parameter"
        ),
        examples=["/models/0"],
    )
    errors: list[FieldIssue] | None = Field(default=None, description="validation errors, one per field")
    request_id: str | None = Field(
        default=None, description="server-side faults (5xx): the id under which the details were logged"
    )


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


#: Names the layers below give body fields, as the field's pointer in the request body.
_BODY_FIELDS = {
    "scorer_params": "/params",
    "max_samples": "/sampling/max_samples",
    "max_per_class": "/sampling/max_per_class",
    "seed": "/sampling/seed",
    "sampling.budget": "/sampling/budget",
}


def _escape(token: object) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _item_pointer(field: str, body: dict[str, Any], message: str) -> str:
    """``/field/i`` for the first item of the list ``body[field]`` the message quotes, else ``/field``."""
    items = body.get(field)
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, str) and (repr(item) in message or f'"{item}"' in message):
                return f"/{field}/{i}"
    return f"/{field}"


def json_pointer(exc: ZoorankError, body: Any) -> str | None:
    """``exc.param`` as a JSON pointer into the request ``body`` when it names a part of it.

    Validation errors point at their first failed body field; unknown models and scorers at the list item
    named in the message; dataset errors at ``/dataset``; scorer and ensemble parameters at their place in
    ``params`` or ``ensemble``. Anything else (query, header and path parameters) keeps its name.
    """
    if isinstance(exc, RequestValidationFailed) and exc.issues:
        loc = str(exc.issues[0].get("loc", "")).split(".")
        if loc[0] == "body":
            return "/" + "/".join(_escape(p) for p in loc[1:]) if len(loc) > 1 else None
        return exc.param
    param = exc.param
    if param is None or param.startswith("/") or not isinstance(body, dict):
        return param
    if isinstance(exc, UnknownModelError) or param == "models":
        return _item_pointer("models", body, exc.message)
    if isinstance(exc, UnknownScorerError) or param == "scorers":
        return _item_pointer("scorers", body, exc.message)
    if isinstance(exc, DatasetError):
        return "/dataset"
    if param in body:
        return f"/{_escape(param)}"
    if param in _BODY_FIELDS:
        return _BODY_FIELDS[param]
    params = body.get("params")
    for scorer, overrides in params.items() if isinstance(params, dict) else ():
        if isinstance(overrides, dict) and param in overrides:
            return f"/params/{_escape(scorer)}/{_escape(param)}"
    ensemble = body.get("ensemble")
    if isinstance(ensemble, dict):
        if param in ensemble:
            return f"/ensemble/{_escape(param)}"
        eparams = ensemble.get("params")
        for scorer, overrides in eparams.items() if isinstance(eparams, dict) else ():
            if isinstance(overrides, dict) and param in overrides:
                return f"/ensemble/params/{_escape(scorer)}/{_escape(param)}"
    return param


def problem_for(exc: ZoorankError, instance: str | None, body: Any = None) -> Problem:
    """The problem document of ``exc`` for the request path ``instance`` (``body``: the JSON request
    body, when the route has one: ``param`` becomes a pointer into it)."""
    issues = getattr(exc, "issues", None)
    return Problem(
        type=TYPE_PREFIX + exc.code,
        title=_title(exc),
        status=status_for(exc),
        detail=exc.message or str(exc),
        instance=instance,
        code=exc.code,
        param=json_pointer(exc, body),
        errors=None if issues is None else [FieldIssue(**i) for i in issues],
    )


#: A client's ``X-Request-ID`` is reused when it looks like an id (else a fresh one is made).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id(request: Request) -> str:
    """The id a server-side fault is logged under: the client's ``X-Request-ID`` if sane, else a new one."""
    sent = request.headers.get("x-request-id", "")
    return sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex


def problem_response(
    exc: ZoorankError, instance: str | None, body: Any = None, *, request_id: str | None = None
) -> Response:
    """``exc`` as an ``application/problem+json`` response, with the headers its kind needs.

    ``body``: the request's JSON body, when the route has one (``param`` becomes a pointer into it).
    With ``request_id``, a server-side fault (5xx) carries its title and the id instead of its message
    (which can name internal addresses or paths; the caller logs it under the same id).
    """
    problem = problem_for(exc, instance, body)
    if request_id is not None and problem.status >= 500:
        problem = problem.model_copy(
            update={
                "detail": f"{problem.title} (details in the server log under request id {request_id})",
                "request_id": request_id,
            }
        )
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
    if request_id is not None:
        headers["X-Request-ID"] = request_id
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


def malformed_body(exc: RequestValidationError) -> MalformedBodyError | None:
    """The typed error of a body that is not JSON at all (FastAPI reports it as ``json_invalid``)."""
    for issue in exc.errors():
        if issue.get("type") == "json_invalid":
            ctx = issue.get("ctx") or {}
            reason = ctx.get("error") if isinstance(ctx, dict) else None
            return MalformedBodyError(
                f"the request body is not valid JSON{f': {reason}' if reason else ''}", param="body"
            )
    return None


def remember_body(request: Request, body: BaseModel) -> None:
    """Keep the validated JSON body of a request for its problem documents (``param`` pointers)."""
    request.state.json_body = body.model_dump(mode="json", exclude_none=True)


def request_body(request: Request) -> Any:
    """The body :func:`remember_body` kept for this request, or None."""
    return getattr(request.state, "json_body", None)


def install(app: FastAPI) -> None:
    """Register the one handler family on ``app``: typed errors, framework errors, anything else."""

    async def on_zoorank(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ZoorankError)
        if status_for(exc) >= 500:
            rid = request_id(request)
            log.error("request %s: %s on %s: %s", rid, exc.code, request.url.path, exc.message)
            return problem_response(exc, request.url.path, request_body(request), request_id=rid)
        return problem_response(exc, request.url.path, request_body(request))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        err: ZoorankError
        if exc.status_code == 400:
            # FastAPI's answer to a body it could not decode (e.g. bytes that are not UTF-8)
            err = MalformedBodyError(f"the request body cannot be decoded: {exc.detail}", param="body")
        elif exc.status_code == 404:
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
        malformed = malformed_body(exc)
        if malformed is not None:
            return problem_response(malformed, request.url.path)
        return problem_response(validation_error(exc), request.url.path)

    async def on_redis(request: Request, exc: Exception) -> Response:
        rid = request_id(request)
        log.error("request %s: redis unreachable on %s: %s", rid, request.url.path, exc)
        return problem_response(
            UnavailableError("the job store is unreachable"), request.url.path, request_id=rid
        )

    async def on_anything(request: Request, exc: Exception) -> Response:
        rid = request_id(request)
        log.error("request %s: unhandled error on %s", rid, request.url.path, exc_info=exc)
        err = ZoorankError("internal server error")
        problem = problem_for(err, request.url.path).model_copy(
            update={
                "code": "internal-error",
                "type": TYPE_PREFIX + "internal-error",
                "title": "Internal error",
                "detail": f"Internal error (details in the server log under request id {rid})",
                "request_id": rid,
            }
        )
        return JSONResponse(
            problem.model_dump(exclude_none=True),
            status_code=500,
            media_type=PROBLEM_MEDIA_TYPE,
            headers={"X-Request-ID": rid},
        )

    app.add_exception_handler(ZoorankError, on_zoorank)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(redis.exceptions.ConnectionError, on_redis)
    app.add_exception_handler(redis.exceptions.TimeoutError, on_redis)
    app.add_exception_handler(Exception, on_anything)


#: ``responses=`` entry documenting the problem responses of a route (for the OpenAPI schema and client).
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given problem statuses, each typed as :class:`Problem`.

    431 (``headers-too-large``) is added to every route: the header cap applies to all of them.
    """
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 431}):
        out[status] = {
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out
