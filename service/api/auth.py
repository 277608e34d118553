"""API-key authentication and per-key request quotas.

Keys are configured as SHA-256 hex digests (``ZOORANK_API_KEYS``), never in clear text. A request sends
the key as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; the server hashes it and compares the
digest with every configured one using :func:`hmac.compare_digest` (constant time, and every digest is
compared so the loop's duration does not depend on which one matched). With no keys configured the API
is open: :func:`warn_if_open` logs that once at start-up.

The caller's identity (:class:`Principal`) is a short prefix of the matched digest: it names the key in
Redis (quotas, job ownership, idempotency records) without storing anything that lets one use it.
Requests per minute are counted in a fixed one-minute window per key (``INCR`` + ``EXPIRE`` in one
round trip); over the quota the answer is ``429`` with ``Retry-After`` = seconds left in the window.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.api.state import api_state
from service.errors import RateLimitedError, UnauthorizedError

log = logging.getLogger("zoorank.api")

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


@dataclass(frozen=True)
class Principal:
    """Who is calling.

    Attributes:
        owner: stable id of the API key (digest prefix), or None when authentication is off.
        quota_id: what quotas are counted under: the owner, or the client address when auth is off.
    """

    owner: str | None
    quota_id: str


def digest(key: str) -> str:
    """The SHA-256 hex digest of an API key (what ``ZOORANK_API_KEYS`` lists)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def match_key(key: str, digests: tuple[str, ...]) -> str | None:
    """The configured digest ``key`` hashes to, or None; compares against all of them in constant time."""
    given = digest(key).encode("ascii")
    found: str | None = None
    for candidate in digests:
        if hmac.compare_digest(given, candidate.lower().encode("ascii")):
            found = candidate.lower()
    return found


def warn_if_open(digests: tuple[str, ...]) -> None:
    """Log a warning when no API keys are configured (the API then accepts anyone)."""
    if not digests:
        log.warning(
            "ZOORANK_API_KEYS is not set: authentication is OFF and anyone who can reach this port may "
            "submit jobs. Set it to comma-separated SHA-256 digests of your keys."
        )


def _client_id(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_header)],
) -> Principal:
    """Resolve the caller and charge one request to its per-minute quota (raises 401 / 429).

    Async on purpose: it runs on every request, and on the event loop it costs one non-blocking Redis
    round trip instead of a worker-thread hop.
    """
    state = api_state(request)
    digests = state.api_key_digests
    if digests:
        key = api_key or (bearer.credentials if bearer is not None else None)
        if not key:
            raise UnauthorizedError("an API key is required: send Authorization: Bearer <key> or X-API-Key")
        matched = match_key(key, digests)
        if matched is None:
            raise UnauthorizedError("the API key is not valid")
        principal = Principal(owner=matched[:16], quota_id=matched[:16])
    else:
        principal = Principal(owner=None, quota_id="ip:" + _client_id(request))
    await acharge_request(request, principal)
    request.state.principal = principal
    return principal


def _over_quota(limit: int, count: int, now: float) -> RateLimitedError | None:
    if count <= limit:
        return None
    retry = 60 - int(now) % 60
    return RateLimitedError(
        f"more than {limit} requests per minute for this key (ZOORANK_REQUESTS_PER_MINUTE); "
        f"retry in {retry} s",
        retry_after=retry,
        param="requests_per_minute",
    )


async def acharge_request(request: Request, principal: Principal) -> None:
    """Count one request against the caller's requests-per-minute quota (fixed one-minute windows).

    Raises:
        RateLimitedError: over ``ZOORANK_REQUESTS_PER_MINUTE`` in this window (``Retry-After``: its rest).
    """
    state = api_state(request)
    now = time.time()
    key = state.keys.ratelimit(principal.quota_id, int(now // 60))
    if state.aredis is not None:
        pipe = state.aredis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _ = await pipe.execute()
    else:  # no async client (the app was given a sync client only): do it on a worker thread
        count = await run_in_threadpool(_charge, state.redis, key)
    error = _over_quota(state.settings.requests_per_minute, int(count), now)
    if error is not None:
        raise error


def charge_request(request: Request, principal: Principal) -> None:
    """:func:`acharge_request` for synchronous callers (the dashboard's dependencies, on worker threads)."""
    state = api_state(request)
    now = time.time()
    count = _charge(state.redis, state.keys.ratelimit(principal.quota_id, int(now // 60)))
    error = _over_quota(state.settings.requests_per_minute, count, now)
    if error is not None:
        raise error


def _charge(redis: Any, key: str) -> int:
    pipe = redis.pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, 120)
    count, _ = pipe.execute()
    return int(count)


#: The dependency every non-health route carries (a route-introspection test checks that).
ApiKeyDep = Depends(authenticate)
CurrentPrincipal = Annotated[Principal, ApiKeyDep]
