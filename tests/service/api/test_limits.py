"""Limits at the HTTP edge against the live stack: event ids, header size, strict integers, bodies that
cannot be decoded, and problem documents that name nothing internal.

Each test reads only the part of the server log its own requests wrote (``LogTail``), so the shared stack's
other tests cannot make one pass or fail.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estimators.errors import ZoorankError
from service.api.problems import PROBLEM_MEDIA_TYPE, problem_response
from tests.service.api.conftest import LiveApi, free_port, stop_process
from tests.service.api.test_e2e import wait_done

#: A request that finishes in seconds on the live stack (one small model, one scorer).
SMALL_REQUEST: dict[str, Any] = {
    "dataset": "data:shapes",
    "models": ["cnn4.glyphs"],
    "scorers": ["logme"],
    "sampling": {"max_per_class": 4, "seed": 11},
}
#: A traceback in a log line: Python's own header, or a Redis error escaping a stream.
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|ResponseError|Invalid stream ID")


class LogTail:
    """The text appended to a log file after this object was made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = path.stat().st_size

    def text(self) -> str:
        with open(self.path, "rb") as f:
            f.seek(self.start)
            return f.read().decode("utf-8", "replace")


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    doc: dict[str, Any] = r.json()
    assert doc["code"] == code and doc["status"] == status and doc["type"].endswith(code)
    assert doc["title"] and doc["title"] != code
    return doc


@pytest.fixture(scope="module")
def finished_job(live: LiveApi) -> str:
    """The id of a succeeded job of the live stack (its event stream ends with ``done``)."""
    with live.http() as http:
        r = http.post("/v1/rankings", json=SMALL_REQUEST)
        assert r.status_code in (200, 202), r.text
        job_id: str = r.json()["id"]
        assert wait_done(http, job_id)["status"] == "succeeded"
    return job_id


# -- Last-Event-ID --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "last_event_id",
    ["not-an-id", "-1", "null", "12", "1-2-3", "0x10-0", "1 -0", "18446744073709551616-0", "1-"],
)
def test_an_invalid_last_event_id_is_400_before_streaming(
    live: LiveApi, finished_job: str, last_event_id: str
) -> None:
    tail = LogTail(live.logs / "api.log")
    with live.http() as http:
        r = http.get(f"/v1/jobs/{finished_job}/events", headers={"Last-Event-ID": last_event_id})
    doc = assert_problem(r, 400, "invalid-event-id")
    assert doc["param"] == "Last-Event-ID"
    assert not TRACEBACK.search(tail.text())


def test_a_valid_last_event_id_past_the_end_still_ends_with_done(live: LiveApi, finished_job: str) -> None:
    with live.http() as http:
        r = http.get(f"/v1/jobs/{finished_job}/events", headers={"Last-Event-ID": "18446744073709551615-0"})
    assert r.status_code == 200
    assert "event: done" in r.text


def test_schemathesis_over_the_events_operation_leaves_no_traceback(live: LiveApi, finished_job: str) -> None:
    """Generated requests (any Last-Event-ID the schema allows) against a real job: no 5xx, no traceback.

    The job id of every case is the finished job's, so each valid id reaches Redis's stream read.
    """
    import schemathesis  # heavy: schemathesis pulls in its whole engine; only this test needs it

    schema = schemathesis.openapi.from_url(live.url + "/openapi.json", headers={"X-API-Key": live.key})
    operation = schema.find_operation_by_id("job_events")
    assert operation is not None
    tail = LogTail(live.logs / "api.log")
    statuses: set[int] = set()

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), raw=st.text(max_size=40))
    def check(case: Any, raw: str) -> None:
        case.path_parameters = {"job_id": finished_job}
        headers = dict(case.headers or {})
        if "last-event-id" not in {k.lower() for k in headers} and raw.isascii() and raw.isprintable():
            headers["Last-Event-ID"] = raw
        case.headers = headers
        response = case.call(base_url=live.url, headers={"X-API-Key": live.key}, timeout=30)
        statuses.add(response.status_code)
        assert response.status_code < 500, response.text

    check()
    assert 400 in statuses and 200 in statuses, statuses
    log = tail.text()
    assert not TRACEBACK.search(log), log[-3000:]


# -- header size ----------------------------------------------------------------------------------


