"""The one check of a client's ``Last-Event-ID`` against what Redis accepts as a stream id."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis import Redis
from redis.exceptions import ResponseError

from service.errors import InvalidEventIdError
from service.jobs import keys
from service.jobs.engine import check_event_id

U64 = (1 << 64) - 1

pytestmark = pytest.mark.property


@given(ms=st.integers(0, U64), seq=st.integers(0, U64))
def test_every_redis_stream_id_passes(ms: int, seq: int) -> None:
    assert check_event_id(f"{ms}-{seq}") == f"{ms}-{seq}"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the client is stateless here
@given(value=st.text(max_size=50) | st.from_regex(r"[0-9]{0,22}-?[0-9]{0,22}", fullmatch=True))
def test_a_string_passes_only_when_redis_reads_after_it(redis_client: Redis, value: str) -> None:
    """Agreement with Redis itself: whatever the check accepts, XREAD accepts too."""
    stream = keys.job_events("event-id-check")
    try:
        accepted = check_event_id(value) is not None
    except InvalidEventIdError:
        accepted = False
    if accepted:
        redis_client.xread({stream: value}, count=1)  # raises ResponseError if Redis disagrees


@pytest.mark.parametrize("value", ["-1", "null", "not-an-id", "12", "1-2-3", f"{U64 + 1}-0", "1-", "٣-0"])
def test_invalid_ids_are_refused_with_a_typed_error(redis_client: Redis, value: str) -> None:
    with pytest.raises(InvalidEventIdError) as caught:
        check_event_id(value)
    assert caught.value.param == "Last-Event-ID"
    assert check_event_id(None) is None


def test_redis_itself_refuses_what_the_check_refuses(redis_client: Redis) -> None:
    """The reason for the check: these reach Redis as an error in the middle of a stream."""
    stream = keys.job_events("event-id-check")
    redis_client.xadd(stream, {"event": "progress", "data": "{}"})
    for value in ("-1-0", "not-an-id", f"{U64 + 1}-0"):
        with pytest.raises(ResponseError):
            redis_client.xread({stream: value}, count=1)
    assert redis_client.xread({stream: f"{int(time.time() * 1000) - 60_000}-0"}, count=1)
