"""Budget mode against the full ranking: ``python -m benchmark budget`` (issue 17, item 3).

For every benchmark target, full (its ``train`` split, every image) and 10-shot (``train10``), with the
default scorers and the default zoo:

* the **full ranking**'s recommended model (its first row). The benchmark's own score cache
  (``scores.json`` of ``python -m benchmark quality``, the same :func:`service.pipeline.run.rank` on the
  same sample) gives it when it holds the default scorers at their current versions for this split's
  content and these models; otherwise the target is ranked here;
* the **budget ranking** (:func:`service.pipeline.run.rank` with ``budget``,
  :mod:`service.pipeline.budget`): its recommended model, its extraction cost (images x models
  forwarded, from its ``budget`` section) over the full ranking's (images x models), its rounds.

Reported: the share of targets on which both recommend the same model (goal >= 95 %) and the cost
ratio (goal <= 40 %), per target and overall, in ``budget.md`` and ``budget.json`` beside the quality
report. A budget too small for a target's first round (the request is refused with the smallest budget
that fits) is reported as refused, with that budget; refused targets count as disagreements.
Results are kept per target in ``budget.json`` (keyed by split digest, models, scorer versions and
budget), so a rerun only ranks what changed.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmark import targets as tg
from benchmark.groundtruth import DEFAULT_RESULTS, SHOT_SUFFIX, default_models
from estimators import get_scorer
from estimators.errors import InvalidParameterError
from service.pipeline.run import rank
from service.settings import Settings
from zoo.atomic import write_text_atomic

__all__ = ["DEFAULT_BUDGET", "evaluate_budget", "render_markdown", "write_budget_report"]

#: The budget the issue's goal is stated at: 40 % of the full ranking's extraction cost.
DEFAULT_BUDGET = 0.4
GOAL_AGREEMENT = 0.95
GOAL_COST = 0.40


def _variants(names: Sequence[str]) -> list[tuple[str, str, str]]:
    """``(row name, target, split)``: each target's full split, then its 10-shot variant."""
    return [(n, n, "train") for n in names] + [(f"{n}{SHOT_SUFFIX}", n, f"train{tg.SHOTS}") for n in names]


def _full_aggregates(
    row: str,
    digest: str,
    models: Sequence[str],
    scorers: Sequence[str],
    results: Path,
) -> dict[str, float] | None:
    """The full ranking's aggregate ranks from ``scores.json`` when it holds exactly this ranking."""
    path = results / "scores.json"
    if not path.is_file():
        return None
    entry = json.loads(path.read_text(encoding="utf-8")).get(f"{row}|0")
    if entry is None or entry.get("digest") != digest or entry.get("models") != sorted(models):
        return None
    if any(entry["versions"].get(s) != get_scorer(s).version for s in scorers):
        return None
    agg = {}
    for model, ranks in entry["ranks"].items():
        vals = [float(ranks[s]) for s in scorers if s in ranks]
        if vals:
            agg[model] = sum(vals) / len(vals)
    return agg or None


def _order(agg: Mapping[str, float]) -> list[str]:
    """The ranking's order: aggregate rank, then id (``service.pipeline.aggregate.sort_results``)."""
    return sorted(agg, key=lambda m: (agg[m], m))


