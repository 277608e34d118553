"""Honest failures, over HTTP and in the CLI alike: requests that cannot give a usable ranking are refused
at submit time (422) or fail with ``no-model-scored``; never a ``succeeded`` job whose first row is garbage.

Each case runs the same request through the live stack (real Redis, worker, uvicorn) and through
``zoorank rank`` and checks that both end with the same error code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli.commands import app as cli_app
from tests.service.api.conftest import LiveApi, base_env
from tests.service.api.test_e2e import wait_done
from tests.support.service import write_image_folder

pytestmark = pytest.mark.slow

#: A catalogue model whose hub weights are not on the test machine (offline: no download either).
ABSENT = "resnet50.tv_in1k"


def _cli(live: LiveApi, tmp_path: Path, dataset: str, *extra: str) -> Any:
    env = base_env(tmp_path / "cli_home", live.data)
    return CliRunner().invoke(cli_app, ["rank", str(live.data / dataset), "-q", *extra], env=env)


def _cli_code(result: Any) -> str:
    assert result.exit_code == 1, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and line.endswith("]"), line
    return str(line.rsplit("[", 1)[1].rstrip("]"))


def test_named_models_without_weights_are_refused_at_submit(live: LiveApi, tmp_path: Path) -> None:
    body = {"dataset": "data:shapes", "models": ["cnn4.glyphs", ABSENT], "scorers": ["logme"]}
    with live.http() as http:
        answer = http.post("/v1/rankings", json=body)
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert problem["code"] == "weights-missing" and problem["param"] == "/models"
        assert ABSENT in problem["detail"] and "cnn4.glyphs" not in problem["detail"]
    result = _cli(live, tmp_path, "shapes", "-m", f"cnn4.glyphs,{ABSENT}", "-s", "logme")
    assert _cli_code(result) == "weights-missing" and ABSENT in result.stderr


def test_a_dataset_over_the_corrupt_limit_is_refused_at_submit(live: LiveApi, tmp_path: Path) -> None:
    root = write_image_folder(live.data / "mostly_broken", per_class=4, size=16)
    for path in sorted(root.rglob("*.png"))[:3]:  # 3 of 12 images: far over the 1 % threshold
        path.write_bytes(b"not a png")
    body = {"dataset": "data:mostly_broken", "models": ["cnn4.glyphs"], "scorers": ["logme"]}
    with live.http() as http:
        inspected = http.post("/v1/datasets/inspect", json={"dataset": "data:mostly_broken"}).json()
        assert inspected["over_threshold"] is True
        answer = http.post("/v1/rankings", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "too-many-corrupt-images"
        assert "3 of 12 sampled images" in answer.json()["detail"]
    result = _cli(live, tmp_path, "mostly_broken", "-m", "cnn4.glyphs", "-s", "logme")
    assert _cli_code(result) == "too-many-corrupt-images"


def test_a_ranking_with_no_model_scored_fails_with_its_reason(live: LiveApi, tmp_path: Path) -> None:
    # 8 images per class cannot make 20 folds: probe_cv fails for every model, so none is ranked
    body: dict[str, Any] = {
        "dataset": "data:shapes",
        "models": ["cnn4.glyphs", "resnet8.glyphs"],
        "scorers": ["probe_cv"],
        "params": {"probe_cv": {"folds": 20}},
        "sampling": {"max_per_class": 8, "seed": 0},
    }
    with live.http() as http:
        answer = http.post("/v1/rankings", json=body)
        assert answer.status_code in (200, 202), answer.text
        job = wait_done(http, answer.json()["id"])
    assert job["status"] == "failed" and job["ranking_id"] is None, json.dumps(job)
    error = job["error"]
    assert error["code"] == "no-model-scored", error
    assert "first reason: cnn4.glyphs:" in error["message"] and "[degenerate-input]" in error["message"]
    args = ["-m", "cnn4.glyphs,resnet8.glyphs", "-s", "probe_cv", "--param", "probe_cv.folds=20"]
    result = _cli(live, tmp_path, "shapes", *args, "--max-per-class", "8", "--seed", "0")
    assert _cli_code(result) == "no-model-scored"
    assert result.stderr.strip().splitlines()[-1] == f"error: {error['message']} [no-model-scored]"
