"""Calibration of the recommendation on the benchmark: ``python -m benchmark calibration``.

Every ranking carries a recommendation (:mod:`service.pipeline.recommend`): the recommended model, a
confidence set of the models that cannot be separated from it at the stated level, and each model's
``p_best``. This module checks those claims against the fine-tune truth. Over every benchmark target (the
full targets on their whole train split and the 10-shot variants on theirs), with the default scorers
(:data:`service.settings.DEFAULT_SCORERS`), it ranks the default zoo through
:func:`service.pipeline.run.rank`, exactly as ``zoorank rank`` does, and measures:

* **coverage**: how often the confidence set contains the truly best model;
* **mean set size**: how many models the set holds on average;
* **hit rate**: how often the recommended model is the truly best;
* a **reliability table**: ``p_best`` of every model on every target, binned, against the observed
  frequency of being the truly best (a calibrated ``p_best`` of 0.7 is right 7 times in 10).

"Truly best" is decided two ways, because the fine-tune truth is one seed on a test set of at most
:data:`benchmark.targets.MAX_TEST` images:

* **strict**: the model with the highest fine-tune test accuracy (models at exactly that accuracy share it);
* **within the truth's noise**: every model whose accuracy is not below the best's by more than
  :data:`Z_TRUTH` standard errors of the *paired* difference of per-image correctness on the same test set
  (from the fine-tuned probabilities in ``<results>/probs/<target>/``). Those models are co-best: the test
  set cannot tell them apart, so a set that holds any of them covers the truth. Where the probabilities
  are absent the strict rule is used and the target's row says so.

In the reliability table a target's credit of being the best is shared equally among its co-best models
(as ``p_best`` shares a tie for first), so the observed frequencies and the ``p_best`` values both sum to
one per target.

The goals (issue 21): coverage >= :data:`GOAL_COVERAGE` with a mean set size <= :data:`GOAL_SET_SIZE`.

The rankings' recommendations are cached in ``<results>/calibration.json``, keyed by the split's content
digest, the models, the scorers and their versions and the bootstrap's parameters, so a rerun only ranks
what changed. ``python -m benchmark quality`` runs this as well, and the section goes into ``quality.md``
and ``quality.json`` (``calibration``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmark import targets as tg
from benchmark.groundtruth import SHOT_SUFFIX, load_results
from benchmark.targets import SHOTS
from estimators import get_scorer
from service.pipeline.recommend import DEFAULT_LEVEL, DEFAULT_RESAMPLES, METHOD
from service.pipeline.run import rank
from service.pipeline.schema import Recommendation
from service.settings import DEFAULT_SCORERS, Settings
from zoo.atomic import write_text_atomic

__all__ = [
    "CACHE_FILE",
    "GOAL_COVERAGE",
    "GOAL_SET_SIZE",
    "RELIABILITY_BINS",
    "Z_TRUTH",
    "calibration_markdown",
    "co_best",
    "evaluate_calibration",
    "reliability_table",
    "summarise",
    "target_row",
]

#: Where the recommendations of the benchmark targets are cached (inside the results folder).
CACHE_FILE = "calibration.json"
#: Coverage the confidence set should reach, and the largest mean set size that is still a decision.
GOAL_COVERAGE = 0.9
GOAL_SET_SIZE = 3.0
#: Standard errors of the paired test-set difference within which a model is co-best (two-sided 95%).
Z_TRUTH = 1.96
#: Edges of the ``p_best`` bins of the reliability table (the last bin includes 1).
RELIABILITY_BINS: tuple[float, ...] = (0.0, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 1.0)


def _targets(names: Sequence[str]) -> list[tuple[str, str, str]]:
    """``(target key, base target, split)``: the full targets first, then their 10-shot variants."""
    full = [(n, n, "train") for n in names]
    few = [(f"{n}{SHOT_SUFFIX}", n, f"train{SHOTS}") for n in names]
    return full + few


def _finetune_truth(results: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for run in load_results(results)["runs"]:
        if run["method"] == "finetune":
            out.setdefault(run["target"], {})[run["model"]] = float(run["accuracy"])
    return out


def _correctness(probs_dir: Path, models: Sequence[str]) -> dict[str, np.ndarray] | None:
    """Per model its ``(n_test,)`` 0/1 correctness on the test set, or None when a file is missing."""
    labels_file = probs_dir / "labels.npz"
    if not labels_file.is_file() or any(not (probs_dir / f"{m}.npz").is_file() for m in models):
        return None
    with np.load(labels_file) as z:
        labels = np.asarray(z["labels"])
    out = {}
    for m in models:
        with np.load(probs_dir / f"{m}.npz") as z:
            out[m] = (np.asarray(z["probs"]).argmax(axis=1) == labels).astype(np.float64)
    return out


def co_best(
    truth: Mapping[str, float], correct: Mapping[str, np.ndarray] | None = None, *, z: float = Z_TRUTH
) -> tuple[list[str], list[str]]:
    """The strictly best models and the models co-best within the truth's test-set noise.

    Args:
        truth: model -> fine-tune test accuracy.
        correct: model -> ``(n_test,)`` 0/1 correctness on the same test images; None: no noise model
            (the co-best are the strictly best).
        z: standard errors of the paired difference within which a model is co-best.

    Returns:
        ``(strict, tolerant)``, each sorted: the models at the highest accuracy, and those plus every model
        whose paired difference to a strictly best one, mean of ``correct[best] - correct[m]``, is at most
        ``z`` times its standard error (sample std / sqrt(n_test)). A model with a zero standard error
        (identical correctness) is co-best only at an equal accuracy.
    """
    if not truth:
        return [], []
    top = max(truth.values())
    strict = sorted(m for m, a in truth.items() if a == top)
    if correct is None or any(m not in correct for m in truth):
        return strict, list(strict)
    ref = correct[strict[0]]
    tolerant = []
    for m in truth:
        d = ref - correct[m]
        se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else 0.0
        if m in strict or float(d.mean()) <= z * se:
            tolerant.append(m)
    return strict, sorted(tolerant)


def target_row(
    target: str,
    recommendation: Mapping[str, Any],
    truth: Mapping[str, float],
    correct: Mapping[str, np.ndarray] | None,
) -> dict[str, Any]:
    """One target's verdicts: the set, whether it covers the best (strict and tolerant), ``p_best``'s.

    Only the models with a fine-tune truth count: the set's size is over the models that have one.
    """
    rec = Recommendation.from_dict(recommendation)
    strict, tolerant = co_best(truth, correct)
    conf = [m for m in rec.confidence_set if m in truth]
    p_best = {c.id: c.p_best for c in rec.candidates if c.id in truth}
    return {
        "target": target,
        "recommended": rec.model,
        "runner_up": rec.runner_up,
        "confidence_set": conf,
        "set_size": len(conf),
        "best": strict,
        "co_best": tolerant,
        "noise_model": "paired test-set difference" if correct is not None else "none (strict only)",
        "covered": bool(set(conf) & set(strict)),
        "covered_tolerant": bool(set(conf) & set(tolerant)),
        "hit": rec.model in strict,
        "hit_tolerant": rec.model in tolerant,
        "p_best_recommended": rec.p_best(rec.model),
        "p_best": p_best,
        "resampled": dict(rec.method.get("resampled", {})),
        "fixed": dict(rec.method.get("fixed", {})),
    }


def _bin(p: float, edges: Sequence[float]) -> int:
    for i in range(len(edges) - 1):
        if p < edges[i + 1]:
            return i
    return len(edges) - 2


def reliability_table(
    rows: Sequence[Mapping[str, Any]], edges: Sequence[float] = RELIABILITY_BINS
) -> list[dict[str, Any]]:
    """``p_best`` binned against the observed frequency of being the truly best, over every model of
    every target.

    Each (target, model) pair contributes its ``p_best`` and its share of being the best: 1/|best| when
    it is one of the strictly best (``observed``), 1/|co-best| when it is co-best within the truth's noise
    (``observed_tolerant``), else 0.

    Returns:
        One dict per bin: ``low``, ``high``, ``n`` (pairs), ``mean_p_best``, ``observed``,
        ``observed_tolerant`` (None for an empty bin).
    """
    acc: list[list[tuple[float, float, float]]] = [[] for _ in range(len(edges) - 1)]
    for r in rows:
        for m, p in r["p_best"].items():
            strict = 1.0 / len(r["best"]) if m in r["best"] else 0.0
            tolerant = 1.0 / len(r["co_best"]) if m in r["co_best"] else 0.0
            acc[_bin(float(p), edges)].append((float(p), strict, tolerant))
    out = []
    for i, cell in enumerate(acc):
        arr = np.array(cell) if cell else np.zeros((0, 3))
        out.append(
            {
                "low": edges[i],
                "high": edges[i + 1],
                "n": len(cell),
                "mean_p_best": float(arr[:, 0].mean()) if cell else None,
                "observed": float(arr[:, 1].mean()) if cell else None,
                "observed_tolerant": float(arr[:, 2].mean()) if cell else None,
            }
        )
    return out


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Coverage, mean set size, hit rates, Brier scores and the goals' verdicts over ``rows``.

    The Brier score is the mean over targets of sum over models of (p_best - share of being best)²: 0 for
    a forecaster that is certain and right, lower is better.
    """
    if not rows:
        return {"targets": 0}

    def mean(key: str, subset: Sequence[Mapping[str, Any]] = rows) -> float | None:
        return float(np.mean([float(r[key]) for r in subset])) if subset else None

    def brier(key: str) -> float:
        total = 0.0
        for r in rows:
            for m, p in r["p_best"].items():
                share = 1.0 / len(r[key]) if m in r[key] else 0.0
                total += (float(p) - share) ** 2
        return total / len(rows)

    full = [r for r in rows if not r["target"].endswith(SHOT_SUFFIX)]
    few = [r for r in rows if r["target"].endswith(SHOT_SUFFIX)]
    coverage, size = mean("covered"), mean("set_size")
    assert coverage is not None and size is not None
    return {
        "targets": len(rows),
        "coverage": coverage,
        "coverage_tolerant": mean("covered_tolerant"),
        "mean_set_size": size,
        "hit_rate": mean("hit"),
        "hit_rate_tolerant": mean("hit_tolerant"),
        "mean_p_best_recommended": mean("p_best_recommended"),
        "brier": brier("best"),
        "brier_tolerant": brier("co_best"),
        "full": {"coverage": mean("covered", full), "mean_set_size": mean("set_size", full)},
        "few": {"coverage": mean("covered", few), "mean_set_size": mean("set_size", few)},
        "goals": {
            "coverage": GOAL_COVERAGE,
            "set_size": GOAL_SET_SIZE,
            "met": coverage >= GOAL_COVERAGE and size <= GOAL_SET_SIZE,
        },
    }


