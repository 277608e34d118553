"""The SDK's exception tree, built from the server's RFC 9457 problem documents.

::

    ZoorankError                         every error the SDK raises
    ├── APIConnectionError               no answer: connection refused or reset, DNS, TLS
    │   └── APITimeoutError              no answer within the client's timeout
    ├── RequestValidationError           refused before sending: unknown field, wrong type (``param``)
    ├── UnsupportedSchemaError           a document of a schema major version this SDK does not read
    ├── JobError                         a job ended without a ranking
    │   ├── JobFailedError               status ``failed`` (``job.error`` says why)
    │   └── JobCancelledError            status ``cancelled``
    ├── WaitTimeoutError                 the job was still running when ``timeout`` ran out
    └── APIStatusError                   an HTTP error answer (``status``, ``code``, ``param``, ``errors``)
        ├── BadRequestError              400
        ├── AuthenticationError          401
        ├── PermissionDeniedError        403
        ├── NotFoundError                404
        ├── ConflictError                409
        ├── UnprocessableError           422
        ├── RateLimitError               429 (``retry_after`` seconds)
        ├── InternalServerError          500 and any other 5xx not below
        └── ServiceUnavailableError      503
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from ._types import Job

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "FieldIssue",
    "InternalServerError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestValidationError",
    "ServiceUnavailableError",
    "UnprocessableError",
    "UnsupportedSchemaError",
    "WaitTimeoutError",
    "ZoorankError",
    "error_from_response",
    "parse_retry_after",
]


@dataclass(frozen=True)
class FieldIssue:
    """One failed field of a request the server refused (``loc`` like ``body.models.0``)."""

    loc: str
    message: str
    kind: str


class ZoorankError(Exception):
    """Every error the SDK raises: ``code`` (stable), ``param`` (JSON pointer or name, when known)."""

    code: str = "zoorank-error"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param
        self.status: int | None = None
        self.errors: list[FieldIssue] = []


class APIConnectionError(ZoorankError):
    """The server could not be reached (after every retry)."""

    code = "connection-error"


class APITimeoutError(APIConnectionError):
    """The server did not answer within the client's timeout (after every retry)."""

    code = "timeout"


class RequestValidationError(ZoorankError, ValueError):
    """A request refused by the client before sending; ``param`` is the JSON pointer of the field."""

    code = "client-validation-error"


class UnsupportedSchemaError(ZoorankError):
    """A ranking document of a schema major version this SDK cannot read."""

    code = "unsupported-schema-version"


class JobError(ZoorankError):
    """A job ended without a ranking; ``job`` is its last state."""

    def __init__(self, message: str, job: Job) -> None:
        err = job.error
        super().__init__(message, code=None if err is None else err.get("code"))
        self.job = job


class JobFailedError(JobError):
    """The job failed (``job.error`` and ``job.errors`` say why)."""


class JobCancelledError(JobError):
    """The job was cancelled."""

    code = "cancelled"


class WaitTimeoutError(ZoorankError):
    """The job had not finished when the wait's ``timeout`` ran out (it goes on running on the server)."""

    code = "wait-timeout"

    def __init__(self, message: str, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class APIStatusError(ZoorankError):
    """An error answer of the API, carrying its problem document.

    Attributes:
        status: the HTTP status.
        code: the problem's stable code (``unknown-model``, ``rate-limited``, ...).
        param: the offending input, when the server named it.
        errors: one entry per failed field of a request that did not validate.
        title, detail, type, instance: the problem document's members.
        request_id: the server's ``X-Request-ID`` of the answer, when sent.
        body: the whole problem document (unknown members included).
    """

    def __init__(self, message: str, *, response: httpx.Response, body: dict[str, Any]) -> None:
        code = body.get("code")
        param = body.get("param")
        super().__init__(
            message,
            code=code if isinstance(code, str) else f"http-{response.status_code}",
            param=param if isinstance(param, str) else None,
        )
        self.response = response
        self.status = response.status_code
        self.body = body
        self.title = str(body.get("title", ""))
        self.detail = body.get("detail") if isinstance(body.get("detail"), str) else None
        self.type = str(body.get("type", "about:blank"))
        self.instance = body.get("instance") if isinstance(body.get("instance"), str) else None
        self.request_id = response.headers.get("x-request-id")
        raw_errors = body.get("errors")
        self.errors = [
            FieldIssue(loc=str(e.get("loc", "")), message=str(e.get("message", "")), kind=str(e.get("kind", "")))
            for e in (raw_errors if isinstance(raw_errors, list) else [])
            if isinstance(e, dict)
        ]


class BadRequestError(APIStatusError):
    """400: the request could not be read (undecodable body, bad header)."""


class AuthenticationError(APIStatusError):
    """401: no API key, or an unknown one."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this (a job another key created, a dataset outside the roots)."""


class NotFoundError(APIStatusError):
    """404: no such job, ranking, model or route."""


class ConflictError(APIStatusError):
    """409: not ready yet, cancelled, or the first request of an idempotency key still in flight."""


class UnprocessableError(APIStatusError):
    """422: a well-formed request that cannot be served as asked (unknown model, bad parameter, ...)."""


class RateLimitError(APIStatusError):
    """429: over a quota; ``retry_after`` is how many seconds the server asked to wait (None if unsaid)."""

    def __init__(self, message: str, *, response: httpx.Response, body: dict[str, Any]) -> None:
        super().__init__(message, response=response, body=body)
        self.retry_after = parse_retry_after(response.headers.get("retry-after"))


class InternalServerError(APIStatusError):
    """5xx: a server-side fault."""


class ServiceUnavailableError(InternalServerError):
    """503: the service cannot answer now (job store unreachable, weights missing); retried by default."""

    def __init__(self, message: str, *, response: httpx.Response, body: dict[str, Any]) -> None:
        super().__init__(message, response=response, body=body)
        self.retry_after = parse_retry_after(response.headers.get("retry-after"))


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds of a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from_response(response: httpx.Response) -> APIStatusError:
    """The typed exception of an error answer (its problem document, or a synthetic one if not JSON)."""
    try:
        body = json.loads(response.content) if response.content else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    cls = _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = InternalServerError if response.status_code >= 500 else APIStatusError
    title = body.get("title") or response.reason_phrase
    detail = body.get("detail")
    message = f"{response.status_code} {title}" + (f": {detail}" if detail else "")
    return cls(message, response=response, body=body)
