"""The recommendation: which model to fine-tune, and how sure the target sample lets us be.

The ranking is computed from one stratified sample of the target dataset; another draw of the same
size would rank a little differently. This module measures that with a **stratified paired bootstrap**
over the sampled images: ``resamples`` times, each class's rows are drawn again with replacement (class
counts unchanged), every scorer is rescored on those rows for every model (the same rows for all models:
paired), and the models are re-ranked with the ranking's own rule (:func:`service.pipeline.aggregate
.aggregate`, saturated ties included). Nothing is extracted again: the features are the cached ones.

How a scorer is rescored on a resample, cheapest first:

* ``out-of-fold``: a scorer that reports per-sample terms (``info["per_sample"]``, ``probe_cv``'s
  out-of-fold correctness) is rescored as the mean of the resampled terms, without refitting (refitting
  a cross-validated probe on a resample with repeated rows would leak copies across folds);
* ``refit``: any other scorer is run again on the resampled rows (Gram scorers such as ``hscore`` and
  ``logme`` cost milliseconds on ``N × D`` features) while the refits of all resamples fit within
  ``budget_seconds`` (the ranking's own scoring time, so the certainty at most doubles the scoring
  cost), cheapest scorers first;
* ``fixed``: a scorer that fits neither is held at its full-sample value in every resample, and the
  method says so (its noise is then not part of the certainty).

From the resamples:

* ``p_best`` of a model: the fraction of resamples in which it ranks first (a tie for first shares one
  resample's credit equally), so the values sum to 1 over the ranked models;
* rank interval: the central ``level`` interval of its position (1 + models strictly better);
* confidence set: the recommended model (the ranking's first row) and every model that is at least as
  good as it (aggregate rank lower or equal) in more than ``1 - level`` of the resamples, i.e. that a
  one-sided paired test at ``1 - level`` cannot separate from it. More than one model in the set is "no
  clear winner".
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import estimators
from estimators._api import PER_SAMPLE
from estimators.errors import ZoorankError
from service.pipeline.aggregate import aggregate
from service.pipeline.schema import Candidate, Ranking, Recommendation
from service.pipeline.types import Cells, ModelInputs, ScorerPlan

__all__ = ["DEFAULT_LEVEL", "DEFAULT_RESAMPLES", "METHOD", "bootstrap_rows", "recommend"]

#: Resamples of the bootstrap: 200 puts the standard error of a ``p_best`` near 0.5 at 0.035.
DEFAULT_RESAMPLES = 200
#: Confidence level of the set and of the rank intervals.
DEFAULT_LEVEL = 0.95
METHOD = "stratified-paired-bootstrap"
#: Aggregate ranks closer than this are equal (they are means of a few half-integers; only the order of
#: the additions differs between models).
_TIE = 1e-9
#: Target-row arrays of a model's inputs; every other input (source statistics, profiles) is per model.
_ROW_INPUTS = ("features", "source_probs")


def bootstrap_rows(labels: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Stratified bootstrap draws: each class's rows drawn with replacement, class counts kept.

    Args:
        labels: ``(N,)`` integer class codes.
        resamples: number of draws B.
        seed: seeds :func:`numpy.random.default_rng`.

    Returns:
        ``(B, N)`` int64 row indices; row ``b`` holds, for each class in label order, as many of that
        class's rows as it has, drawn uniformly with replacement.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, len(labels)), dtype=np.int64)
    start = 0
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        out[:, start : start + len(members)] = members[
            rng.integers(0, len(members), (resamples, len(members)))
        ]
        start += len(members)
    return out


def _per_sample(cell_info: Mapping[str, Any] | None, rows: np.ndarray | None) -> np.ndarray | None:
    """A cell's per-sample terms on the common rows, or None when it has none that fit."""
    if cell_info is None or rows is None or PER_SAMPLE not in cell_info:
        return None
    terms = np.asarray(cell_info[PER_SAMPLE], dtype=np.float64)
    if terms.ndim != 1 or (len(rows) and int(rows.max()) >= len(terms)) or not np.isfinite(terms).all():
        return None
    out: np.ndarray = terms[rows]
    return out


