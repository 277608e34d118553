"""End to end through the generated client against a live stack (real Redis, worker process, uvicorn).

Submit, follow the events, fetch the ranking; compare it with ``zoorank rank --format json`` on the same
request; then the cache, idempotency, listing, ETags, metrics and health on the same stack.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from service.cli.commands import app as cli_app
from service.pipeline.schema import RANKING_JSON_SCHEMA
from tests.service.api.conftest import MODELS, SCORERS, LiveApi, base_env
from tests.support.schema import check_schema

pytestmark = pytest.mark.slow

REQUEST: dict[str, Any] = {
    "dataset": "data:shapes",
    "models": MODELS,
    "scorers": SCORERS,
    "sampling": {"max_per_class": 8, "seed": 0},
}
JOB_TIMEOUT_S = 120.0


def read_events(http: httpx.Client, job_id: str, last_event_id: str | None = None) -> list[dict[str, Any]]:
    """Every server-sent event of a job until the stream ends (after ``done``)."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    with http.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=JOB_TIMEOUT_S) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers.get("x-accel-buffering") == "no"
        for line in r.iter_lines():
            if not line:
                if "event" in current:
                    events.append(current)
                current = {}
            elif line.startswith(":"):
                continue  # ping
            else:
                field, _, value = line.partition(":")
                current[field] = value[1:] if value.startswith(" ") else value
    return events


def wait_done(http: httpx.Client, job_id: str, timeout: float = JOB_TIMEOUT_S) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


@pytest.fixture(scope="module")
def ranked(live: LiveApi) -> dict[str, Any]:
    """The canonical request, submitted through the generated client and followed to the end."""
    from zoorank_client.api.rankings import create_ranking, get_ranking
    from zoorank_client.models import JobView, RankingRequest

    client = live.client()
    submitted = create_ranking.sync_detailed(client=client, body=RankingRequest.from_dict(REQUEST))
    assert submitted.status_code in (200, 202), submitted.content
    job = submitted.parsed
    assert isinstance(job, JobView)
    assert submitted.headers["location"] == f"/v1/jobs/{job.id}"
    with live.http() as http:
        events = read_events(http, job.id)
        final = http.get(f"/v1/jobs/{job.id}").json()
    fetched = get_ranking.sync_detailed(client=client, ranking_id=final["ranking_id"])
    assert fetched.status_code == 200, fetched.content
    return {
        "submitted": submitted,
        "events": events,
        "job": final,
        "ranking": json.loads(fetched.content),
        "etag": fetched.headers["etag"],
    }


def test_a_submitted_job_streams_events_and_succeeds(ranked: dict[str, Any]) -> None:
    assert ranked["submitted"].status_code == 202
    assert ranked["submitted"].headers["retry-after"].isdigit()
    names = [e["event"] for e in ranked["events"]]
    assert names[-1] == "done" and names.count("done") == 1
    assert "progress" in names and "status" in names
    assert all(e.get("id") for e in ranked["events"])  # every event can be resumed after
    done = json.loads(ranked["events"][-1]["data"])
    assert done["status"] == "succeeded"
    assert ranked["job"]["status"] == "succeeded"
    check_schema(ranked["ranking"], RANKING_JSON_SCHEMA)
    assert [m["id"] for m in ranked["ranking"]["models"]] != []
    assert {m["id"] for m in ranked["ranking"]["models"]} == set(MODELS)


