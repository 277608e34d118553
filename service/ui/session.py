"""Dashboard sessions: a signed, expiring cookie that carries who is logged in and the form CSRF token.

The browser never holds an API key after the login form: the server checks the key once with the API's own
constant-time digest comparison (:func:`service.api.auth.match_key`) and stores only the digest *prefix*
(the same ``owner`` the API uses for job ownership and quotas) in the cookie. The cookie is

* signed and time-stamped with :class:`itsdangerous.URLSafeTimedSerializer` (``ZOORANK_SESSION_SECRET``, or a
  random per-process secret when unset, which logs everyone out at a restart and does not work across
  several API replicas), and refused after ``Settings.session_max_age_s``;
* ``HttpOnly`` (page scripts cannot read it), ``SameSite=Strict`` (never sent on cross-site requests),
  ``Path=/ui``, and ``Secure`` when the request came over HTTPS.

Every visitor gets a session, anonymous until login, so that the login form itself carries a CSRF token.
Each POST form repeats the session's token in a hidden ``csrf_token`` field (synchroniser-token pattern);
:func:`check_csrf` compares the two in constant time. Logging in rotates both the session id and the token.
A logged-in session also lives server-side (``ui:session:{sid}`` in Redis, TTL ``session_max_age_s``):
logout deletes it, so a saved cookie is worth nothing afterwards, and a session whose owner no longer
matches a configured key (the key was removed from ``ZOORANK_API_KEYS``) is deleted when next seen.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from service.errors import CsrfTokenError

__all__ = [
    "COOKIE_NAME",
    "CSRF_FIELD",
    "Session",
    "SessionCodec",
    "check_csrf",
]

COOKIE_NAME = "zoorank_session"
#: Name of the hidden form field (and of the ``X-CSRF-Token`` header alternative) holding the token.
CSRF_FIELD = "csrf_token"
_SALT = "zoorank.ui.session.v1"


@dataclass(frozen=True)
class Session:
    """One browser's dashboard session.

    Attributes:
        sid: random session id (changes at login and logout).
        csrf: the token every form of this session must send back.
        owner: the API-key owner id (digest prefix) once logged in with a key; None otherwise.
        authenticated: whether the login form accepted a key.
        fresh: created by this request (the response must set the cookie).
    """

    sid: str
    csrf: str
    owner: str | None = None
    authenticated: bool = False
    fresh: bool = False

    @classmethod
    def anonymous(cls) -> Session:
        """A new, not logged-in session."""
        return cls(sid=secrets.token_urlsafe(16), csrf=secrets.token_urlsafe(32), fresh=True)

    def logged_in(self, owner: str | None) -> Session:
        """This browser after a successful login: new id and token (no session fixation)."""
        return replace(Session.anonymous(), owner=owner, authenticated=True)

    def payload(self) -> dict[str, Any]:
        """What the cookie carries (signed, not encrypted: nothing in it is secret but the token's use)."""
        return {"sid": self.sid, "csrf": self.csrf, "owner": self.owner, "auth": self.authenticated}


class SessionCodec:
    """Signs sessions into cookie values and reads them back (expired or forged values are dropped)."""

    def __init__(self, secret: str, *, max_age_s: int) -> None:
        """``max_age_s`` (``Settings.session_max_age_s``): the cookie's ``Max-Age`` and the signature's
        accepted age, i.e. how long a login lasts."""
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self.max_age_s = max_age_s

    def dumps(self, session: Session) -> str:
        """The cookie value of ``session``."""
        value: str = self._serializer.dumps(session.payload())
        return value

    def loads(self, value: str | None) -> Session | None:
        """The session in a cookie value, or None when it is missing, forged, malformed or expired."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=self.max_age_s)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict):
            return None
        sid, csrf, owner, auth = data.get("sid"), data.get("csrf"), data.get("owner"), data.get("auth")
        if not isinstance(sid, str) or not isinstance(csrf, str) or not isinstance(auth, bool):
            return None
        if owner is not None and not isinstance(owner, str):
            return None
        return Session(sid=sid, csrf=csrf, owner=owner, authenticated=auth)

    def set_cookie(self, request: Request, response: Response, session: Session) -> None:
        """Attach ``session`` to ``response`` as the ``HttpOnly``, ``SameSite=Strict`` session cookie."""
        response.set_cookie(
            COOKIE_NAME,
            self.dumps(session),
            max_age=self.max_age_s,
            path=_cookie_path(request),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


def _cookie_path(request: Request) -> str:
    """The dashboard's mount path (``/ui``), so the cookie is never sent to the JSON API."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return root or "/"


def check_csrf(session: Session, submitted: str | None) -> None:
    """Raise :class:`CsrfTokenError` unless ``submitted`` is this session's token (constant time)."""
    if not submitted or not hmac.compare_digest(submitted.encode("utf-8"), session.csrf.encode("utf-8")):
        raise CsrfTokenError(
            "the form was not sent with this session's CSRF token; reload the page and try again",
            param=CSRF_FIELD,
        )
