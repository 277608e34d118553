"""The HTTP edge in process (FastAPI's TestClient) on a real redis-server: quotas, auth, routes, schema."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from redis import Redis
from starlette.testclient import TestClient

from service.api.auth import authenticate, match_key
from service.api.routers.rankings import body_digest
from service.app import create_app
from service.jobs import keys
from service.jobs.engine import JobEngine
from service.jobs.request import RankingRequest
from service.settings import Settings
from tests.service.api.conftest import API_KEY, API_KEY_DIGEST, MODELS, api_routes
from tests.support.service import write_image_folder


def make_settings(tmp_path: Path, redis_url: str, **env: str) -> Settings:
    """Settings on Redis database 1: jobs queued here are never seen by the live stack's worker (db 0)."""
    base = {
        "REDIS_URL": redis_url.rsplit("/", 1)[0] + "/1",
        "ZOORANK_HOME": str(tmp_path / "home"),
        "ZOORANK_DATA_ROOTS": f"data={tmp_path}",
        "ZOORANK_API_KEYS": API_KEY_DIGEST,
    }
    return Settings.from_env({**base, **env})


def test_requests_over_the_per_minute_quota_get_429_with_retry_after(tmp_path: Path, redis_url: str) -> None:
    key = f"k-{tmp_path.name}"  # a key of its own, so no other test's requests count
    settings = make_settings(
        tmp_path,
        redis_url,
        ZOORANK_REQUESTS_PER_MINUTE="3",
        ZOORANK_API_KEYS=hashlib.sha256(key.encode()).hexdigest(),
    )
    app = create_app(settings)
    with TestClient(app) as client:
        codes = [client.get("/v1/scorers", headers={"X-API-Key": key}).status_code for _ in range(3)]
        over = client.get("/v1/scorers", headers={"X-API-Key": key})
        health = client.get("/health/live")
    # The three may straddle a minute boundary (a fresh window): then the fourth passes too; retry once.
    if over.status_code == 200:
        with TestClient(app) as client:
            for _ in range(3):
                client.get("/v1/scorers", headers={"X-API-Key": key})
            over = client.get("/v1/scorers", headers={"X-API-Key": key})
    assert codes == [200, 200, 200]
    assert over.status_code == 429
    assert over.headers["content-type"] == "application/problem+json"
    assert over.json()["code"] == "rate-limited" and "ZOORANK_REQUESTS_PER_MINUTE" in over.json()["detail"]
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert health.status_code == 200  # health checks are never charged


def test_unfinished_jobs_over_the_per_key_quota_get_429(tmp_path: Path, redis_url: str) -> None:
    write_image_folder(tmp_path / "shapes", per_class=4, size=16)
    key = f"q-{tmp_path.name}"
    settings = make_settings(
        tmp_path,
        redis_url,
        ZOORANK_MAX_QUEUED_JOBS_PER_KEY="2",
        ZOORANK_API_KEYS=hashlib.sha256(key.encode()).hexdigest(),
    )
    # No worker consumes database 1, so every accepted job stays queued and counts against the quota.
    with TestClient(create_app(settings), headers={"X-API-Key": key}) as client:
        bodies = [{"dataset": "data:shapes", "models": MODELS[:1], "sampling": {"seed": s}} for s in range(3)]
        first, second, third = (client.post("/v1/rankings", json=b) for b in bodies)
        again = client.post("/v1/rankings", json=bodies[0])  # an identical request joins its job: no quota
    assert (first.status_code, second.status_code) == (202, 202)
    assert third.status_code == 429 and third.json()["code"] == "too-many-jobs"
    assert "ZOORANK_MAX_QUEUED_JOBS_PER_KEY" in third.json()["detail"]
    assert int(third.headers["retry-after"]) > 0
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]


def test_auth_off_warns_at_start_up_and_accepts_anyone(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, redis_url, ZOORANK_API_KEYS="")
    with caplog.at_level(logging.WARNING, logger="zoorank.api"), TestClient(create_app(settings)) as client:
        assert client.get("/v1/scorers").status_code == 200
    assert any("authentication is OFF" in r.getMessage() for r in caplog.records)


