"""Honest ranks: each scorer's orientation is honoured, and saturated ties are detected, shared and shown.

Unit tests drive :func:`rank_values`, :func:`saturated_top` and :func:`aggregate` with hand-made scores;
the end-to-end tests rank real tiny models whose features are wider (D = 64) than the sample (N = 24), the
regime in which H-score reaches exactly C-1 and SFDA exactly 1.0 for every model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import estimators
import zoo
from service.cli.commands import app
from service.cli.render import render_table
from service.pipeline.aggregate import (
    SATURATED_MARK,
    SATURATION_RTOL,
    aggregate,
    higher_is_better,
    rank_values,
    saturated_top,
    sort_results,
)
from service.pipeline.run import rank
from service.pipeline.schema import RANKING_JSON_SCHEMA, ModelResult, Ranking, ScorerInfo
from service.pipeline.types import Cells
from service.settings import Settings
from tests.support.schema import check_schema
from tests.support.service import EntryFactory

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
score_maps = st.dictionaries(st.text("abcdefgh", min_size=1, max_size=3), finite, min_size=0, max_size=8)


# --- orientation -------------------------------------------------------------------------------------


def test_lower_is_better_ranks_the_lowest_score_first() -> None:
    assert rank_values({"a": 0.9, "b": 0.1, "c": 0.5}, higher_is_better=False) == {
        "b": 1.0,
        "c": 2.0,
        "a": 3.0,
    }
    assert rank_values({"a": 2.0, "b": 2.0, "c": 1.0}, higher_is_better=False) == {
        "c": 1.0,
        "a": 2.5,
        "b": 2.5,
    }


@given(score_maps)
def test_orientation_is_negation(values: dict[str, float]) -> None:
    # negation is exact in floating point, so the two orientations must agree exactly
    negated = {k: -v for k, v in values.items()}
    assert rank_values(values, higher_is_better=False) == rank_values(negated)
    assert saturated_top(values, higher_is_better=False) == saturated_top(negated)


@given(score_maps)
def test_ranks_are_a_permutation_of_shared_positions(values: dict[str, float]) -> None:
    ranks = rank_values(values)
    assert sorted(ranks) == sorted(values)
    # ties share the mean of their positions, so the ranks always sum to 1 + 2 + ... + n
    assert sum(ranks.values()) == pytest.approx(len(values) * (len(values) + 1) / 2)


def test_aggregate_honours_each_scorers_orientation() -> None:
    cells = {
        "good": Cells(scores={"up": 0.9, "down": 0.1}),
        "bad": Cells(scores={"up": 0.2, "down": 0.8}),
    }
    out = aggregate(cells, ["up", "down"], orientation={"up": True, "down": False})
    assert out["good"] == ({"up": 1.0, "down": 1.0}, 1.0)
    assert out["bad"] == ({"up": 2.0, "down": 2.0}, 2.0)
    # read as higher-is-better, the "down" scorer would contradict "up" and tie the two models
    naive = aggregate(cells, ["up", "down"], orientation={"up": True, "down": True})
    assert naive["good"][1] == naive["bad"][1] == 1.5


def test_registry_orientation_is_used_for_every_registered_scorer() -> None:
    for name in estimators.list_scorers():
        assert higher_is_better(name) is estimators.get_scorer(name).higher_is_better
    assert higher_is_better("ncti_vc") is False  # the published NCTI component: smaller is better
    assert higher_is_better("not-a-scorer") is True


def test_a_lower_is_better_scorer_ranks_by_the_registry(
    dataset: Path, settings: Settings, tiny_entry: EntryFactory
) -> None:
    models = [tiny_entry(f"orient.{i}", seed=i) for i in range(3)]
    ranking = rank(str(dataset), models=models, scorers=["ncti_vc", "logme"], settings=settings)
    info = {s.name: s.higher_is_better for s in ranking.scorers}
    assert info == {"ncti_vc": False, "logme": True}
    # the registry's orientation drives aggregate() when no explicit orientation is given
    cells = {"small": Cells(scores={"ncti_vc": 1.0}), "large": Cells(scores={"ncti_vc": 2.0})}
    ranked = aggregate(cells, ["ncti_vc"])
    assert ranked["small"][0] == {"ncti_vc": 1.0} and ranked["large"][0] == {"ncti_vc": 2.0}


# --- saturation -------------------------------------------------------------------------------------


def test_saturated_top_finds_the_models_tied_at_the_best_score() -> None:
    # H-score saturates at C-1 up to rounding (~1e-15 here), SFDA at 1.0
    assert saturated_top({"a": 2.0, "b": 1.9999999999999991, "c": 1.2}) == {"a", "b"}
    assert saturated_top({"a": 1.0, "b": 1.0, "c": 1.0}) == {"a", "b", "c"}
    assert saturated_top({"a": 1.0, "b": 0.99, "c": 0.5}) == set()  # a unique best is a verdict
    assert saturated_top({"a": 1.0}) == set() and saturated_top({}) == set()
    assert saturated_top({"a": 0.1, "b": 0.1, "c": 0.9}) == set()  # ties below the top are ordinary
    assert saturated_top({"a": 0.1, "b": 0.1, "c": 0.9}, higher_is_better=False) == {"a", "b"}
    # the tolerance is relative: 1e-6 apart at 1.0 is separable beyond it, not within it
    assert saturated_top({"a": 1.0, "b": 1.0 - 10 * SATURATION_RTOL}) == set()
    assert saturated_top({"a": 1.0, "b": 1.0 - SATURATION_RTOL / 10}) == {"a", "b"}


@given(score_maps)
def test_a_saturated_group_is_the_top_of_the_order(values: dict[str, float]) -> None:
    top = saturated_top(values)
    if not top:
        return
    assert len(top) >= 2
    ranks = aggregate({k: Cells(scores={"s": v}) for k, v in values.items()}, ["s"], orientation={"s": True})
    # members share the mean of positions 1..k and every other model ranks below all of them
    shared = (1 + len(top)) / 2
    assert all(ranks[k][0]["s"] == shared for k in top)
    assert all(ranks[k][0]["s"] > len(top) for k in values if k not in top)


def test_sort_results_marks_saturated_cells() -> None:
    rows = [
        ModelResult("a", scores={"sfda": 1.0, "logme": 0.3}, aggregate_rank=1.0),
        ModelResult("b", scores={"sfda": 1.0, "logme": 0.1}, aggregate_rank=2.0),
        ModelResult("c", scores={"sfda": 0.4}, aggregate_rank=3.0),
    ]
    out = {r.id: r.saturated for r in sort_results(rows)}
    assert out == {"a": ("sfda",), "b": ("sfda",), "c": ()}


# --- end to end --------------------------------------------------------------------------------------


@pytest.fixture
def wide_models(tiny_entry: EntryFactory) -> list[Any]:
    """Two tiny models with D = 64 features (wider than the 24-image sample) and distinct weights."""
    return [tiny_entry("wide.alpha", seed=1, dim=64), tiny_entry("wide.beta", seed=2, dim=64)]


def test_saturated_ranking_marks_json_and_table(
    dataset: Path, settings: Settings, wide_models: list[Any]
) -> None:
    ranking = rank(str(dataset), models=wide_models, scorers=["hscore", "sfda", "logme"], settings=settings)
    assert ranking.dataset.num_samples < 64
    data = json.loads(ranking.to_json())
    check_schema(data, RANKING_JSON_SCHEMA)
    for m in data["models"]:
        # both models sit at H-score's bound C-1 = 2 and SFDA's bound 1.0: one shared rank, marked
        assert m["saturated"] == ["hscore", "sfda"]
        assert m["ranks"]["hscore"] == m["ranks"]["sfda"] == 1.5
        assert m["scores"]["hscore"] == pytest.approx(2.0, rel=SATURATION_RTOL)
    assert all(s["higher_is_better"] is True for s in data["scorers"])
    again = Ranking.from_dict(data)
    assert again.to_dict() == data
    from io import StringIO

    from rich.console import Console

    buf = StringIO()
    Console(file=buf, width=200, color_system=None).print(render_table(ranking))
    assert buf.getvalue().count(SATURATED_MARK) >= 4 and "saturated tie" in buf.getvalue()


def test_documents_without_the_1_1_fields_still_load() -> None:
    info = ScorerInfo("logme", "model", "1", {}, "").to_dict()
    del info["higher_is_better"]
    assert ScorerInfo.from_dict(info).higher_is_better is True
    row = ModelResult("a").to_dict()
    del row["saturated"]
    assert ModelResult.from_dict(row).saturated == ()


def test_cli_notes_saturation_on_stderr_unless_quiet(
    dataset: Path, tmp_path: Path, wide_models: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for entry in wide_models:
        monkeypatch.setitem(zoo.ENTRIES._items, entry.id, entry)
    env = {
        "ZOORANK_HOME": str(tmp_path / "home"),
        "ZOORANK_DATA_ROOTS": str(tmp_path),
        "ZOORANK_DEVICE": "cpu",
    }
    args = ["rank", str(dataset), "-m", "wide.*", "-s", "hscore,logme"]
    loud = CliRunner().invoke(app, args, env=env)
    assert loud.exit_code == 0, loud.output
    notes = [line for line in loud.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "hscore is saturated: 2 models" in notes[0]
    assert "24 samples but up to 64 feature dimensions" in notes[0]
    assert SATURATED_MARK in loud.stdout
    quiet = CliRunner().invoke(app, [*args, "-q"], env=env)
    assert quiet.exit_code == 0 and quiet.stderr == "" and SATURATED_MARK in quiet.stdout
