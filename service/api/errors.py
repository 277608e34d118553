"""Errors that only the HTTP edge raises, in the project's one exception tree.

Each has a stable ``code`` like every other :class:`~estimators.errors.ZoorankError`, so the one problem
handler (:mod:`service.api.problems`) turns them into RFC 9457 documents the same way it turns a
dataset or scorer error into one.
"""

from __future__ import annotations

from typing import Any

from estimators.errors import ZoorankError


class HttpError(ZoorankError):
    """An error of the HTTP layer itself (authentication, quotas, routing, request framing)."""

    code = "http-error"


class NotFoundError(HttpError, LookupError):
    """The resource named in the URL does not exist (unknown route, job, ranking or model id)."""

    code = "not-found"

    def __str__(self) -> str:
        return self.message


class MethodNotAllowedError(HttpError):
    """The route exists but does not accept this HTTP method."""

    code = "method-not-allowed"

    def __init__(self, message: str, *, allow: str = "", **context: Any) -> None:
        super().__init__(message, **context)
        self.allow = allow


class UnauthorizedError(HttpError):
    """No API key, or one that matches none of the configured digests."""

    code = "unauthorized"


class NotOwnerError(HttpError):
    """Only the API key that created a job may cancel it (other keys may share and read it)."""

    code = "not-owner"


class RateLimitedError(HttpError):
    """A per-key quota (requests per minute, concurrent or queued jobs) is used up; retry later."""

    code = "rate-limited"

    def __init__(self, message: str, *, retry_after: int, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = max(1, int(retry_after))


class BodyTooLargeError(HttpError):
    """The request body is larger than ``ZOORANK_MAX_BODY_BYTES``."""

    code = "body-too-large"


class RequestValidationFailed(HttpError):
    """The request (body, query or headers) does not match the schema of the route."""

    code = "validation-error"

    def __init__(self, message: str, *, issues: list[dict[str, Any]], **context: Any) -> None:
        super().__init__(message, **context)
        self.issues = issues


class IdempotencyKeyReusedError(HttpError):
    """An ``Idempotency-Key`` was sent again with a different request body."""

    code = "idempotency-key-reused"


class IdempotencyInFlightError(HttpError):
    """The first request with this ``Idempotency-Key`` is still being processed."""

    code = "idempotency-in-flight"


class NotReadyError(HttpError):
    """The job exists but has no ranking (yet): it is still running, failed or was cancelled."""

    code = "not-ready"


class UnavailableError(HttpError):
    """A backing service (Redis) cannot be reached."""

    code = "unavailable"
