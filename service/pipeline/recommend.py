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

A team of the ensembles section is recommended the same way (:func:`recommend_team`): the candidate teams
of one ensemble scorer are rescored on the same stratified draws, and :func:`standing` turns the rescored
teams into ``p_best``, rank intervals and the confidence set with the models' rule. As for the models,
cheapest first: ``per-sample``, a team objective whose score is a mean of per-sample terms
(:meth:`estimators.teams.TeamObjective.per_sample`: ensemble EEP, mean LEEP) is rescored as the mean of the
resampled terms, without rebuilding it (its empirical conditional stays the one fitted on all rows);
``refit``, any other (OSBORN) is rebuilt from the resampled rows on every resample
(:func:`estimators.teams.prepare_pool`) while that fits the budget.
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
from estimators.teams import prepare_pool
from service.pipeline.aggregate import aggregate
from service.pipeline.schema import (
    Candidate,
    EnsembleResult,
    Ranking,
    Recommendation,
    TeamCandidate,
    TeamRecommendation,
)
from service.pipeline.types import Cells, ModelInputs, ScorerPlan

__all__ = [
    "DEFAULT_LEVEL",
    "DEFAULT_RESAMPLES",
    "METHOD",
    "bootstrap_rows",
    "candidate_teams",
    "recommend",
    "recommend_team",
    "standing",
]

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