def _load_cache(results: Path) -> dict[str, Any]:
    path = results / CACHE_FILE
    if path.is_file():
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return doc
    return {}


def _key(digest: str, models: Sequence[str], scorers: Sequence[str], seed: int) -> dict[str, Any]:
    """What a cached recommendation depends on (a cached entry is used only when all of it matches)."""
    return {
        "digest": digest,
        "models": sorted(models),
        "scorers": {s: get_scorer(s).version for s in scorers},
        "method": METHOD,
        "resamples": DEFAULT_RESAMPLES,
        "level": DEFAULT_LEVEL,
        "seed": seed,
    }


def evaluate_calibration(
    results: Path,
    *,
    targets: Sequence[str] | None = None,
    models: Sequence[str],
    scorers: Sequence[str] | None = None,
    settings: Settings | None = None,
    targets_root: Path | None = None,
    cached_only: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Rank every target with the default scorers (cached) and grade the recommendations.

    Args:
        results: folder with ``groundtruth.json`` and ``probs/``; the cache :data:`CACHE_FILE` is read and
            updated there.
        targets: base targets (default: every one of :data:`benchmark.targets.TARGETS`); each is graded
            on its whole train split and as its 10-shot variant.
        models: the zoo ids ranked.
        scorers: the ranking's scorers (default :data:`service.settings.DEFAULT_SCORERS`).
        settings: zoorank settings; default from the environment.
        targets_root: where the target npz files are (default ``$ZOORANK_HOME/bench/targets``).
        cached_only: rank nothing; targets without a matching cached recommendation are listed in
            ``missing``.
        log: progress lines.

    Returns:
        ``{"scorers", "level", "resamples", "rows", "summary", "reliability", "missing", "z_truth"}``.
    """
    settings = settings or Settings.from_env()
    root = targets_root or tg.targets_root()
    chosen = list(scorers or DEFAULT_SCORERS)
    truth = _finetune_truth(results)
    cache = _load_cache(results)
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    local = settings.with_overrides(data_roots=(root.resolve(),))
    for key, base, split in _targets(list(targets or tg.TARGETS)):
        tg.prepare_target(base, root)
        digest = json.loads((root / base / "digests.json").read_text())[split]
        want = _key(digest, models, chosen, settings.seed)
        entry = cache.get(key)
        if entry is None or entry.get("key") != want:
            if cached_only:
                missing.append(key)
                continue
            if log is not None:
                log(f"calibration: ranking {key} with {', '.join(chosen)}")
            ranking = rank(
                str((root / base / f"{split}.npz").resolve()),
                models=list(models),
                scorers=chosen,
                max_per_class=0,
                seed=settings.seed,
                settings=local,
            )
            if ranking.recommendation is None:
                missing.append(key)
                continue
            entry = {"key": want, "recommendation": ranking.recommendation.to_dict()}
            cache[key] = entry
            write_text_atomic(results / CACHE_FILE, json.dumps(cache, indent=1, sort_keys=True) + "\n")
        t = {m: a for m, a in truth.get(key, {}).items() if m in models}
        if len(t) < 2:
            missing.append(f"{key} (fine-tune truth for {len(t)} models)")
            continue
        correct = _correctness(results / "probs" / key, sorted(t))
        rows.append(target_row(key, entry["recommendation"], t, correct))
    return {
        "scorers": chosen,
        "level": DEFAULT_LEVEL,
        "resamples": DEFAULT_RESAMPLES,
        "z_truth": Z_TRUTH,
        "rows": rows,
        "summary": summarise(rows),
        "reliability": reliability_table(rows),
        "missing": missing,
    }


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def calibration_markdown(cal: Mapping[str, Any]) -> list[str]:
    """The ``quality.md`` section of :func:`evaluate_calibration`'s result (empty without rows)."""
    rows = cal.get("rows") or []
    if not rows:
        return []
    s = cal["summary"]
    lines = [
        f"## Calibration of the recommendation (fine-tune truth, {', '.join(cal['scorers'])})",
        "",
        f"Every target ranked as `zoorank rank` ranks it (whole train split, default scorers); the "
        f"recommendation's confidence set at {cal['level']:.0%} and `p_best` from {cal['resamples']} "
        "stratified bootstrap resamples of the target sample. Strict: the truly best model has the highest "
        "fine-tune accuracy. Within noise: every model whose accuracy is below the best's by at most "
        f"{cal['z_truth']} standard errors of the paired per-image difference on the test set is co-best "
        "(the fine-tune truth is one seed; the test set cannot separate those models).",
        "",
        "| measure | all targets | full targets | 10-shot |",
        "|---|---|---|---|",
        f"| coverage (strict) | {_fmt(s['coverage'])} | {_fmt(s['full']['coverage'])} | "
        f"{_fmt(s['few']['coverage'])} |",
        f"| mean set size | {_fmt(s['mean_set_size'])} | {_fmt(s['full']['mean_set_size'])} | "
        f"{_fmt(s['few']['mean_set_size'])} |",
        "",
        f"Over {s['targets']} targets: coverage {_fmt(s['coverage'])} strict, "
        f"{_fmt(s['coverage_tolerant'])} within the truth's noise; mean set size {_fmt(s['mean_set_size'])}; "
        f"the recommended model is the truly best in {_fmt(s['hit_rate'])} of targets "
        f"({_fmt(s['hit_rate_tolerant'])} within noise), with a mean `p_best` of "
        f"{_fmt(s['mean_p_best_recommended'])}; Brier score {_fmt(s['brier'], 3)} "
        f"({_fmt(s['brier_tolerant'], 3)} within noise). Goals: coverage >= {GOAL_COVERAGE} with a mean set "
        f"size <= {GOAL_SET_SIZE:g}: **{'met' if s['goals']['met'] else 'not met'}**"
        + ("." if s["goals"]["met"] else f" ({_shortfall(s)})."),
        "",
        "| target | recommended (p_best) | confidence set | truly best (co-best within noise) | covered "
        "| hit |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        co = [m for m in r["co_best"] if m not in r["best"]]
        lines.append(
            f"| {r['target']} | {r['recommended']} ({_fmt(r['p_best_recommended'])}) | "
            f"{', '.join(r['confidence_set'])} | {', '.join(r['best'])}"
            + (f" ({', '.join(co)})" if co else "")
            + f" | {_yes(r['covered'])} / {_yes(r['covered_tolerant'])} | {_yes(r['hit'])} / "
            f"{_yes(r['hit_tolerant'])} |"
        )
    lines += [
        "",
        "covered, hit: strict / within noise.",
        "",
        "Reliability: `p_best` of every model on every target, binned, against how often such a model is "
        "the truly best (a target's credit shared among its co-best models):",
        "",
        "| p_best bin | models | mean p_best | observed (strict) | observed (within noise) |",
        "|---|---|---|---|---|",
    ]
    for b in cal["reliability"]:
        close = "]" if b["high"] >= 1.0 else ")"
        lines.append(
            f"| [{b['low']:.2f}, {b['high']:.2f}{close} | {b['n']} | {_fmt(b['mean_p_best'])} | "
            f"{_fmt(b['observed'])} | {_fmt(b['observed_tolerant'])} |"
        )
    if cal.get("missing"):
        lines += ["", "Not graded: " + "; ".join(cal["missing"]) + "."]
    return [*lines, ""]


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _shortfall(s: Mapping[str, Any]) -> str:
    parts = []
    if s["coverage"] < GOAL_COVERAGE:
        parts.append(f"strict coverage {_fmt(s['coverage'])} < {GOAL_COVERAGE}")
    if s["mean_set_size"] > GOAL_SET_SIZE:
        parts.append(f"mean set size {_fmt(s['mean_set_size'])} > {GOAL_SET_SIZE:g}")
    return "; ".join(parts)
