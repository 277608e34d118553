"""What the sync and async clients share: configuration, request validation, retries, SSE decoding.

Retries (openai-python's policy): connection errors and timeouts, ``429``, ``502``, ``503``, ``504`` and
``409 idempotency-in-flight`` are retried up to ``max_retries`` times. The wait is the answer's
``Retry-After`` when it sends one (refused above ``max_retry_after`` seconds: the error is raised), else an
exponential backoff ``min(INITIAL * 2**attempt, MAX)`` shrunk by up to 25 % random jitter. Every POST
carries an ``Idempotency-Key``, generated once per call and sent again on each retry, so a retried
submission never starts a second job.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import httpx

from ..models import EnsembleOptions, InspectRequest, RankingRequest, Sampling
from ._exceptions import RequestValidationError
from ._types import JobEvent

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT_S",
    "INITIAL_RETRY_DELAY_S",
    "MAX_RETRY_AFTER_S",
    "MAX_RETRY_DELAY_S",
    "SSEDecoder",
    "backoff_delay",
    "build_ranking_request",
    "idempotency_key",
    "is_retryable",
    "resolve_api_key",
    "resolve_base_url",
    "validate_inspect_request",
]

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_RETRIES = 3
INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0
#: The longest ``Retry-After`` a client waits for by default; above it the error is raised to the caller.
MAX_RETRY_AFTER_S = 60.0
RETRY_STATUSES = frozenset({429, 502, 503, 504})
USER_AGENT = "zoorank-client-python"


def resolve_base_url(base_url: str | None) -> str:
    """``base_url``, else ``$ZOORANK_URL``; a missing one is a :class:`RequestValidationError`."""
    url = base_url or os.environ.get("ZOORANK_URL")
    if not url:
        raise RequestValidationError("no base_url: pass Zoorank(base_url=...) or set ZOORANK_URL", param="base_url")
    return url.rstrip("/")


def resolve_api_key(api_key: str | None) -> str | None:
    """``api_key``, else ``$ZOORANK_API_KEY`` (None: send no key, for a server without keys)."""
    return api_key or os.environ.get("ZOORANK_API_KEY") or None


def idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` (random, so two calls never share one)."""
    return f"zoorank-py-{uuid.uuid4()}"


def is_retryable(response: httpx.Response) -> bool:
    """Whether an answer is worth retrying (overload, outage, an idempotent request still in flight)."""
    if response.status_code in RETRY_STATUSES:
        return True
    if response.status_code == 409:
        try:
            return bool(json.loads(response.content).get("code") == "idempotency-in-flight")
        except (ValueError, AttributeError):
            return False
    return False


def backoff_delay(attempt: int) -> float:
    """Seconds before retry number ``attempt`` (0-based) when the server said nothing: backoff with jitter."""
    base = min(INITIAL_RETRY_DELAY_S * 2.0**attempt, MAX_RETRY_DELAY_S)
    return base * (1.0 - 0.25 * random.random())


# -- request validation ---------------------------------------------------------------------------------


#: JSON field names of a generated request model (generated from the schema, so always in step with it).
def _fields(cls: type) -> frozenset[str]:
    return frozenset(f.alias or f.name for f in attrs.fields(cls))