def standing(losses: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each candidate's standing over the resamples: ``p_best``, rank interval, confidence-set membership.

    The one rule behind both the model and the team recommendation.

    Args:
        losses: ``(B, n)`` per resample and candidate, lower is better (a model's aggregate rank, a team's
            negated score; ``inf`` for a candidate that has no value on a resample). Column 0 is the
            recommended candidate (the first on the full sample).
        level: the confidence level.

    Returns:
        ``(p_best, rank_low, rank_high, in_set)``, each ``(n,)``: the fraction of resamples in which the
        candidate is first (a tie for first shares the resample's credit, so they sum to 1); the central
        ``level`` interval of its position (1 + candidates strictly better); and whether it is in the
        confidence set (column 0 always; any other when it is at least as good as column 0 in more than
        ``1 - level`` of the resamples).
    """
    resamples, n = losses.shape
    alpha = 1.0 - level
    positions = 1 + (losses[:, None, :] < losses[:, :, None] - _TIE).sum(axis=2)  # (B, n)
    best = losses <= losses.min(axis=1, keepdims=True) + _TIE
    p_best = (best / best.sum(axis=1, keepdims=True)).sum(axis=0) / resamples
    low = np.array([_quantile(positions[:, j], alpha / 2, "lower") for j in range(n)], dtype=np.int64)
    high = np.array([_quantile(positions[:, j], 1 - alpha / 2, "higher") for j in range(n)], dtype=np.int64)
    as_good = (losses <= losses[:, [0]] + _TIE).mean(axis=0)
    in_set = as_good > alpha
    in_set[0] = True
    return p_best, low, high, in_set


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
    aggs = np.empty((resamples, len(ranked)))
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
    p_best, low, high, in_set = standing(aggs, level)
    top = ranked[0]
    conf = tuple(m for j, m in enumerate(ranked) if in_set[j])
    candidates = tuple(
        Candidate(id=m, p_best=float(p_best[j]), rank_low=int(low[j]), rank_high=int(high[j]))
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


def candidate_teams(result: EnsembleResult) -> list[tuple[tuple[str, ...], float]]:
    """The teams a team recommendation weighs, with their full-sample scores, the selected team first.

    Exhaustive search: the teams it reported (best first). Greedy search: the selected team and every
    team that differs from it in the last pick only (the first k-1 picks with another candidate of the
    last round); the last round's gains give their scores without rescoring (score of the first k-1
    picks plus the candidate's gain), and none beats the selected team, whose pick had the largest gain.
    """
    if not result.teams:
        return []
    chosen = result.teams[0]
    if not result.steps:
        return [(t.members, t.score) for t in result.teams]
    last = result.steps[-1]
    base = chosen.score - float(last["gain"])
    head = chosen.members[:-1]
    others = sorted(
        ((m, float(g)) for m, g in dict(last["gains"]).items() if m != last["pick"]),
        key=lambda t: (-t[1], t[0]),
    )
    return [(chosen.members, chosen.score), *(((*head, m), base + g) for m, g in others)]


def recommend_team(
    result: EnsembleResult,
    members: Mapping[str, Mapping[str, np.ndarray]],
    labels: np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
    budget_seconds: float,
) -> TeamRecommendation | None:
    """The recommended team of one ensemble scorer, its runner-up, the confidence set and ``p_best``.

    Args:
        result: the scorer's search (:class:`~service.pipeline.schema.EnsembleResult`).
        members: model id -> the arrays the search used (``features`` and ``source_probs`` on the target
            rows, source-profile arrays per model); only the scorer's pool is rescored.
        labels: ``(N,)`` target labels of the rows.
        resamples, level, seed: as :func:`recommend` (the same stratified draws for the same seed).
        budget_seconds: most seconds the rescoring may take. The objective is rebuilt once on all rows
            (for its per-sample terms, and as the measure of one refit); when a scorer without per-sample
            terms would need more than the budget for all refits, the teams are held at their
            full-sample scores and the method says so (as a scorer held ``fixed`` in :func:`recommend`).

    Returns:
        The recommendation, or None when the scorer selected no team.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    start = time.perf_counter()
    teams = candidate_teams(result)
    if not teams:
        return None
    full = np.array([-score for _, score in teams])
    losses = np.tile(full, (resamples, 1))
    labels = np.asarray(labels)
    pool = [m for m in result.pool if m in members]
    fixed: str | None = None
    how = "refit"
    terms = None
    if not len(labels) or len(pool) < len(result.pool):
        fixed = "the pool's arrays are not at hand to rescore it"
    else:
        draws = bootstrap_rows(labels, resamples, seed)
        t0 = time.perf_counter()
        try:
            terms = _team_terms(result, members, pool, teams, labels)
        except (ZoorankError, ValueError) as exc:
            fixed = f"its objective could not be rebuilt on the sample ({exc})"
        build = time.perf_counter() - t0  # what one rebuild costs: the estimate of one refit
        if terms is None and fixed is None and build * resamples > budget_seconds - build:
            fixed = (
                f"rescoring its teams on {resamples} resamples would exceed the budget (the ranking's "
                "own scoring time, in budget_seconds)"
            )
    if terms is not None:
        losses = -terms[:, draws].mean(axis=2).T  # (B, teams): the resampled means of the terms
        how = "per-sample"
    elif fixed is None:
        for b, idx in enumerate(draws):
            try:
                losses[b] = _rescore_teams(result, members, pool, teams, labels, idx)
            except (ZoorankError, ValueError) as exc:
                fixed = f"a rescoring on a resample failed ({exc})"
                losses = np.tile(full, (resamples, 1))
                break
    p_best, low, high, in_set = standing(losses, level)
    names = [members_ for members_, _ in teams]
    runner = teams[1] if len(teams) > 1 else None
    return TeamRecommendation(
        scorer=result.scorer,
        team=names[0],
        runner_up=None if runner is None else runner[0],
        margin=None if runner is None else float(teams[0][1] - runner[1]),
        confidence_set=tuple(t for j, t in enumerate(names) if in_set[j]),
        clear=int(in_set.sum()) == 1,
        level=level,
        candidates=tuple(
            TeamCandidate(
                members=t,
                score=float(score),
                p_best=float(p_best[j]),
                rank_low=int(low[j]),
                rank_high=int(high[j]),
            )
            for j, (t, score) in enumerate(teams)
        ),
        method={
            "name": METHOD,
            "resamples": resamples,
            "seed": seed,
            "resampled": {} if fixed is not None else {result.scorer: how},
            "fixed": {} if fixed is None else {result.scorer: fixed},
            "seconds": round(time.perf_counter() - start, 4),
            "budget_seconds": round(budget_seconds, 4),
        },
    )


def _team_terms(
    result: EnsembleResult,
    members: Mapping[str, Mapping[str, np.ndarray]],
    pool: Sequence[str],
    teams: Sequence[tuple[tuple[str, ...], float]],
    labels: np.ndarray,
) -> np.ndarray | None:
    """``(len(teams), N)`` per-sample terms of every candidate team on all rows, or None when the
    scorer's objective has none (then each resample rebuilds it)."""
    idx = np.arange(len(labels))
    needs = set(estimators.get_scorer(result.scorer).needs)
    arrays = {m: {k: v for k, v in members[m].items() if k in needs} for m in pool}
    objective, _, _ = prepare_pool(result.scorer, members=arrays, labels=labels[idx], **dict(result.params))
    where = {m: i for i, m in enumerate(objective.names)}
    rows = []
    for team, _ in teams:
        got = objective.per_sample(tuple(where[m] for m in team)) if all(m in where for m in team) else None
        if got is None or np.shape(got) != (len(labels),) or not np.isfinite(got).all():
            return None
        rows.append(np.asarray(got, dtype=np.float64))
    return np.stack(rows)


def _rescore_teams(
    result: EnsembleResult,
    members: Mapping[str, Mapping[str, np.ndarray]],
    pool: Sequence[str],
    teams: Sequence[tuple[tuple[str, ...], float]],
    labels: np.ndarray,
    idx: np.ndarray,
) -> np.ndarray:
    """``(len(teams),)`` negated scores of the teams on the rows ``idx`` (``inf`` for a team with a member
    that is not eligible on them)."""
    needs = set(estimators.get_scorer(result.scorer).needs)  # what it does not use, it need not validate
    arrays = {
        m: {k: (np.asarray(v)[idx] if k in _ROW_INPUTS else v) for k, v in members[m].items() if k in needs}
        for m in pool
    }
    objective, _, _ = prepare_pool(result.scorer, members=arrays, labels=labels[idx], **dict(result.params))
    where = {m: i for i, m in enumerate(objective.names)}
    valid = [j for j, (t, _) in enumerate(teams) if all(m in where for m in t)]
    out = np.full(len(teams), math.inf)
    if valid:
        scores = objective.scores_all([tuple(where[m] for m in teams[j][0]) for j in valid])
        if not np.isfinite(scores).all():
            raise ValueError(f"{result.scorer} gave a non-finite team score on a resample")
        out[valid] = -scores
    return out
