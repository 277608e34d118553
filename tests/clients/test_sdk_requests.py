"""The SDK's client-side parts that need no server: request checks (refused before anything is sent),
the event-stream decoder, ``Retry-After`` parsing, forward-compatible views."""

from __future__ import annotations

import pytest
from zoorank_client.sdk import (
    APIConnectionError,
    Job,
    RequestValidationError,
    UnsupportedSchemaError,
    Zoorank,
)
from zoorank_client.sdk._base import SSEDecoder, build_ranking_request
from zoorank_client.sdk._exceptions import parse_retry_after
from zoorank_client.sdk._types import Ranking

from tests.service.api.conftest import free_port


@pytest.fixture()
def nowhere() -> Zoorank:
    """A client of a port nobody listens on: anything actually sent fails with APIConnectionError."""
    return Zoorank(base_url=f"http://127.0.0.1:{free_port()}", api_key="k", max_retries=0)


def test_a_closed_port_is_a_connection_error(nowhere: Zoorank) -> None:
    with pytest.raises(APIConnectionError):
        nowhere.scorers.list()


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"extra_body": {"modles": ["cnn4.glyphs"]}}, "/modles"),
        ({"sampling": {"max_per_clas": 3}}, "/sampling/max_per_clas"),
        ({"sampling": {"seed": "0"}}, "/sampling/seed"),
        ({"ensemble": {"k": 2, "scorer": ["x"]}}, "/ensemble/scorer"),
        ({"models": "cnn4.glyphs"}, "/models"),
        ({"models": ["cnn4.glyphs", ""]}, "/models/1"),
        ({"params": {"logme": 3}}, "/params/logme"),
    ],
)
def test_unknown_or_mistyped_fields_are_refused_before_sending(
    nowhere: Zoorank, kwargs: dict[str, object], param: str
) -> None:
    with pytest.raises(RequestValidationError) as refused:
        nowhere.jobs.create("data:shapes", **kwargs)  # type: ignore[arg-type]
    assert refused.value.param == param
    assert param.rsplit("/", 1)[-1] in str(refused.value) or "must be" in str(refused.value)


def test_rank_refuses_before_sending(nowhere: Zoorank) -> None:
    with pytest.raises(RequestValidationError) as refused:
        nowhere.rank("data:shapes", sampling={"max_sample": 10})
    assert refused.value.param == "/sampling/max_sample"
    assert "max_sample" in str(refused.value) and "max_samples" in str(refused.value)


def test_a_valid_request_is_sent_as_given() -> None:
    body = build_ranking_request(
        "data:x",
        models=("a", "b*"),
        scorers=["logme"],
        sampling={"max_per_class": 4, "seed": 1},
        params={"logme": {"tol": 1e-3}},
        ensemble={"k": 2, "scorers": ["x"], "mode": "greedy"},
    )
    assert body == {
        "dataset": "data:x",
        "models": ["a", "b*"],
        "scorers": ["logme"],
        "sampling": {"max_per_class": 4, "seed": 1},
        "params": {"logme": {"tol": 1e-3}},
        "ensemble": {"k": 2, "scorers": ["x"], "mode": "greedy"},
    }


def test_sse_decoder_reads_events_ids_comments_and_multiline_data() -> None:
    decoder = SSEDecoder()
    lines = [": ping", "event: progress", "id: 1-0", 'data: {"stage":', 'data: "extract"}', "", "", "id: 2-0"]
    lines += ["event: done", 'data: {"status": "succeeded", "ranking_id": "j"}', ""]
    events = [e for e in (decoder.feed(line) for line in lines) if e is not None]
    assert [(e.id, e.event) for e in events] == [("1-0", "progress"), ("2-0", "done")]
    assert events[0].stage == "extract" and events[1].status == "succeeded" and events[1].ranking_id == "j"
    assert decoder.last_event_id == "2-0"


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait


def test_views_keep_unknown_fields_and_new_enum_values() -> None:
    job = Job.from_dict({"id": "j", "status": "paused", "stage": "thinking", "shiny": 1})
    assert job.status == "paused" and not job.done and job["shiny"] == 1
    with pytest.raises(UnsupportedSchemaError):
        Ranking.from_dict({"schema_version": "2.0", "models": []})
    assert Ranking.from_dict({"schema_version": "1.17", "models": []}).best is None
