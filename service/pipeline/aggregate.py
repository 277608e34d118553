"""Aggregation: per-scorer ranks, the aggregate rank, saturated ties and the ranking's order.

* per-scorer rank: among the models the scorer scored, 1 = highest score; exactly equal scores share the
  mean of the positions they span (``1, 2.5, 2.5, 4``);
* aggregate rank: mean of a model's per-scorer ranks over the scorers that scored it (a headless model
  is not penalised for LEEP/NCE, which cannot score it); models that no scorer scored get ``None``;
* order: by aggregate rank, ``None`` last, ties by model id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import estimators
from estimators.errors import ZoorankError
from service.pipeline.schema import ModelResult, Ranking
from service.pipeline.types import Cells
from service.text import format_score

if TYPE_CHECKING:
    pass


#: Relative tolerance of a saturated tie: scores within ``SATURATION_RTOL * |best|`` of a scorer's best
#: score count as equal to it. Saturating scorers reach their bound up to floating-point rounding
#: (~1e-12 relative for H-score at C-1 and SFDA at 1.0), while genuine differences between models are
#: orders of magnitude above 1e-6, so the tolerance separates the two with room on both sides.
SATURATION_RTOL = 1e-6


def higher_is_better(name: str) -> bool:
    """The orientation of a registered scorer (True for names the registry does not know)."""
    try:
        spec = estimators.get_scorer(name)
    except ZoorankError:
        return True
    return spec.higher_is_better


def _best_first(values: Mapping[str, float], higher: bool) -> list[str]:
    return sorted(values, key=lambda k: -values[k] if higher else values[k])


def rank_values(values: Mapping[str, float], *, higher_is_better: bool = True) -> dict[str, float]:
    """Ranks of ``values`` (key -> score): 1 = best, exact ties share their mean rank.

    ``higher_is_better`` is the scorer's orientation: False ranks the lowest score first (``ncti_vc``).

    >>> rank_values({"a": 0.9, "b": 0.5, "c": 0.5, "d": 0.1})
    {'a': 1.0, 'b': 2.5, 'c': 2.5, 'd': 4.0}
    >>> rank_values({"a": 0.9, "b": 0.1}, higher_is_better=False)
    {'b': 1.0, 'a': 2.0}
    """
    for key, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"score of {key!r} is not finite: {value}")
    order = _best_first(values, higher_is_better)
    ranks: dict[str, float] = {}
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        shared = (i + 1 + j + 1) / 2.0  # mean of positions i+1 .. j+1
        for k in order[i : j + 1]:
            ranks[k] = shared
        i = j + 1
    return ranks


def saturated_top(
    values: Mapping[str, float], *, higher_is_better: bool = True, rtol: float = SATURATION_RTOL
) -> frozenset[str]:
    """The models tied at a scorer's best score: a *saturated tie*, which orders nothing.

    Rule: the group of models whose score lies within ``rtol * |best|`` of the best score (the
    highest, or the lowest for a lower-is-better scorer) is saturated when it holds two or more models.
    With fewer samples than feature dimensions, H-score reaches exactly C-1 and SFDA exactly 1.0 for
    every wide model: the scorer then cannot order the strongest candidates, and ranking them 1, 2, 3
    by rounding noise would be a verdict made of nothing. The rule needs no per-scorer bound (any
    scorer that pins several models at one best value is caught, and so are two copies of one model,
    which the scorer cannot order either) and never fires for a single model. Ties below the top are
    ordinary ties (they share a rank, as always).

    Returns:
        The saturated keys, empty when the best score is unique.
    """
    if len(values) < 2:
        return frozenset()
    best = values[_best_first(values, higher_is_better)[0]]
    tol = rtol * abs(best)
    group = frozenset(k for k, v in values.items() if abs(v - best) <= tol)
    return group if len(group) >= 2 else frozenset()


def _scorer_ranks(values: Mapping[str, float], higher: bool) -> dict[str, float]:
    """:func:`rank_values`, with a saturated top group sharing the mean of positions 1..k."""
    ranks = rank_values(values, higher_is_better=higher)
    top = saturated_top(values, higher_is_better=higher)
    if top:  # the group holds positions 1..k: every score between two members is within tolerance too
        shared = (1 + len(top)) / 2.0
        for key in top:
            ranks[key] = shared
    return ranks


def aggregate(
    cells: Mapping[str, Cells],
    scorer_names: Sequence[str],
    *,
    orientation: Mapping[str, bool] | None = None,
) -> dict[str, tuple[dict[str, float], float | None]]:
    """Per-scorer ranks and the aggregate rank of every model.

    Each scorer ranks in its own orientation (``orientation[name]``, else the registry's
    ``higher_is_better``), and the models of a saturated tie at the top (:func:`saturated_top`) share
    one rank, so rounding noise never orders them.

    Returns:
        model id -> (scorer -> rank, aggregate rank or None when no scorer scored the model).
    """
    ranks: dict[str, dict[str, float]] = {m: {} for m in cells}
    for name in scorer_names:
        higher = orientation[name] if orientation and name in orientation else higher_is_better(name)
        scored = {m: c.scores[name] for m, c in cells.items() if name in c.scores}
        for model_id, r in _scorer_ranks(scored, higher).items():
            ranks[model_id][name] = r
    out: dict[str, tuple[dict[str, float], float | None]] = {}
    for model_id, model_ranks in ranks.items():
        agg = sum(model_ranks.values()) / len(model_ranks) if model_ranks else None
        out[model_id] = ({n: model_ranks[n] for n in scorer_names if n in model_ranks}, agg)
    return out


def mark_saturated(
    results: Sequence[ModelResult], *, orientation: Mapping[str, bool] | None = None
) -> list[ModelResult]:
    """``results`` with ``saturated`` set: per model, the scorers whose cell is in a saturated tie."""
    names = list(dict.fromkeys(n for r in results for n in r.scores))
    marked: dict[str, list[str]] = {r.id: [] for r in results}
    for name in names:
        higher = orientation[name] if orientation and name in orientation else higher_is_better(name)
        for model_id in saturated_top(
            {r.id: r.scores[name] for r in results if name in r.scores}, higher_is_better=higher
        ):
            marked[model_id].append(name)
    return [replace(r, saturated=tuple(marked[r.id])) if marked[r.id] or r.saturated else r for r in results]


def sort_results(
    results: Sequence[ModelResult], *, orientation: Mapping[str, bool] | None = None
) -> tuple[ModelResult, ...]:
    """Best first: by aggregate rank, models without one last, ties broken by id (deterministic).

    Also marks every saturated cell (:func:`mark_saturated`), so each ranking that is sorted here
    records which of its ties order nothing.
    """
    return tuple(
        sorted(
            mark_saturated(results, orientation=orientation),
            key=lambda r: (r.aggregate_rank is None, r.aggregate_rank or 0.0, r.id),
        )
    )


def saturation_notes(ranking: Ranking) -> list[str]:
    """One human-readable line per scorer with a saturated tie (for the CLI's stderr note)."""
    notes = []
    for name in ranking.scorer_names():
        tied = [m for m in ranking.models if name in m.saturated]
        if tied:
            value = format_score(tied[0].scores[name])
            n = ranking.dataset.num_samples
            dims = [m.feature_dim for m in tied if m.feature_dim is not None]
            why = (
                f"{n} samples but up to {max(dims)} feature dimensions: more images per class help"
                if dims and n < max(dims)
                else "the scorer cannot separate these models on this sample"
            )
            notes.append(
                f"{name} is saturated: {len(tied)} models tie at its best score {value} (within a relative "
                f"{SATURATION_RTOL:g}), so their shared rank is no verdict ({why})"
            )
    return notes


#: Marks a saturated cell in the table (see :func:`saturated_top`).
SATURATED_MARK = "≈"
#: What :data:`SATURATED_MARK` means, in the words every front end uses for its legend.
SATURATED_LEGEND = "saturated tie (the scorer cannot order these models)"
