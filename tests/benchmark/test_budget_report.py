"""``python -m benchmark budget``'s report: the summary against the goals and the per-target table, from
constructed rows (the rankings themselves are covered by ``tests/service/pipeline/test_budget.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmark.budget import _full_aggregates, _standing, _summary, render_markdown, write_budget_report


def _row(name: str, agree: bool, ratio: float | None, refused: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "full_top": "a", "refused": refused, "agree": agree}
    if refused is None:
        row.update(budget_top="a" if agree else "b", cost_ratio=ratio, stopped="full-sample", clear=True,
                   rounds=[{"num_samples": 10, "models": 3, "dropped": 2}])  # fmt: skip
    return row


def test_summary_counts_refusals_as_disagreements_and_splits_full_and_few_shot() -> None:
    rows = [_row("x", True, 0.2), _row("y", False, 0.4), _row("x_10shot", False, None, refused="too small")]
    s = _summary(rows)
    assert s["all"]["targets"] == 3 and s["all"]["agree"] == 1 and s["all"]["refused"] == 1
    assert s["all"]["agreement"] == 1 / 3 and s["all"]["agreement_ranked"] == 1 / 2
    assert s["full"]["mean_cost_ratio"] == 0.30000000000000004 and s["full"]["max_cost_ratio"] == 0.4
    assert s["few_shot"]["ranked"] == 0 and s["few_shot"]["mean_cost_ratio"] is None


def test_the_pick_is_placed_in_the_full_ranking_from_the_score_cache(tmp_path: Path) -> None:
    ranks = {"a": {"p": 1.0, "h": 2.0}, "b": {"p": 2.0, "h": 1.0}, "c": {"p": 3.0, "h": 3.0}}
    table = {m: {"probe_cv": r["p"], "hscore": r["h"]} for m, r in ranks.items()}
    versions = {"probe_cv": "1", "hscore": "1"}
    cache = {"t|0": {"digest": "d", "models": ["a", "b", "c"], "versions": versions, "ranks": table}}
    (tmp_path / "scores.json").write_text(json.dumps(cache))
    agg = _full_aggregates("t", "d", ["c", "b", "a"], ["probe_cv", "hscore"], tmp_path)
    assert agg == {"a": 1.5, "b": 1.5, "c": 3.0}
    assert _full_aggregates("t", "other", ["a", "b", "c"], ["probe_cv", "hscore"], tmp_path) is None
    row = _standing({"budget_top": "b"}, agg)
    assert row["full_position"] == 2 and row["full_aggregates"] == [1.5, 1.5]  # a tie broken by id


def test_report_files(tmp_path: Path) -> None:
    rows = [_row("x", True, 0.2), _row("x_10shot", False, None, refused="budget 0.4 is too small")]
    report = {"budget": 0.4, "scorers": ["probe_cv", "hscore"], "models": ["a", "b"], "rows": rows,
              "summary": _summary(rows)}  # fmt: skip
    md = render_markdown(report, "2026-01-01")
    assert "| full (1) | 1 | 0 | 1 (100.0 %) |" in md and "refused: budget 0.4 is too small" in md
    paths = write_budget_report(report, tmp_path, "2026-01-01")
    assert [p.name for p in paths] == ["budget.md", "budget.json"]
    assert json.loads((tmp_path / "budget.json").read_text())["summary"]["all"]["agree"] == 1
