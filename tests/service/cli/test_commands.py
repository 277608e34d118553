"""The ``zoorank`` command line, run in-process with typer's CliRunner on real files and real tiny models."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import estimators
import zoo
from service.cli.commands import _progress_bars, _ProgressView, _RateColumn, app
from service.pipeline.schema import RANKING_JSON_SCHEMA, SCHEMA_VERSION
from service.pipeline.types import ProgressEvent
from tests.support.schema import check_schema


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment confining the CLI to ``tmp_path`` (data root, cache, feature store)."""
    return {
        "ZOORANK_HOME": str(tmp_path / "home"),
        "ZOORANK_DATA_ROOTS": str(tmp_path),
        "ZOORANK_DEVICE": "cpu",
    }


@pytest.fixture
def registered(tiny_entry: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Two tiny models registered in the zoo for the duration of one test (restored afterwards)."""
    ids = []
    for entry in (tiny_entry("tinycli.alpha", seed=1), tiny_entry("tinycli.beta", seed=2, head=False)):
        monkeypatch.setitem(zoo.ENTRIES._items, entry.id, entry)
        ids.append(entry.id)
    return ids


def run(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(app, args, env=env)


def assert_one_line_error(result: Any, code: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0].endswith(f"[{code}]"), (
        result.stderr
    )
    assert "Traceback" not in result.output


# --- listing commands ------------------------------------------------------------------------------


def test_scorers_json_lists_every_registered_scorer(env: dict[str, str]) -> None:
    result = run(["scorers", "--format", "json"], env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["name"] for d in data] == estimators.list_scorers()
    for d in data:
        assert {"name", "kind", "needs", "params", "version", "citation"} <= set(d)
    table = run(["scorers", "--kind", "set"], env)
    assert table.exit_code == 0 and "etran" in table.stdout and "logme" not in table.stdout


def test_scorers_lists_the_data_free_baselines_by_kind(env: dict[str, str]) -> None:
    result = run(["scorers", "--kind", "baseline", "--format", "json"], env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["name"] for d in data] == estimators.list_scorers("baseline")
    assert {d["kind"] for d in data} == {"baseline"} and not any(d["default"] for d in data)


def test_scorers_rejects_an_unknown_kind(env: dict[str, str]) -> None:
    assert_one_line_error(run(["scorers", "--kind", "bogus"], env), "invalid-parameter")


def test_models_json_is_a_list_of_entries_with_metadata(env: dict[str, str]) -> None:
    result = run(["models", "--format", "json"], env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    assert [d["id"] for d in data] == [e.id for e in zoo.list_entries()]
    for d in data:
        assert {"id", "arch", "weights", "preprocessing", "feature_dim", "source", "tags"} <= set(d)
        assert d["weights"]["present"] in (True, False, None) and d["weights"]["origin"]
    builtin = run(["models", "--tag", "builtin"], env)
    assert builtin.exit_code == 0 and "mobilenet_v2.tv_in1k" in builtin.stdout


# --- rank -----------------------------------------------------------------------------------------


def test_rank_json_is_the_documented_schema(
    dataset: Path, registered: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    args = ["rank", str(dataset), "-m", ",".join(registered), "-s", "sfda", "-s", "leep", "-q"]
    result = run([*args, "--format", "json"], env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    check_schema(data, RANKING_JSON_SCHEMA)
    assert data["schema_version"] == SCHEMA_VERSION
    assert {m["id"] for m in data["models"]} == set(registered)
    beta = next(m for m in data["models"] if m["id"] == "tinycli.beta")
    assert beta["errors"]["leep"]["code"] == "not-applicable"
    assert [s["name"] for s in data["scorers"]] == ["sfda", "leep"]

    out = tmp_path / "out" / "ranking.json"
    again = run([*args, "--format", "json", "--output", str(out)], env)
    assert again.exit_code == 0 and again.stdout == ""
    stored = json.loads(out.read_text())
    assert all(m["cached"] for m in stored["models"])
    strip = [(m["id"], m["scores"], m["ranks"], m["aggregate_rank"]) for m in stored["models"]]
    assert strip == [(m["id"], m["scores"], m["ranks"], m["aggregate_rank"]) for m in data["models"]]


def test_rank_csv_and_table(dataset: Path, registered: list[str], env: dict[str, str]) -> None:
    base = ["rank", str(dataset), "-m", "tinycli.*", "-s", "sfda,leep", "--max-per-class", "5"]
    result = run([*base, "--format", "csv"], env)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["position"] for r in rows] == ["1", "2"]
    assert {r["id"] for r in rows} == set(registered)
    assert set(rows[0]) >= {"aggregate_rank", "sfda", "sfda_rank", "leep", "leep_rank", "errors"}
    assert "ranked 2 models" in result.stderr

    table = run(base, env)
    assert table.exit_code == 0, table.output
    assert "tinycli.alpha" in table.stdout and "agg" in table.stdout and "not-applicable" in table.stdout
    data = json.loads(run([*base, "--format", "json", "-q"], env).stdout)
    rec = data["recommendation"]
    last = table.stdout.strip().splitlines()[-1]  # the recommendation line follows the table
    assert last.startswith(f"recommended: {rec['model']}  p_best "), last
    others = [m for m in rec["confidence_set"] if m != rec["model"]]
    assert ("cannot be separated from: " + ", ".join(others)) in last if others else "clear winner" in last


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["rank", "{missing}"], "dataset-not-found"),
        (["rank", "/etc"], "path-not-allowed"),
        (["rank", "{dataset}", "-s", "no_such_scorer"], "unknown-scorer"),
        (["rank", "{dataset}", "-m", "no_such.model"], "unknown-model"),
        (["rank", "{dataset}", "--param", "sfda"], "invalid-parameter"),
        (["rank", "{dataset}", "-s", "sfda", "--param", "sfda.bogus=1"], "invalid-parameter"),
        (["inspect", "{missing}"], "dataset-not-found"),
    ],
)
def test_errors_are_one_line_and_exit_1(
    args: list[str], code: str, dataset: Path, env: dict[str, str], tmp_path: Path
) -> None:
    filled = [a.format(missing=tmp_path / "missing", dataset=dataset) for a in args]
    result = run(filled, env)
    assert_one_line_error(result, code)


def test_a_bad_dataset_path_names_the_allowed_roots(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["rank", "/etc"], env)
    assert_one_line_error(result, "path-not-allowed")
    assert str(tmp_path) in result.stderr and "ZOORANK_DATA_ROOTS" in result.stderr


def test_usage_errors_exit_2(env: dict[str, str], dataset: Path) -> None:
    assert run(["rank", str(dataset), "--format", "xml"], env).exit_code == 2
    assert run(["rank", str(dataset), "--max-per-class", "-1"], env).exit_code == 2
    assert run(["nonsense"], env).exit_code == 2


def test_rank_exits_1_when_no_model_could_be_scored(
    dataset: Path, tiny_entry: Any, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    broken = tiny_entry("tinycli.tampered", sha256="0" * 64)
    monkeypatch.setitem(zoo.ENTRIES._items, broken.id, broken)
    result = run(["rank", str(dataset), "-m", broken.id, "-s", "sfda", "-f", "json", "-q"], env)
    assert result.exit_code == 1 and result.stdout == ""  # no document whose first row is unusable
    line = result.stderr.strip()
    assert line.endswith("[no-model-scored]") and "[weights-integrity]" in line, line


def test_invalid_environment_is_a_clear_error(env: dict[str, str], dataset: Path) -> None:
    result = run(["rank", str(dataset)], {**env, "ZOORANK_BATCH_SIZE": "many"})
    assert_one_line_error(result, "invalid-settings")
    assert "ZOORANK_BATCH_SIZE" in result.stderr


# --- inspect --------------------------------------------------------------------------------------


def test_inspect_reports_counts_fingerprint_and_corrupt_images(dataset: Path, env: dict[str, str]) -> None:
    (dataset / "stripes" / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    result = run(["inspect", str(dataset), "--format", "json"], env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["reader"] == "imagefolder" and data["num_classes"] == 3 and data["num_samples"] == 25
    assert data["class_counts"] == {"circle": 8, "square": 8, "stripes": 9}
    assert data["corrupt"] == 1 and data["corrupt_examples"][0]["key"] == "stripes/zz_broken.png"
    assert data["over_threshold"] is True  # 1 of 25 > the default 1 %
    assert len(data["fingerprint"]) == 64

    table = run(["inspect", str(dataset)], env)
    assert table.exit_code == 0 and "imagefolder" in table.stdout and "stripes/zz_broken.png" in table.stdout
    assert "warning: more than 0.01" in table.stdout
    quick = json.loads(run(["inspect", str(dataset), "-f", "json", "--no-decode"], env).stdout)
    assert quick["corrupt"] is None and quick["fingerprint"] == data["fingerprint"]


# --- named roots ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cwd", ["elsewhere", "data", "data/shapes"])
def test_named_roots_resolve_from_any_working_directory(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cwd: str
) -> None:
    env = {
        "ZOORANK_HOME": str(tmp_path / "home"),
        "ZOORANK_DATA_ROOTS": f"data={tmp_path / 'data'}:more={tmp_path / 'more'}",
        "ZOORANK_DEVICE": "cpu",
    }
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "more").mkdir()
    monkeypatch.chdir(tmp_path / cwd)
    result = run(["inspect", "data:shapes", "--format", "json", "--no-decode"], env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["num_classes"] == 3


def test_an_unknown_root_name_lists_the_configured_roots_by_name(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "ZOORANK_HOME": str(tmp_path / "home"),
        "ZOORANK_DATA_ROOTS": f"data={tmp_path / 'data'}:more={tmp_path / 'more'}",
        "ZOORANK_DEVICE": "cpu",
    }
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "more").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    result = run(["inspect", "nope:shapes"], env)
    assert_one_line_error(result, "path-not-allowed")
    assert "one of: data, more" in result.stderr and "none are configured" not in result.stderr
    assert f"data={tmp_path / 'data'}" in result.stderr and "more=" in result.stderr


# --- progress bars ---------------------------------------------------------------------------------


def test_scoring_has_a_bar_per_model_with_the_running_scorer_and_a_total() -> None:
    bars = _progress_bars(enabled=False)
    view = _ProgressView(bars)
    view(ProgressEvent("extract", "a", 10, 10))
    view(ProgressEvent("score", "a", 0, 3, "logme"))
    view(ProgressEvent("score", "a", 2, 3, "probe_cv"))
    task = bars.tasks[view.score_tasks["a"]]
    assert (task.description, task.completed, task.total) == ("scoring a: probe_cv", 2, 3)
    assert task.fields["kind"] == "score" and _RateColumn().render(task).plain == ""
    view(ProgressEvent("score", "a", 2, 3, "probe_cv", folds_done=3, folds_total=5))
    assert bars.tasks[view.score_tasks["a"]].description == "scoring a: probe_cv fold 3/5"
    view(ProgressEvent("score", "b", 0, 3, "logme"))  # the next model: a's scoring is finished
    assert bars.tasks[view.score_tasks["a"]].finished
    view(ProgressEvent("done", None, 2, 2))
    assert all(bars.tasks[t].finished for t in view.score_tasks.values())