def test_oversized_request_headers_are_431(live: LiveApi) -> None:
    big = "x" * 40_000  # over the default 32768 bytes of ZOORANK_MAX_HEADER_BYTES
    with live.http() as http:
        r = http.get("/v1/models", headers={"X-Padding": big})
        doc = assert_problem(r, 431, "headers-too-large")
        assert doc["param"] == "max_header_bytes"
        spread = {f"X-Pad-{i}": "y" * 1000 for i in range(40)}  # the total counts, not one field
        assert_problem(http.get("/v1/models", headers=spread), 431, "headers-too-large")
        assert http.get("/v1/models", headers={"X-Padding": "x" * 8000}).status_code == 200


# -- strict integers and undecodable bodies -------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("sampling", "max_per_class", True),
        ("sampling", "max_per_class", 2.0),
        ("sampling", "max_samples", False),
        ("sampling", "seed", 1.5),
        ("sampling", "seed", "3"),
        ("ensemble", "k", True),
        ("ensemble", "top", 2.0),
    ],
)
def test_a_bool_or_float_never_passes_as_an_integer(
    live: LiveApi, section: str, field: str, value: object
) -> None:
    body = {**SMALL_REQUEST, section: {**SMALL_REQUEST.get(section, {}), field: value}}
    with live.http() as http:
        doc = assert_problem(http.post("/v1/rankings", json=body), 422, "validation-error")
    assert doc["param"] == f"/{section}/{field}"  # a JSON pointer into the request body
    assert any(issue["loc"].endswith(field) for issue in doc["errors"])


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00garbage", b'{"dataset": "data:shapes"', b"not json at all", b'{"dataset": "\xe9t\xe9"}'],
)
def test_an_undecodable_body_is_a_documented_400(live: LiveApi, content: bytes) -> None:
    with live.http() as http:
        r = http.post("/v1/rankings", content=content, headers={"Content-Type": "application/json"})
        doc = assert_problem(r, 400, "malformed-body")
        assert doc["param"] == "body"
        spec = http.get("/openapi.json").json()
    assert "400" in spec["paths"]["/v1/rankings"]["post"]["responses"]


# -- nothing internal in problem documents --------------------------------------------------------


def test_a_server_fault_names_no_internal_address_and_logs_it_under_the_request_id(
    live: LiveApi,
) -> None:
    """Redis made unreachable by pointing a second API process at a closed port."""
    env = {**live.env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    port = free_port()
    log = live.logs / "api-no-redis.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app"),
                *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        r = _first_answer(url, live.key)
        doc = assert_problem(r, 503, "unavailable")
        text = r.text
        assert "127.0.0.1" not in text and "6379" not in text and env["REDIS_URL"] not in text
        assert "/" not in doc["detail"].replace("/v1", "")
        rid = doc["request_id"]
        assert r.headers["x-request-id"] == rid and rid in doc["detail"]
    finally:
        stop_process(proc)
    logged = [line for line in log.read_text().splitlines() if rid in line]
    assert logged and any("redis" in line.lower() for line in logged)


def _first_answer(url: str, key: str) -> httpx.Response:
    """The first answer of ``url`` to a job lookup, polling while uvicorn starts."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return httpx.get(url + "/v1/jobs/some-job", headers={"X-API-Key": key, "X-Request-ID": "probe-1"})
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.parametrize("status_code", ["weights-not-found", "feature-store-error", "zoorank-error"])
def test_server_side_problems_carry_the_title_and_request_id_not_the_message(status_code: str) -> None:
    error = next(c for c in _error_classes() if c.code == status_code)(
        "weights file /srv/zoorank/home/weights/abc.pt does not exist (redis://10.0.0.5:6379)"
    )
    body = problem_response(error, "/v1/rankings", request_id="req-7").body
    text = bytes(body).decode()
    assert "/srv/" not in text and "10.0.0.5" not in text and "req-7" in text
    client_side = problem_response(ZoorankError("x"), "/v1/x").body  # no request id: message kept
    assert b'"detail":"x"' in bytes(client_side)


def _error_classes() -> list[type[ZoorankError]]:
    out: list[type[ZoorankError]] = []
    todo: list[type[ZoorankError]] = [ZoorankError]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


# -- query strings ---------------------------------------------------------------------------------


def test_an_empty_or_overlong_model_tag_is_a_422_naming_the_tag(live: LiveApi) -> None:
    """Each tag of ``GET /v1/models?tag=`` is a non-empty label of at most 100 characters, as the schema
    says (schemathesis sent an empty tag the schema forbids and got 200)."""
    with live.http() as http:
        for bad in ("", "t" * 101):
            doc = assert_problem(
                http.get("/v1/models", params=[("tag", "builtin"), ("tag", bad)]), 422, "validation-error"
            )
            assert "tag" in json.dumps(doc)
        assert http.get("/v1/models", params={"tag": "builtin"}).status_code == 200