def evaluate_budget(
    results: Path = DEFAULT_RESULTS,
    *,
    targets: Sequence[str] | None = None,
    budget: float = DEFAULT_BUDGET,
    models: Sequence[str] | None = None,
    settings: Settings | None = None,
    targets_root: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Rank every target in full and with ``budget``; the per-target rows and the summary.

    Returns:
        ``{"budget", "scorers", "models", "rows": [...], "summary": {...}}`` (JSON-ready).
    """
    settings = settings or Settings.from_env()
    root = targets_root or tg.targets_root()
    names = list(targets or tg.TARGETS)
    model_ids = list(models or [e.id for e in default_models()])
    scorers = list(settings.default_scorers)
    versions = {s: get_scorer(s).version for s in scorers}
    local = settings.with_overrides(data_roots=(root.resolve(),))
    previous = _load(results)
    rows: list[dict[str, Any]] = []
    for row_name, target, split in _variants(names):
        tg.prepare_target(target, root)
        digest = json.loads((root / target / "digests.json").read_text())[split]
        key = {"digest": digest, "models": sorted(model_ids), "versions": versions, "budget": budget}
        agg = _full_aggregates(row_name, digest, model_ids, scorers, results)
        done = previous.get(row_name)
        if done is not None and done.get("key") == key:
            rows.append(_standing(done, agg))
            continue
        ref = str((root / target / f"{split}.npz").resolve())
        full_source = "scores.json"
        if agg is None:
            if log is not None:
                log(f"{row_name}: full ranking")
            full = rank(ref, models=model_ids, scorers=scorers, max_per_class=0, seed=0, settings=local)
            agg = {m.id: m.aggregate_rank for m in full.models if m.aggregate_rank is not None}
            full_source = "ranked"
        full_top = _order(agg)[0]
        if log is not None:
            log(f"{row_name}: budget {budget:g} ranking")
        start = time.perf_counter()
        row: dict[str, Any] = {"name": row_name, "key": key, "full_top": full_top, "full_source": full_source}
        try:
            ranking = rank(
                ref, models=model_ids, scorers=scorers, max_per_class=0, seed=0, settings=local, budget=budget
            )
        except InvalidParameterError as exc:
            row.update({"refused": exc.message, "agree": False, "cost_ratio": None})
        else:
            section = ranking.budget
            assert section is not None and ranking.recommendation is not None
            row.update(
                {
                    "refused": None,
                    "budget_top": ranking.models[0].id,
                    "agree": ranking.models[0].id == full_top,
                    "clear": ranking.recommendation.clear,
                    "cost": section.cost,
                    "full_cost": section.full_cost,
                    "cost_ratio": section.cost_ratio,
                    "stopped": section.stopped,
                    "rounds": [
                        {
                            "num_samples": r.num_samples,
                            "models": len(r.models),
                            "dropped": len(r.dropped),
                            "note": r.note,
                        }
                        for r in section.rounds
                    ],
                }
            )
        row["seconds"] = round(time.perf_counter() - start, 1)
        row = _standing(row, agg)
        rows.append(row)
        previous[row_name] = row
        _save(results, previous)
        if log is not None:
            log(f"{row_name}: {json.dumps({k: v for k, v in row.items() if k != 'key'})}")
    return {
        "budget": budget,
        "scorers": scorers,
        "models": model_ids,
        "rows": rows,
        "summary": _summary(rows),
    }


def _standing(row: Mapping[str, Any], agg: Mapping[str, float] | None) -> dict[str, Any]:
    """``row`` with where the budget's pick stands in the full ranking: its position and its aggregate
    rank beside the full ranking's first (a disagreement on a near tie differs by half a rank)."""
    out = dict(row)
    pick = str(row.get("budget_top", ""))
    if agg is not None and pick in agg:
        order = _order(agg)
        out["full_position"] = order.index(pick) + 1
        out["full_aggregates"] = [agg[order[0]], agg[pick]]
    return out


def _summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    def part(selected: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        ran = [r for r in selected if r.get("refused") is None]
        ratios = [float(r["cost_ratio"]) for r in ran]
        return {
            "targets": len(selected),
            "ranked": len(ran),
            "refused": len(selected) - len(ran),
            "agree": sum(1 for r in selected if r.get("agree")),
            "agreement": (sum(1 for r in selected if r.get("agree")) / len(selected)) if selected else None,
            "agreement_ranked": (sum(1 for r in ran if r.get("agree")) / len(ran)) if ran else None,
            "mean_cost_ratio": (sum(ratios) / len(ratios)) if ratios else None,
            "max_cost_ratio": max(ratios) if ratios else None,
        }

    full = [r for r in rows if not str(r["name"]).endswith(SHOT_SUFFIX)]
    few = [r for r in rows if str(r["name"]).endswith(SHOT_SUFFIX)]
    return {"all": part(rows), "full": part(full), "few_shot": part(few)}


def _load(results: Path) -> dict[str, Any]:
    path = results / "budget.json"
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {str(r["name"]): r for r in doc.get("rows", [])}


def _save(results: Path, rows: Mapping[str, Any]) -> None:
    doc = {"rows": list(rows.values())}
    write_text_atomic(results / "budget.json", json.dumps(doc, indent=1, sort_keys=True) + "\n")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def render_markdown(report: Mapping[str, Any], date: str) -> str:
    """``budget.md``: the summary against the goals, then one row per target."""
    s = report["summary"]
    lines = [
        "# Budget mode against the full ranking",
        "",
        f"Generated by `python -m benchmark budget` on {date}: budget {report['budget']:g} of the full "
        f"ranking's extraction cost (images x models forwarded), scorers {', '.join(report['scorers'])}, "
        f"{len(report['models'])} models (the default zoo), every target's full `train` split and its "
        "10-shot variant. The full ranking's recommended model comes from the quality benchmark's "
        "`scores.json` where it holds that ranking, else from ranking the target here.",
        "",
        f"Goals: the same recommended model on >= {GOAL_AGREEMENT:.0%} of the targets, at <= "
        f"{GOAL_COST:.0%} of the full ranking's extraction cost.",
        "",
        "| targets | ranked | refused | same recommendation | (of those ranked) | mean cost | max cost |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, key in (("all", "all"), ("full", "full"), ("10-shot", "few_shot")):
        p = s[key]
        lines.append(
            f"| {label} ({p['targets']}) | {p['ranked']} | {p['refused']} | {p['agree']} "
            f"({_pct(p['agreement'])}) | {_pct(p['agreement_ranked'])} | {_pct(p['mean_cost_ratio'])} | "
            f"{_pct(p['max_cost_ratio'])} |"
        )
    lines += [
        "",
        "The budget's pick in the full ranking: its position there, and its aggregate rank beside the full "
        "ranking's first (mean of the default scorers' ranks among all models).",
        "",
        "| target | full ranking recommends | budget ranking recommends | same | pick in full ranking "
        "| cost | stopped | rounds (images: models, dropped) |",
        "|---|---|---|---|---|---:|---|---|",
    ]
    for r in report["rows"]:
        if r.get("refused"):
            lines.append(f"| {r['name']} | {r['full_top']} | refused: {r['refused']} | no | | | | |")
            continue
        rounds = "; ".join(f"{x['num_samples']}: {x['models']}, -{x['dropped']}" for x in r["rounds"])
        standing = ""
        if "full_position" in r:
            top, pick = r["full_aggregates"]
            standing = f"#{r['full_position']} ({pick:g} vs {top:g})"
        lines.append(
            f"| {r['name']} | {r['full_top']} | {r['budget_top']} | {'yes' if r['agree'] else 'no'} | "
            f"{standing} | {_pct(r['cost_ratio'])} | {r['stopped']} | {rounds} |"
        )
    return "\n".join(lines) + "\n"


def write_budget_report(report: Mapping[str, Any], results: Path, date: str) -> list[Path]:
    """Write ``budget.md`` and ``budget.json`` (every row, the summary) into ``results``."""
    md = results / "budget.md"
    write_text_atomic(md, render_markdown(report, date))
    js = results / "budget.json"
    write_text_atomic(js, json.dumps(dict(report), indent=1, sort_keys=True) + "\n")
    return [md, js]


def _log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
