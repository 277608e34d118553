"""Every error the service raises on purpose, in the project's one exception tree.

The root is :class:`estimators.errors.ZoorankError` (the scorers' and the zoo's errors hang from it too).
Each class has a stable ``code``; the HTTP layer turns any of them into an RFC 9457 problem document in
exactly one place (:mod:`service.api.problems`), the CLI into one line and an exit code. Each code is
defined once (``tests/service/test_errors.py`` walks the tree)::

    ZoorankError                              estimators.errors
    ├── ScoringError, LimitExceededError, ... estimators.errors
    ├── ZooError, DatasetError, ...           zoo.errors
    │   └── DatasetError
    │       ├── StorageError                  storage-error (zoo.errors: object storage failed)
    │       ├── DatasetChangedError           dataset-changed
    │       ├── TooFewClassesError            too-few-classes
    │       └── UploadRefusedError            upload-refused
    ├── NoModelScoredError                    no-model-scored
    ├── WeightsMissingError                   weights-missing
    ├── SettingsError                         invalid-settings
    ├── JobCancelledError                     cancelled
    ├── NotFoundError (LookupError)           not-found
    ├── NotReadyError                         not-ready
    ├── UnavailableError                      unavailable
    ├── TooManyJobsError                      too-many-jobs
    ├── RedisServerError                      redis-server-failed
    │   └── RedisServerNotFoundError          redis-server-not-found
    ├── LoginRequiredError                    login-required
    ├── CsrfTokenError                        csrf-token-invalid
    └── HttpError                             http-error
        ├── MethodNotAllowedError             method-not-allowed
        ├── UnauthorizedError                 unauthorized
        ├── NotOwnerError                     not-owner
        ├── RateLimitedError                  rate-limited
        ├── BodyTooLargeError                 body-too-large
        ├── HeadersTooLargeError              headers-too-large
        ├── MalformedBodyError                malformed-body
        ├── InvalidEventIdError               invalid-event-id
        ├── RequestValidationFailed           validation-error
        ├── IdempotencyKeyReusedError         idempotency-key-reused
        └── IdempotencyInFlightError          idempotency-in-flight
"""

from __future__ import annotations

from typing import Any

from estimators.errors import LimitExceededError, ZoorankError
from zoo.errors import DatasetError

__all__ = [
    "BodyTooLargeError",
    "CsrfTokenError",
    "DatasetChangedError",
    "HeadersTooLargeError",
    "HttpError",
    "IdempotencyInFlightError",
    "IdempotencyKeyReusedError",
    "InvalidEventIdError",
    "JobCancelledError",
    "LimitExceededError",
    "LoginRequiredError",
    "MalformedBodyError",
    "MethodNotAllowedError",
    "NoModelScoredError",
    "NotFoundError",
    "NotOwnerError",
    "NotReadyError",
    "RateLimitedError",
    "RedisServerError",
    "RedisServerNotFoundError",
    "RequestValidationFailed",
    "SettingsError",
    "TooFewClassesError",
    "TooManyJobsError",
    "UnauthorizedError",
    "UnavailableError",
    "UploadRefusedError",
    "WeightsMissingError",
    "ZoorankError",
]

# --- datasets and the pipeline -------------------------------------------------------------------


class DatasetChangedError(DatasetError):
    """The dataset's content changed between a job's submission and a worker reading it."""

    code = "dataset-changed"


class TooFewClassesError(DatasetError):
    """The sampled dataset has fewer than two classes: no transferability score is defined."""

    code = "too-few-classes"


class UploadRefusedError(DatasetError):
    """An uploaded archive is not a safe, readable dataset (unsafe member, not an archive, no images)."""

    code = "upload-refused"


class NoModelScoredError(ZoorankError):
    """No model of a ranking could be scored: the job fails rather than answer with an unusable first row."""

    code = "no-model-scored"


class WeightsMissingError(ZoorankError):
    """A request names models whose weights file is not on this machine (refused before any work)."""

    code = "weights-missing"


class SettingsError(ZoorankError):
    """A ``ZOORANK_*`` variable or a settings override has an invalid value."""

    code = "invalid-settings"


class JobCancelledError(ZoorankError):
    """The job was cancelled while this stage ran (cooperative: raised between batches or scorers)."""

    code = "cancelled"


# --- the job engine ------------------------------------------------------------------------------


class NotFoundError(ZoorankError, LookupError):
    """The resource named in the URL does not exist (unknown route, job, ranking or model id)."""

    code = "not-found"

    def __str__(self) -> str:
        return self.message


class NotReadyError(ZoorankError):
    """The job exists but has no ranking (yet): it is still running, failed or was cancelled."""

    code = "not-ready"


class UnavailableError(ZoorankError):
    """A backing service (Redis) cannot be reached, or is too busy to answer in time; retry shortly."""

    code = "unavailable"


class TooManyJobsError(ZoorankError):
    """The owner already has ``max_queued_jobs_per_key`` unfinished jobs."""

    code = "too-many-jobs"


class RedisServerError(ZoorankError):
    """The private ``redis-server`` did not start (the message carries the end of its log)."""

    code = "redis-server-failed"


class RedisServerNotFoundError(RedisServerError):
    """``redis-server`` is not installed and no ``REDIS_URL`` was given."""

    code = "redis-server-not-found"


# --- the dashboard -------------------------------------------------------------------------------


class LoginRequiredError(ZoorankError):
    """The dashboard needs a login (API keys are configured and the session has none)."""

    code = "login-required"


class CsrfTokenError(ZoorankError):
    """A form arrived without the CSRF token of the session that rendered it (or with another one)."""

    code = "csrf-token-invalid"


# --- the HTTP edge -------------------------------------------------------------------------------


class HttpError(ZoorankError):
    """An error of the HTTP layer itself (authentication, quotas, routing, request framing)."""

    code = "http-error"


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


class HeadersTooLargeError(HttpError):
    """The request's header fields together are larger than ``ZOORANK_MAX_HEADER_BYTES``."""

    code = "headers-too-large"


class MalformedBodyError(HttpError):
    """The request body cannot be decoded (not UTF-8 JSON, or not JSON at all)."""

    code = "malformed-body"


class InvalidEventIdError(HttpError):
    """A ``Last-Event-ID`` that is not an event id of this service (``<milliseconds>-<sequence>``)."""

    code = "invalid-event-id"


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