def _row_arrays(inputs: ModelInputs, plan: ScorerPlan, idx: np.ndarray) -> dict[str, np.ndarray]:
    arrays = inputs.arrays_for(plan.spec)
    return {k: (np.asarray(v)[idx] if k in _ROW_INPUTS else v) for k, v in arrays.items()}


def _refit(
    plan: ScorerPlan,
    scored: Sequence[str],
    inputs: Mapping[str, ModelInputs],
    labels: np.ndarray,
    draws: np.ndarray,
) -> np.ndarray:
    """``(B, len(scored))`` values of ``plan``'s scorer on every draw (raises the scorer's typed error)."""
    values = np.empty((len(draws), len(scored)))
    for b, idx in enumerate(draws):
        y = labels[idx]
        if plan.spec.kind == "set":
            got = estimators.score_set(
                plan.name,
                candidates={m: _row_arrays(inputs[m], plan, idx) for m in scored},
                labels=y,
                **plan.params,
            )
            values[b] = [got[m] for m in scored]
        else:
            for j, m in enumerate(scored):
                values[b, j] = estimators.score_details(
                    plan.name, labels=y, **_row_arrays(inputs[m], plan, idx), **plan.params
                ).value
    if not np.isfinite(values).all():
        raise ValueError(f"{plan.name} gave a non-finite value on a resample")
    return values


def _cost(plan: ScorerPlan, scored: Sequence[str], cells: Mapping[str, Cells]) -> float | None:
    """Seconds one full-sample run of ``plan`` took over ``scored`` (None when a cell did not record it)."""
    times = [cells[m].seconds.get(plan.name) for m in scored]
    if any(t is None for t in times):
        return None
    known = [float(t) for t in times if t is not None]
    return max(known) if plan.spec.kind == "set" else sum(known)


def _quantile(values: np.ndarray, q: float, method: str) -> int:
    return int(np.quantile(values, q, method=method))  # type: ignore[call-overload]