def test_keys_are_compared_as_digests() -> None:
    digests = (hashlib.sha256(b"other").hexdigest(), API_KEY_DIGEST)
    assert match_key(API_KEY, digests) == API_KEY_DIGEST
    assert match_key(API_KEY_DIGEST, digests) is None  # the digest itself is not a key
    assert match_key("", digests) is None
    assert match_key(API_KEY, ()) is None


def _routes() -> list[APIRoute]:
    app = create_app(Settings.from_env({}))
    routes = list(api_routes(app.routes))
    # The /v1 API has 14 routes (rankings 2, jobs 4, models 2, scorers 1, datasets 2, health 2, metrics 1):
    # a walk that finds fewer has stopped seeing the routers and would make the checks below vacuous.
    assert len(routes) >= 14, [r.path for r in routes]
    return routes


def test_every_route_but_health_requires_the_api_key() -> None:
    for route in _routes():
        calls = {d.call for d in route.dependant.dependencies}
        if route.path.startswith("/health/"):
            assert authenticate not in calls, route.path
        else:
            assert authenticate in calls, f"{route.path} is not authenticated"


def test_every_route_has_an_explicit_snake_case_operation_id_and_documented_problems() -> None:
    seen = set()
    for route in _routes():
        assert route.operation_id and re.fullmatch(r"[a-z][a-z0-9_]*", route.operation_id), route.path
        assert route.operation_id not in seen
        seen.add(route.operation_id)
        if not route.path.startswith("/health/"):
            assert 401 in route.responses, route.path
    schema = create_app(Settings.from_env({})).openapi()
    for path, operations in schema["paths"].items():
        for op in operations.values():
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")) and not path.startswith("/health/"):
                    assert list(response["content"]) == ["application/problem+json"], (path, status)
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["Ranking"]["title"] == "Ranking"


def test_idempotency_key_in_flight_is_409_and_failures_are_not_recorded(
    tmp_path: Path, redis_url: str
) -> None:
    import json

    import redis

    from service.jobs import keys

    write_image_folder(tmp_path / "shapes", per_class=4, size=16)
    key = f"i-{tmp_path.name}"
    settings = make_settings(tmp_path, redis_url, ZOORANK_API_KEYS=hashlib.sha256(key.encode()).hexdigest())
    body = {"dataset": "data:shapes", "models": MODELS[:1], "sampling": {"seed": 7}}
    with TestClient(create_app(settings), headers={"X-API-Key": key}) as client:
        # A request that fails is not recorded: the same key may then carry another (valid) body.
        bad = client.post(
            "/v1/rankings", json={**body, "models": ["no.such"]}, headers={"Idempotency-Key": "a"}
        )
        good = client.post("/v1/rankings", json=body, headers={"Idempotency-Key": "a"})
        assert bad.status_code == 422 and bad.json()["code"] == "unknown-model"
        assert good.status_code == 202 and "idempotent-replayed" not in good.headers
        # The first request with key "b" is still being processed (its in-flight record is in Redis).
        owner = hashlib.sha256(key.encode()).hexdigest()[:16]
        record = keys.idempotency(owner, hashlib.sha256(b"b").hexdigest())
        pending = {"state": "in-flight", "body_sha256": body_digest(RankingRequest.model_validate(body))}
        redis.Redis.from_url(settings.redis_url or "").set(record, json.dumps(pending), ex=60)
        busy = client.post("/v1/rankings", json=body, headers={"Idempotency-Key": "b"})
        other = client.post(
            "/v1/rankings", json={**body, "sampling": {"seed": 8}}, headers={"Idempotency-Key": "b"}
        )
    assert busy.status_code == 409 and busy.json()["code"] == "idempotency-in-flight"
    assert other.status_code == 422 and other.json()["code"] == "idempotency-key-reused"


