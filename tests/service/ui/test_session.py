"""Session cookies (signed, expiring) and the CSRF check."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner

from service.errors import CsrfTokenError
from service.ui.session import Session, SessionCodec, check_csrf

SECRET = "s" * 40
MAX_AGE_S = 3600


def test_round_trip_keeps_owner_and_token() -> None:
    codec = SessionCodec(SECRET, max_age_s=MAX_AGE_S)
    session = Session.anonymous().logged_in("abcd1234abcd1234")
    back = codec.loads(codec.dumps(session))
    assert back is not None
    assert (back.sid, back.csrf, back.owner, back.authenticated) == (
        session.sid, session.csrf, "abcd1234abcd1234", True
    )  # fmt: skip


def test_login_rotates_session_id_and_token() -> None:
    before = Session.anonymous()
    after = before.logged_in("o")
    assert after.sid != before.sid and after.csrf != before.csrf


@pytest.mark.parametrize("value", [None, "", "garbage", "e30.AAAA.BBBB"])
def test_missing_or_malformed_cookies_are_dropped(value: str | None) -> None:
    assert SessionCodec(SECRET, max_age_s=MAX_AGE_S).loads(value) is None


def test_a_cookie_signed_with_another_secret_is_dropped() -> None:
    forged = SessionCodec("x" * 40, max_age_s=MAX_AGE_S).dumps(Session.anonymous().logged_in("o"))
    assert SessionCodec(SECRET, max_age_s=MAX_AGE_S).loads(forged) is None


def test_an_expired_cookie_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = SessionCodec(SECRET, max_age_s=MAX_AGE_S)
    now = int(time.time())
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: now - MAX_AGE_S - 5)
    value = codec.dumps(Session.anonymous())
    monkeypatch.undo()
    assert codec.loads(value) is None
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: now - MAX_AGE_S + 60)
    recent = codec.dumps(Session.anonymous())
    monkeypatch.undo()
    assert codec.loads(recent) is not None


def test_csrf_token_must_match() -> None:
    session = Session.anonymous()
    check_csrf(session, session.csrf)
    for bad in (None, "", session.csrf + "x", Session.anonymous().csrf):
        with pytest.raises(CsrfTokenError) as err:
            check_csrf(session, bad)
        assert err.value.code == "csrf-token-invalid"
