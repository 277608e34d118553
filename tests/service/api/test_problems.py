"""Bad input over real HTTP: each a 4xx ``application/problem+json`` whose ``code`` and ``detail`` name the
reason; unknown routes, wrong methods, oversized bodies and missing keys are problems too."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.service.api.conftest import MODELS, LiveApi

pytestmark = pytest.mark.slow

BASE: dict[str, Any] = {"dataset": "data:shapes", "models": MODELS[:1], "scorers": ["logme"]}


def assert_problem(r: httpx.Response, status: int, code: str | set[str], *words: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    codes = {code} if isinstance(code, str) else code
    assert body["code"] in codes, body
    assert body["type"] == "urn:zoorank:problem:" + body["code"]
    assert body["status"] == status and body["title"] and body["instance"] == r.request.url.path
    for word in words:
        assert word.lower() in body["detail"].lower(), (word, body["detail"])
    return body


BAD_REQUESTS = [
    pytest.param(
        {**BASE, "models": ["nosuch.model"]}, 422, "unknown-model", ["nosuch.model"], id="unknown-model"
    ),
    pytest.param(
        {**BASE, "scorers": ["nosuchscorer"]},
        422,
        "unknown-scorer",
        ["nosuchscorer", "logme"],
        id="unknown-scorer",
    ),
    pytest.param(
        {**BASE, "params": {"logme": {"no_such_param": 1}}},
        422,
        "invalid-parameter",
        ["no_such_param"],
        id="unknown-param",
    ),
    pytest.param(
        {**BASE, "params": {"logme": {"tol": -1}}}, 422, "invalid-parameter", ["tol"], id="bad-param-value"
    ),
    pytest.param({**BASE, "dataset": "/etc"}, 403, "path-not-allowed", ["root"], id="outside-roots"),
    pytest.param({**BASE, "dataset": "data:../../etc"}, 403, "path-not-allowed", [".."], id="dotdot"),
    pytest.param({**BASE, "dataset": "data:missing"}, 422, "dataset-not-found", ["missing"], id="missing"),
    pytest.param(
        {**BASE, "dataset": "data:empty"},
        422,
        "dataset-format",
        ["no JPEG/PNG/WEBP"],
        id="empty",
    ),
    pytest.param(
        {**BASE, "dataset": "data:single"},
        422,
        "too-few-classes",
        ["1 class"],
        id="single-class",
    ),
    pytest.param(
        {**BASE, "models": [*MODELS, "cnn4.emoji", "resnet8.emoji"]},
        422,
        "limit-exceeded",
        ["ZOORANK_MAX_MODELS"],
        id="too-many-models",
    ),
    pytest.param(
        {**BASE, "sampling": {"max_per_class": 0, "max_samples": 201}},
        422,
        "limit-exceeded",
        ["ZOORANK_MAX_IMAGES"],
        id="too-many-images",
    ),
    pytest.param({**BASE, "sampling": {"seed": 2**32}}, 422, "validation-error", ["seed"], id="seed-range"),
    pytest.param({**BASE, "surprise": 1}, 422, "validation-error", ["surprise"], id="extra-field"),
    pytest.param({"models": MODELS}, 422, "validation-error", ["dataset"], id="no-dataset"),
]


@pytest.mark.parametrize(("body", "status", "code", "words"), BAD_REQUESTS)
def test_bad_ranking_requests_are_problems(
    live: LiveApi, body: dict[str, Any], status: int, code: str | set[str], words: list[str]
) -> None:
    with live.http() as http:
        assert_problem(http.post("/v1/rankings", json=body), status, code, *words)


def test_limits_accept_the_value_at_the_limit(live: LiveApi) -> None:
    # ZOORANK_MAX_IMAGES=200 and ZOORANK_MAX_MODELS=4: exactly at the limit is accepted (limit + 1 above is
    # refused); the shapes dataset has 24 images, so max_samples=200 samples them all.
    body = {**BASE, "models": [*MODELS, "cnn4.emoji"], "sampling": {"max_per_class": 0, "max_samples": 200}}
    with live.http() as http:
        r = http.post("/v1/rankings", json=body)
    assert r.status_code in (200, 202), r.text


def test_inspect_refuses_paths_outside_the_roots(live: LiveApi) -> None:
    with live.http() as http:
        assert_problem(
            http.post("/v1/datasets/inspect", json={"dataset": "/etc/passwd"}), 403, "path-not-allowed"
        )
        assert_problem(
            http.post("/v1/datasets/inspect", json={"dataset": "data:missing"}), 422, "dataset-not-found"
        )


def test_unknown_route_wrong_method_and_bad_query(live: LiveApi) -> None:
    with live.http() as http:
        assert_problem(http.get("/v1/nowhere"), 404, "not-found", "/v1/nowhere")
        r = assert_problem(http.delete("/v1/models"), 405, "method-not-allowed")
        assert r["detail"]
        body = assert_problem(http.get("/v1/jobs", params={"limit": 0}), 422, "validation-error", "limit")
        assert body["errors"][0]["loc"] == "query.limit"
        assert_problem(http.get("/v1/models/no.such"), 404, "not-found", "no.such")


def test_missing_or_wrong_api_key_is_401(live: LiveApi) -> None:
    with httpx.Client(base_url=live.url) as http:
        r = assert_problem(http.get("/v1/models"), 401, "unauthorized")
        assert r["detail"] and "Bearer" in http.get("/v1/models").headers["www-authenticate"]
        assert_problem(http.get("/v1/models", headers={"X-API-Key": "wrong"}), 401, "unauthorized")
        assert_problem(
            http.post("/v1/rankings", json=BASE, headers={"Authorization": "Bearer wrong"}),
            401,
            "unauthorized",
        )
        ok = http.get("/v1/scorers", headers={"Authorization": f"Bearer {live.key}"})
        assert ok.status_code == 200


def test_a_body_over_the_cap_is_refused_while_streaming(live: LiveApi) -> None:
    # ZOORANK_MAX_BODY_BYTES=65536 on the live stack
    big = {"dataset": "data:shapes", "models": ["x" * 60_000, "y" * 60_000]}
    with live.http() as http:
        assert_problem(http.post("/v1/rankings", json=big), 413, "body-too-large", "65536")

        def chunks() -> Any:  # no Content-Length: counted as it arrives
            yield b'{"dataset": "data:shapes", "models": ["'
            for _ in range(200):
                yield b"z" * 1024
            yield b'"]}'

        r = http.post("/v1/rankings", content=chunks(), headers={"Content-Type": "application/json"})
        assert_problem(r, 413, "body-too-large")