def _check_keys(value: Mapping[str, Any], cls: type, pointer: str) -> None:
    known = _fields(cls)
    for key in value:
        if key not in known:
            raise RequestValidationError(
                f"unknown field {key!r} in {pointer or 'the request'} (known: {', '.join(sorted(known))})",
                param=f"{pointer}/{_escape(str(key))}",
            )


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _str_list(value: Any, pointer: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise RequestValidationError(f"{pointer} must be a non-empty list of strings", param=pointer)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise RequestValidationError(f"{pointer}/{i} must be a non-empty string", param=f"{pointer}/{i}")
    return list(value)


def _object(value: Any, pointer: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise RequestValidationError(f"{pointer} must be an object", param=pointer)
    for key in value:
        if not isinstance(key, str):
            raise RequestValidationError(f"{pointer} keys must be strings", param=pointer)
    return dict(value)


def _int_fields(value: Mapping[str, Any], names: Sequence[str], pointer: str) -> None:
    for name in names:
        item = value.get(name)
        if item is not None and (isinstance(item, bool) or not isinstance(item, int)):
            raise RequestValidationError(f"{pointer}/{name} must be an integer", param=f"{pointer}/{name}")


def _params(value: Any, pointer: str) -> dict[str, Any]:
    out = _object(value, pointer)
    for scorer, overrides in out.items():
        _object(overrides, f"{pointer}/{_escape(scorer)}")
    return out


def build_ranking_request(
    dataset: str,
    *,
    models: Sequence[str] | None = None,
    scorers: Sequence[str] | None = None,
    sampling: Mapping[str, Any] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    ensemble: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/rankings``, checked on the client.

    Field names are checked against the generated request models (so against the schema the client was
    generated from); a misspelled field is refused, naming it, instead of being dropped.

    Raises:
        RequestValidationError: unknown field or wrong type; ``param`` is the field's JSON pointer.
    """
    body: dict[str, Any] = {"dataset": dataset}
    if extra:
        _check_keys(extra, RankingRequest, "")
        body.update(extra)
    if not isinstance(body["dataset"], str) or not body["dataset"]:
        raise RequestValidationError("/dataset must be a non-empty string", param="/dataset")
    for name, value in (("models", models), ("scorers", scorers)):
        if value is not None:
            body[name] = value
        if body.get(name) is not None:
            body[name] = _str_list(body[name], f"/{name}")
    if sampling is not None:
        body["sampling"] = sampling
    if body.get("sampling") is not None:
        body["sampling"] = _object(body["sampling"], "/sampling")
        _check_keys(body["sampling"], Sampling, "/sampling")
        _int_fields(body["sampling"], ("max_per_class", "max_samples", "seed"), "/sampling")
    if params is not None:
        body["params"] = params
    if body.get("params") is not None:
        body["params"] = _params(body["params"], "/params")
    if ensemble is not None:
        body["ensemble"] = ensemble
    if body.get("ensemble") is not None:
        body["ensemble"] = _object(body["ensemble"], "/ensemble")
        _check_keys(body["ensemble"], EnsembleOptions, "/ensemble")
        _int_fields(body["ensemble"], ("k", "top", "max_teams"), "/ensemble")
        if body["ensemble"].get("scorers") is not None:
            body["ensemble"]["scorers"] = _str_list(body["ensemble"]["scorers"], "/ensemble/scorers")
        if body["ensemble"].get("params") is not None:
            body["ensemble"]["params"] = _params(body["ensemble"]["params"], "/ensemble/params")
    return {k: v for k, v in body.items() if v is not None}


def validate_inspect_request(dataset: str, decode: bool) -> dict[str, Any]:
    """The JSON body of ``POST /v1/datasets/inspect`` (same checks as :func:`build_ranking_request`)."""
    body = {"dataset": dataset, "decode": decode}
    _check_keys(body, InspectRequest, "")
    if not isinstance(dataset, str) or not dataset:
        raise RequestValidationError("/dataset must be a non-empty string", param="/dataset")
    if not isinstance(decode, bool):
        raise RequestValidationError("/decode must be a boolean", param="/decode")
    return body


# -- server-sent events ---------------------------------------------------------------------------------


class SSEDecoder:
    """Incremental ``text/event-stream`` decoder (the WHATWG algorithm, minus ``retry``).

    Feed it decoded lines; it returns a :class:`JobEvent` at each blank line that ends an event with data.
    Comment lines (``:`` keep-alive pings) are ignored. ``last_event_id`` is the id to resume after.
    """

    def __init__(self, last_event_id: str | None = None) -> None:
        self.last_event_id = last_event_id
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> JobEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> JobEvent | None:
        if self._id is not None:
            self.last_event_id = self._id
        data, event = "\n".join(self._data), self._event or "message"
        self._event, self._data, self._id = "", [], None
        if not data:
            return None
        try:
            payload = json.loads(data)
        except ValueError:
            payload = {"raw": data}
        if not isinstance(payload, dict):
            payload = {"value": payload}
        return JobEvent(id=self.last_event_id or "", event=event, data=payload)