def recommend(
    ranking: Ranking,
    cells: Mapping[str, Cells],
    plans: Sequence[ScorerPlan],
    inputs: Mapping[str, ModelInputs],
    labels: np.ndarray,
    *,
    rows: Mapping[str, np.ndarray] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
    budget_seconds: float | None = None,
) -> Recommendation | None:
    """The recommended model, the runner-up, the confidence set and each model's ``p_best``.

    Args:
        ranking: the assembled ranking (models best first, as :func:`~service.pipeline.aggregate
            .sort_results` orders them).
        cells: model id -> its full-sample cells (scores, diagnostics with any per-sample terms,
            seconds).
        plans: the ranking's scorers.
        inputs: model id -> its arrays on the common rows; ``labels`` ``(N,)`` are those rows' labels.
        rows: model id -> ``(N,)`` indices of the common rows among the rows the model's cells were
            scored on (per-sample terms are in that order); None: the identity.
        resamples, level, seed: the bootstrap's size, the confidence level, the seed of the draws.
        budget_seconds: most seconds all refits may take; None: the ranking's own scoring time
            (the sum of the cells' ``seconds``).

    Returns:
        The recommendation, or None when no model has an aggregate rank.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    start = time.perf_counter()
    ranked = [m.id for m in ranking.models if m.aggregate_rank is not None]
    if not ranked:
        return None
    full = {m.id: m for m in ranking.models}
    if budget_seconds is None:
        spent: dict[str, float] = {}
        for c in cells.values():
            for name, t in c.seconds.items():  # a set scorer's call is recorded on each candidate once
                spent[name] = (
                    max(spent.get(name, 0.0), t) if _is_set(plans, name) else spent.get(name, 0.0) + t
                )
        budget_seconds = sum(spent.values())
    labels = np.asarray(labels)
    draws = bootstrap_rows(labels, resamples, seed) if len(labels) else np.zeros((resamples, 0), np.int64)

    # per scorer: (B, models) values on the draws, or the full-sample values held fixed
    how: dict[str, str] = {}
    fixed: dict[str, str] = {}
    values: dict[str, tuple[list[str], np.ndarray]] = {}
    refits: list[tuple[float, ScorerPlan, list[str]]] = []
    for p in plans:
        scored = [m for m in ranked if p.name in full[m].scores]
        if not scored:
            continue
        terms = [
            _per_sample(
                (cells.get(m) or Cells()).info.get(p.name),
                np.arange(len(labels)) if rows is None else rows.get(m),
            )
            for m in scored
        ]
        if len(labels) and all(t is not None and len(t) == len(labels) for t in terms):
            stacked = np.stack([t for t in terms if t is not None], axis=1)  # (N, models)
            values[p.name] = (scored, stacked[draws].mean(axis=1))
            how[p.name] = "out-of-fold"
            continue
        cost = _cost(p, scored, cells)
        if not len(labels) or any(m not in inputs for m in scored):
            fixed[p.name] = "the features are not at hand to rescore it"
        elif cost is None:
            fixed[p.name] = "its scoring time was not recorded, so its refits cannot be budgeted"
        else:
            refits.append((cost, p, scored))
    used = 0.0
    for cost, p, scored in sorted(refits, key=lambda t: (t[0], t[1].name)):
        need = cost * resamples
        if used + need > budget_seconds:
            fixed[p.name] = (
                f"refitting it on {resamples} resamples would exceed the budget (the ranking's own "
                "scoring time, in budget_seconds)"
            )
            continue
        t0 = time.perf_counter()
        try:
            values[p.name] = (scored, _refit(p, scored, inputs, labels, draws))
        except (ZoorankError, ValueError) as exc:
            fixed[p.name] = f"a refit on a resample failed ({exc})"
            continue
        finally:
            used += time.perf_counter() - t0
        how[p.name] = "refit"

    # re-rank every resample with the ranking's own rule
    names = [p.name for p in plans]
    positions = np.empty((resamples, len(ranked)))
    aggs = np.empty((resamples, len(ranked)))
    wins = np.zeros(len(ranked))
    for b in range(resamples):
        replicate: dict[str, Cells] = {m: Cells() for m in ranked}
        for name in names:
            if name in values:
                scored, vals = values[name]
                for j, m in enumerate(scored):
                    replicate[m].scores[name] = float(vals[b, j])
            else:
                for m in ranked:
                    if name in full[m].scores:
                        replicate[m].scores[name] = full[m].scores[name]
        agg = aggregate(replicate, names)
        a = np.array([agg[m][1] if agg[m][1] is not None else math.inf for m in ranked])
        aggs[b] = a
        positions[b] = 1 + (a[None, :] < a[:, None] - _TIE).sum(axis=1)
        best = a <= a.min() + _TIE
        wins[best] += 1.0 / best.sum()
    p_best = wins / resamples
    alpha = 1.0 - level
    top = ranked[0]
    as_good = (aggs <= aggs[:, [0]] + _TIE).mean(axis=0)  # per model: resamples at least as good as top
    conf = tuple([top] + [m for j, m in enumerate(ranked) if j > 0 and as_good[j] > alpha])
    candidates = tuple(
        Candidate(
            id=m,
            p_best=float(p_best[j]),
            rank_low=_quantile(positions[:, j], alpha / 2, "lower"),
            rank_high=_quantile(positions[:, j], 1 - alpha / 2, "higher"),
        )
        for j, m in enumerate(ranked)
    )
    runner = ranked[1] if len(ranked) > 1 else None
    top_rank = full[top].aggregate_rank
    runner_rank = None if runner is None else full[runner].aggregate_rank
    margin = None if runner_rank is None or top_rank is None else float(runner_rank - top_rank)
    return Recommendation(
        model=top,
        runner_up=runner,
        margin=margin,
        confidence_set=conf,
        clear=len(conf) == 1,
        level=level,
        candidates=candidates,
        method={
            "name": METHOD,
            "resamples": resamples,
            "seed": seed,
            "resampled": {n: how[n] for n in names if n in how},
            "fixed": {n: fixed[n] for n in names if n in fixed},
            "seconds": round(time.perf_counter() - start, 4),
            "budget_seconds": round(budget_seconds, 4),
        },
    )


def _is_set(plans: Sequence[ScorerPlan], name: str) -> bool:
    return any(p.name == name and p.spec.kind == "set" for p in plans)
