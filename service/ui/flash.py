"""Refused dashboard forms, kept for the page their redirect shows (post/redirect/get).

A form the server refuses is not answered with a page (a refresh would post it again) but with a
``303 See Other`` to a page that shows the form again with its values and the error. The values can be too
long for a URL (hundreds of ticked models), so they wait in Redis under a random token (key
:func:`service.jobs.keys.ui_flash`, TTL ``ZOORANK_UI_FLASH_TTL_S``) and the redirect carries only the
token. A flash is bound to the browser session that posted the form (a digest of its CSRF token): a token
leaked through a URL shows nothing to another session. It is read, not consumed, so a refresh of the page
shows the same form and error again.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, cast

from redis import Redis

from service.jobs import keys

__all__ = ["Flash", "TOKEN_PATTERN", "load_flash", "save_flash"]

#: What a flash token looks like (``secrets.token_urlsafe(18)``); anything else is ignored.
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class Flash:
    """A form for the page a redirect shows: its values, the error to show ("" for none), the HTTP status
    of the refusal, and whether the page inspects the form's dataset (the inspect button without htmx)."""

    values: dict[str, Any]
    error: str
    status: int
    inspect: bool = False


def _owner(csrf: str) -> str:
    return hashlib.sha256(("zoorank.ui.flash:" + csrf).encode("utf-8")).hexdigest()[:32]


def save_flash(redis: Redis, ttl_s: int, csrf: str, flash: Flash) -> str:
    """Store ``flash`` for the session whose CSRF token is ``csrf``; returns its token."""
    token = secrets.token_urlsafe(18)
    doc = {
        "owner": _owner(csrf),
        "values": flash.values,
        "error": flash.error,
        "status": flash.status,
        "inspect": flash.inspect,
    }
    redis.set(keys.ui_flash(token), json.dumps(doc), ex=ttl_s)
    return token


def load_flash(redis: Redis, csrf: str, token: str | None) -> Flash | None:
    """The flash stored under ``token`` for this session, or None (unknown, expired, another session's)."""
    if not token or not TOKEN_PATTERN.match(token):
        return None
    raw = cast(bytes | str | None, redis.get(keys.ui_flash(token)))
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if (
        not isinstance(doc, dict)
        or doc.get("owner") != _owner(csrf)
        or not isinstance(doc.get("values"), dict)
    ):
        return None
    return Flash(
        values=doc["values"],
        error=str(doc.get("error", "")),
        status=int(doc.get("status", 400)),
        inspect=doc.get("inspect") is True,
    )
