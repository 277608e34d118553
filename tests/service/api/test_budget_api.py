"""Budget mode over HTTP (``sampling.budget``): refused out of range or too small for the sample with a
422 problem naming ``/sampling/budget``; a budget job's ranking is the one ``zoorank rank --budget``
prints for the same request; its rounds arrive as progress events."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli.commands import app as cli_app
from service.pipeline.schema import RANKING_JSON_SCHEMA
from tests.service.api.conftest import MODELS, LiveApi, base_env
from tests.service.api.test_e2e import read_events, wait_done
from tests.support.schema import check_schema

pytestmark = pytest.mark.slow

PARAMS = {"probe_cv": {"folds": 2, "num_c": 2, "max_iter": 10}}
REQUEST: dict[str, Any] = {
    "dataset": "data:shapes",
    "models": MODELS,
    "scorers": ["probe_cv", "hscore"],
    "params": PARAMS,
    "sampling": {"max_per_class": 8, "seed": 0, "budget": 0.6},
}


@pytest.mark.parametrize("budget", [0, -0.5, 1.5, "half", True])
def test_a_budget_out_of_range_is_a_422_naming_it(live: LiveApi, budget: object) -> None:
    body = {**REQUEST, "sampling": {**REQUEST["sampling"], "budget": budget}}
    with live.http() as http:
        r = http.post("/v1/rankings", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["param"] == "/sampling/budget"


def test_a_budget_too_small_for_the_sample_is_a_422_with_the_smallest_that_fits(live: LiveApi) -> None:
    body = {**REQUEST, "sampling": {**REQUEST["sampling"], "budget": 0.05}}
    with live.http() as http:
        r = http.post("/v1/rankings", json=body)
    assert r.status_code == 422, r.text
    doc = r.json()
    assert doc["code"] == "invalid-parameter" and doc["param"] == "/sampling/budget"
    assert "needs a budget of at least" in doc["detail"]


def _comparable(ranking: dict[str, Any]) -> dict[str, Any]:
    """The ranking without what legitimately differs between runs: timestamps, cache flags, timings,
    and the last round's certainty (its refits are budgeted by wall time), reduced to its decision."""
    out: dict[str, Any] = json.loads(json.dumps(ranking))
    out.pop("provenance")
    out["dataset"].pop("reference")
    for m in out["models"]:
        for volatile in ("cached", "extraction_seconds", "scores", "info"):
            m.pop(volatile)
    rec = out.pop("recommendation")
    out["recommended"] = (rec["model"], rec["runner_up"], rec["margin"])
    return out


def test_a_budget_job_equals_the_cli_and_reports_each_round(live: LiveApi, tmp_path: Path) -> None:
    with live.http() as http:
        submitted = http.post("/v1/rankings", json=REQUEST)
        assert submitted.status_code in (200, 202), submitted.text
        job_id = submitted.json()["id"]
        events = read_events(http, job_id)
        job = wait_done(http, job_id)
        assert job["status"] == "succeeded", job
        ranking = http.get(f"/v1/rankings/{job['ranking_id']}").json()
    check_schema(ranking, RANKING_JSON_SCHEMA)
    section = ranking["budget"]
    assert section["budget"] == 0.6 and section["cost"] <= 0.6 * section["full_cost"]
    rounds = [json.loads(e["data"]) for e in events if e["event"] == "progress"]
    rounds = [r for r in rounds if r.get("stage") == "budget"]
    assert [r["num_samples"] for r in rounds] == [r["num_samples"] for r in section["rounds"]]
    assert [r["dropped"] for r in rounds] == [r["dropped"] for r in section["rounds"]]
    dropped = {m for r in section["rounds"] for m in r["dropped"]}
    statuses = {m["id"]: m["status"] for m in job["progress"]["models"]}
    assert {m for m, s in statuses.items() if s == "dropped"} == dropped
    # the CLI, in this process with its own empty home, extracts everything afresh
    env = base_env(tmp_path / "cli_home", live.data)
    args = [
        "rank",
        str(live.data / "shapes"),
        "--format",
        "json",
        "--quiet",
        "--seed",
        "0",
        "--budget",
        "0.6",
    ]
    args += ["--max-per-class", "8", "--models", ",".join(MODELS), "--scorers", "probe_cv,hscore"]
    for name, value in PARAMS["probe_cv"].items():
        args += ["--param", f"probe_cv.{name}={value}"]
    result = CliRunner().invoke(cli_app, args, env=env)
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    assert _comparable(ranking) == _comparable(cli)
    # the same features from another process differ in the last float32 bits at most (test_e2e)
    for a, b in zip(ranking["models"], cli["models"], strict=True):
        assert a["scores"].keys() == b["scores"].keys()
        for name, value in a["scores"].items():
            assert math.isclose(value, b["scores"][name], rel_tol=1e-4, abs_tol=1e-6), (a["id"], name)
