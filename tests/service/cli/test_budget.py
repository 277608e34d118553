"""``zoorank rank --budget``: the budget ranking on the terminal, as JSON, and its refusals."""

from __future__ import annotations

import importlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import zoo
from service.cli.commands import app
from service.pipeline.schema import RANKING_JSON_SCHEMA
from tests.support.budget import budget_entry, write_colour_folder
from tests.support.schema import check_schema

ARGS = ["--scorers", "probe_cv,hscore", "--param", "probe_cv.folds=2", "--param", "probe_cv.num_c=2"]
ARGS += ["--param", "probe_cv.max_iter=10", "--seed", "0", "--max-per-class", "0"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "ZOORANK_HOME": str(tmp_path / "home"),
        "ZOORANK_DATA_ROOTS": str(tmp_path),
        "ZOORANK_DEVICE": "cpu",
        "ZOORANK_BATCH_SIZE": "16",
    }


@pytest.fixture
def registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A colour model and a noise model registered in the zoo for one test (restored afterwards)."""
    package = f"zoorank_cli_budget_{uuid.uuid4().hex[:10]}"
    pkg_dir = tmp_path / "site" / package
    pkg_dir.mkdir(parents=True)
    (pkg_dir / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    entries = [
        budget_entry("budgetcli.colour", "colour", pkg_dir, package),
        budget_entry("budgetcli.noise", "noise", pkg_dir, package),
    ]
    for e in entries:
        monkeypatch.setitem(zoo.ENTRIES._items, e.id, e)
    return [e.id for e in entries]


def run(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(app, args, env=env)


def test_rank_budget_prints_the_rounds_and_the_json_has_them(
    tmp_path: Path, registered: list[str], env: dict[str, str]
) -> None:
    data = write_colour_folder(tmp_path / "colours", per_class=16)
    base = ["rank", str(data), "--models", ",".join(registered), *ARGS, "--budget", "0.8"]
    table = run(base, env)
    assert table.exit_code == 0, table.output
    assert "dropped at" in table.stdout  # the noise model's row, after the colour model's
    assert table.stdout.index("budgetcli.colour") < table.stdout.index("budgetcli.noise")
    assert "budget 0.8:" in table.stderr and "% of a full ranking" in table.stderr
    result = run([*base, "--format", "json", "--quiet"], env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    check_schema(doc, RANKING_JSON_SCHEMA)
    assert doc["models"][0]["id"] == "budgetcli.colour" == doc["recommendation"]["model"]
    gone = doc["models"][1]["dropped"]["round"]
    assert doc["budget"]["rounds"][gone]["dropped"] == ["budgetcli.noise"]
    assert doc["budget"]["budget"] == 0.8 and doc["budget"]["cost"] <= 0.8 * doc["budget"]["full_cost"]


@pytest.mark.parametrize("budget", ["0", "1.5", "-0.2"])
def test_rank_refuses_a_budget_outside_0_1(
    tmp_path: Path, registered: list[str], env: dict[str, str], budget: str
) -> None:
    data = write_colour_folder(tmp_path / "colours", per_class=4)
    result = run(["rank", str(data), "--models", ",".join(registered), "--budget", budget], env)
    assert result.exit_code == 1, result.output
    assert "budget must be a fraction" in result.stderr and "[invalid-parameter]" in result.stderr
    assert "Traceback" not in result.output


def test_rank_refuses_a_budget_too_small_for_the_sample(
    tmp_path: Path, registered: list[str], env: dict[str, str]
) -> None:
    data = write_colour_folder(tmp_path / "colours", per_class=4)
    result = run(["rank", str(data), "--models", ",".join(registered), *ARGS, "--budget", "0.1"], env)
    assert result.exit_code == 1, result.output
    assert "too small for this sample" in result.stderr and "[invalid-parameter]" in result.stderr