def test_events_resume_after_last_event_id(live: LiveApi, ranked: dict[str, Any]) -> None:
    events = ranked["events"]
    middle = events[len(events) // 2]["id"]
    with live.http() as http:
        resumed = read_events(http, ranked["job"]["id"], last_event_id=middle)
    assert [e["id"] for e in resumed] == [e["id"] for e in events[len(events) // 2 + 1 :]]


def _comparable(ranking: dict[str, Any]) -> dict[str, Any]:
    """The ranking without what legitimately differs between runs: timestamps, cache flags, timings."""
    out: dict[str, Any] = json.loads(json.dumps(ranking))
    out.pop("provenance")
    out["dataset"].pop("reference")
    for m in out["models"]:
        for volatile in ("cached", "extraction_seconds", "scores", "info"):
            m.pop(volatile)
    # the certainty is measured against wall times (which refits fit the budget): the decision is stable
    rec = out.pop("recommendation")
    out["recommended"] = (rec["model"], rec["runner_up"], rec["margin"])
    return out


def test_http_ranking_equals_the_cli_json(live: LiveApi, ranked: dict[str, Any], tmp_path: Path) -> None:
    # The CLI runs in this process with its own empty home, so it extracts everything afresh.
    env = base_env(tmp_path / "cli_home", live.data)
    args = ["rank", str(live.data / "shapes"), "--format", "json", "--quiet", "--seed", "0"]
    args += ["--max-per-class", "8", "--models", ",".join(MODELS), "--scorers", ",".join(SCORERS)]
    result = CliRunner().invoke(cli_app, args, env=env)
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    http = ranked["ranking"]
    assert _comparable(http) == _comparable(cli)
    # Scores: the same features computed by another process (maybe another thread count, so another BLAS
    # summation order) differ in the last float32 bits; the scorers are smooth in the features, so a
    # relative 1e-4 (plus 1e-6 absolute for scores near zero) bounds that by orders of magnitude.
    for a, b in zip(http["models"], cli["models"], strict=True):
        assert a["scores"].keys() == b["scores"].keys()
        for name, value in a["scores"].items():
            assert math.isclose(value, b["scores"][name], rel_tol=1e-4, abs_tol=1e-6), (a["id"], name)


def test_an_identical_request_gets_the_same_job_from_the_cache(live: LiveApi, ranked: dict[str, Any]) -> None:
    with live.http() as http:
        again = http.post("/v1/rankings", json=REQUEST)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == ranked["job"]["id"]
    assert again.json()["status"] == "succeeded"
    assert again.headers["location"] == f"/v1/jobs/{ranked['job']['id']}"


def test_ranking_etag_and_if_none_match(live: LiveApi, ranked: dict[str, Any]) -> None:
    rid = ranked["job"]["ranking_id"]
    with live.http() as http:
        first = http.get(f"/v1/rankings/{rid}")
        assert first.headers["etag"] == ranked["etag"]
        assert http.get(f"/v1/rankings/{rid}", headers={"If-None-Match": ranked["etag"]}).status_code == 304
        other = http.get(f"/v1/rankings/{rid}", headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200 and other.json() == first.json()


def test_idempotency_key_replays_and_refuses_another_body(live: LiveApi, ranked: dict[str, Any]) -> None:
    key = {"Idempotency-Key": f"test-{time.time_ns()}"}
    with live.http(**key) as http:
        first = http.post("/v1/rankings", json=REQUEST)
        replay = http.post("/v1/rankings", json=REQUEST)
        changed = http.post("/v1/rankings", json={**REQUEST, "scorers": ["logme"]})
    assert first.status_code == 200 and replay.status_code == 200
    assert replay.json() == first.json() and replay.headers["idempotent-replayed"] == "true"
    assert changed.status_code == 422
    assert changed.headers["content-type"] == "application/problem+json"
    assert changed.json()["code"] == "idempotency-key-reused"


def test_list_jobs_paginates_with_a_cursor(live: LiveApi, ranked: dict[str, Any]) -> None:
    from zoorank_client.api.jobs import list_jobs

    client = live.client()
    with live.http() as http:  # a second, distinct job so there are at least two pages of one
        other = http.post("/v1/rankings", json={**REQUEST, "models": MODELS[:1], "scorers": ["logme"]})
        assert other.status_code in (200, 202), other.text
        wait_done(http, other.json()["id"])
    page1 = list_jobs.sync(client=client, limit=1)
    assert page1 is not None and len(page1.items) == 1 and isinstance(page1.next_cursor, str)
    page2 = list_jobs.sync(client=client, limit=1, cursor=page1.next_cursor)
    assert page2 is not None and len(page2.items) == 1
    assert page1.items[0].id != page2.items[0].id
    ids = {j.id for j in (list_jobs.sync(client=client, limit=200) or page1).items}
    assert {ranked["job"]["id"], other.json()["id"]} <= ids
    from zoorank_client.models import JobStatus

    done = list_jobs.sync(client=client, status=JobStatus.SUCCEEDED, limit=200)
    assert done is not None and all(j.status == JobStatus.SUCCEEDED for j in done.items)


def test_cancel_a_finished_job_leaves_it_and_unknown_jobs_are_404(
    live: LiveApi, ranked: dict[str, Any]
) -> None:
    with live.http() as http:
        r = http.post(f"/v1/jobs/{ranked['job']['id']}/cancel")
        assert r.status_code == 200 and r.json()["status"] == "succeeded"
        for method, path in (
            ("GET", "/v1/jobs/nope"),
            ("POST", "/v1/jobs/nope/cancel"),
            ("GET", "/v1/jobs/nope/events"),
            ("GET", "/v1/rankings/nope"),
        ):
            missing = http.request(method, path)
            assert missing.status_code == 404, (path, missing.text)
            assert missing.json()["code"] == "not-found"


def test_catalogue_routes_through_the_client(live: LiveApi) -> None:
    from zoorank_client.api.datasets import inspect_dataset, list_dataset_roots
    from zoorank_client.api.models import get_model, list_models
    from zoorank_client.api.scorers import list_scorers
    from zoorank_client.models import InspectRequest

    client = live.client()
    models = list_models.sync(client=client)
    assert models is not None and set(MODELS) <= {m.id for m in models.items}
    one = get_model.sync(client=client, model_id=MODELS[0])
    assert one is not None and one.id == MODELS[0] and len(one.weights.sha256 or "") == 64
    scorers = list_scorers.sync(client=client)
    assert scorers is not None and set(SCORERS) <= {s.name for s in scorers.items}
    roots = list_dataset_roots.sync(client=client)
    assert roots is not None and [r.name for r in roots.items] == ["data"]
    summary = inspect_dataset.sync(client=client, body=InspectRequest(dataset="data:shapes"))
    assert summary is not None and summary.num_samples == 24 and summary.corrupt == 0
    assert summary.classes == ["circle", "square", "stripes"]


def test_metrics_and_health(live: LiveApi, ranked: dict[str, Any]) -> None:
    with live.http() as http:
        text = http.get("/metrics").text
        assert http.get("/metrics", headers={"X-API-Key": "wrong"}).status_code == 401
        ready = httpx.get(live.url + "/health/ready")  # no key needed
        live_ = httpx.get(live.url + "/health/live")
    for series in (
        "zoorank_http_requests_total",
        "zoorank_http_request_duration_seconds_bucket",
        "zoorank_jobs_total{",
        "zoorank_stage_duration_seconds_count{",
        "zoorank_cache_hits_total",
        "zoorank_queue_depth{",
        "zoorank_workers ",
        "zoorank_submissions_total",
    ):
        assert series in text, series
    # the workers time their stages through the broker middleware: the finished job ran finalise once at least
    finalised = re.search(r'zoorank_stage_duration_seconds_count\{stage="finalise"\} ([0-9.e+]+)', text)
    assert finalised is not None and float(finalised.group(1)) >= 1, text
    assert ready.status_code == 200 and ready.json()["workers"] >= 1 and ready.json()["redis"] is True
    assert live_.status_code == 200


def test_the_documented_client_example_runs(live: LiveApi) -> None:
    """The Python client example of docs/http-api.md, run as written against the live server."""
    readme = (Path(__file__).resolve().parents[3] / "docs" / "http-api.md").read_text()
    section = readme.split("### Python client", 1)[1].split("\n### ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    code = code.replace("http://localhost:8000", live.url).replace("data:animal-mnist", "data:shapes")
    scope: dict[str, Any] = {"KEY": live.key}
    exec(compile(code, "docs/http-api.md", "exec"), scope)
    assert scope["job"].status == "succeeded"
    check_schema(scope["ranking"], RANKING_JSON_SCHEMA)
    assert {m["id"] for m in scope["ranking"]["models"]} == {
        "cnn4.emoji",
        "cnn4.fashion_mnist",
        "cnn4.glyphs",
        "cnn4.random_init",
    }