def test_an_unreachable_redis_is_a_503_problem_and_not_ready(tmp_path: Path) -> None:
    from tests.service.api.conftest import free_port

    settings = make_settings(tmp_path, f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as client:
        r = client.get("/v1/scorers")
        ready = client.get("/health/ready")
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "unavailable" and r.headers["retry-after"]
    assert ready.status_code == 503 and ready.json() == {
        "status": "not-ready",
        "redis": False,
        "workers": 0,
        "queues": {},
    }


def test_only_the_key_that_created_a_job_may_cancel_it(tmp_path: Path, redis_url: str) -> None:
    write_image_folder(tmp_path / "shapes", per_class=4, size=16)
    key_a, key_b = f"a-{tmp_path.name}", f"b-{tmp_path.name}"
    digests = ",".join(hashlib.sha256(k.encode()).hexdigest() for k in (key_a, key_b))
    settings = make_settings(tmp_path, redis_url, ZOORANK_API_KEYS=digests)
    body = {"dataset": "data:shapes", "models": MODELS[:1], "sampling": {"seed": 11}}
    with TestClient(create_app(settings)) as client:
        job = client.post("/v1/rankings", json=body, headers={"X-API-Key": key_a}).json()
        shared = client.post("/v1/rankings", json=body, headers={"X-API-Key": key_b}).json()
        refused = client.post(f"/v1/jobs/{job['id']}/cancel", headers={"X-API-Key": key_b})
        read = client.get(f"/v1/jobs/{job['id']}", headers={"X-API-Key": key_b})
        cancelled = client.post(f"/v1/jobs/{job['id']}/cancel", headers={"X-API-Key": key_a})
    assert shared["id"] == job["id"]  # B's identical request joined A's job
    assert refused.status_code == 403 and refused.json()["code"] == "not-owner"
    assert read.status_code == 200 and read.json()["status"] == "queued"
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_start_up_resends_the_parts_of_jobs_a_redis_restart_left_without_messages(
    tmp_path: Path, redis_url: str
) -> None:
    write_image_folder(tmp_path / "shapes", per_class=4, size=16)
    # database 4: no worker listens there, so the job stays queued and its queue is ours to empty
    url = redis_url.rsplit("/", 1)[0] + "/4"
    settings = make_settings(tmp_path, redis_url, REDIS_URL=url, ZOORANK_RECONCILE_IDLE_S="0")
    client = Redis.from_url(url)
    client.flushdb()
    engine = JobEngine(settings, client)
    view, _ = engine.submit(RankingRequest(dataset="data:shapes", models=MODELS, scorers=["logme"]))
    assert engine.queue_depths()["extract"] == 1  # the models share a preprocessing config: one group
    # Redis restarted without its queue (reliability.md §B2): the job is queued, its messages are gone
    client.delete(keys.broker_queue("extract"), keys.broker_queue("extract") + ".msgs")
    assert engine.queue_depths()["extract"] == 0
    with TestClient(create_app(settings)):
        deadline = time.monotonic() + 30
        while engine.queue_depths()["extract"] < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert engine.queued_parts() == {("extract", view.id, *MODELS)}
    engine.cancel(view.id)
    client.close()


def test_the_run_name_is_a_label_of_the_job_in_the_api(tmp_path: Path, redis_url: str) -> None:
    write_image_folder(tmp_path / "shapes", per_class=4, size=16)
    settings = make_settings(tmp_path, redis_url)
    body = {"dataset": "data:shapes", "models": MODELS[:1], "sampling": {"seed": 12}}
    headers = {"X-API-Key": API_KEY}
    with TestClient(create_app(settings)) as client:
        job = client.post("/v1/rankings", json={**body, "name": "baseline · März"}, headers=headers).json()
        again = client.post("/v1/rankings", json={**body, "name": "other"}, headers=headers).json()
        listed = client.get("/v1/jobs", headers=headers).json()["items"]
        bad = client.post("/v1/rankings", json={**body, "name": "two\nlines"}, headers=headers)
        long = client.post("/v1/rankings", json={**body, "name": "x" * 121}, headers=headers)
        client.post(f"/v1/jobs/{job['id']}/cancel", headers=headers)
    assert job["name"] == "baseline · März" and job["request"]["name"] == "baseline · März"
    assert again["id"] == job["id"] and again["name"] == "baseline · März"  # the job keeps its first name
    assert [j["name"] for j in listed if j["id"] == job["id"]] == ["baseline · März"]
    assert bad.status_code == 422 and long.status_code == 422
