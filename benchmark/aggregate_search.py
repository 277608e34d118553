"""Choosing zoorank's default scorers on the benchmark: every mean-rank aggregate, and how far it generalises.

A ranking's ``aggregate_rank`` is the mean of its scorers' ranks, so "the default" is a set of scorers.
:func:`search` scores every set of 1 to :data:`MAX_MEMBERS` single scorers by its mean weighted Kendall τ_w
against one truth over the benchmark's targets (the full targets at the report's main sample size and
their 10-shot variants). The set chosen this way is the best *on this benchmark*, which flatters it: the
same 12 targets pick and grade it. :func:`leave_one_target_out` measures the procedure instead: for each
target it picks the best set on the other targets and grades that set on the held-out one; the mean of
those grades is what the selection can be expected to deliver on a new target.

Input: per target, the per-model ranks of every single scorer (``{model: {scorer: rank}}``, rank 1 =
best, as ``scores.json`` holds them) and the truth (``{model: accuracy}``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from estimators import evaluation
from estimators.errors import ZoorankError

__all__ = ["MAX_MEMBERS", "Candidate", "aggregate", "leave_one_target_out", "search"]

#: Largest scorer set searched: C(26, 3) = 2,600 sets of three; beyond that the search is mostly
#: fitting noise of 12 targets of 15 models.
MAX_MEMBERS = 3

Ranks = Mapping[str, Mapping[str, float]]


def aggregate(ranks: Ranks, members: Sequence[str]) -> dict[str, float]:
    """Minus the mean rank over ``members`` (higher is better), for every model ranked by at least one.

    This is exactly a ranking's ``aggregate_rank`` (a scorer that failed on a model is left out of that
    model's mean), negated so that higher is better like a score.
    """
    out = {}
    for model, r in ranks.items():
        vals = [r[s] for s in members if s in r]
        if vals:
            out[model] = -float(np.mean(vals))
    return out


def _tau(values: Mapping[str, float], truth: Mapping[str, float]) -> float | None:
    common = sorted(set(values) & set(truth))
    if len(common) < 2:
        return None
    try:
        return evaluation.weighted_tau({m: values[m] for m in common}, {m: truth[m] for m in common})
    except ZoorankError:  # a constant order: τ_w undefined
        return None


@dataclass(frozen=True)
class Candidate:
    """One scorer set: its τ_w per target (None where undefined) and their mean over defined targets."""

    members: tuple[str, ...]
    per_target: dict[str, float | None]

    @property
    def mean(self) -> float | None:
        return self.mean_over(list(self.per_target))

    def mean_over(self, targets: Sequence[str]) -> float | None:
        """Mean τ_w over ``targets`` only (those where it is defined)."""
        vals = [v for t in targets if (v := self.per_target.get(t)) is not None]
        return float(np.mean(vals)) if vals else None


def _key(c: Candidate, targets: Sequence[str] | None = None) -> tuple[float, int, tuple[str, ...]]:
    m = c.mean if targets is None else c.mean_over(targets)
    # best mean first; ties go to the smaller set (cheaper, fewer ways to fail), then by name
    return (-(m if m is not None else -np.inf), len(c.members), c.members)


def search(
    ranks: Mapping[str, Ranks],
    truth: Mapping[str, Mapping[str, float]],
    scorers: Sequence[str],
    *,
    max_members: int = MAX_MEMBERS,
) -> list[Candidate]:
    """Every set of 1..``max_members`` of ``scorers``, best mean τ_w first.

    Args:
        ranks: target -> ``{model: {scorer: rank}}``.
        truth: target -> ``{model: accuracy}``; targets without truth for two models are skipped.
        scorers: the single scorers to combine.
        max_members: largest set size.
    """
    targets = [t for t in ranks if len(set(truth.get(t, {})) & set(ranks[t])) >= 2]
    out = []
    for k in range(1, max_members + 1):
        for members in combinations(sorted(scorers), k):
            per_target = {t: _tau(aggregate(ranks[t], members), truth[t]) for t in targets}
            out.append(Candidate(members=members, per_target=per_target))
    return sorted(out, key=_key)


def leave_one_target_out(candidates: Sequence[Candidate]) -> dict[str, tuple[tuple[str, ...], float | None]]:
    """For each target: the set that is best on the *other* targets, and its τ_w on the held-out target."""
    if not candidates:
        return {}
    targets = list(candidates[0].per_target)
    out = {}
    for held in targets:
        rest = [t for t in targets if t != held]
        best = min(candidates, key=lambda c: _key(c, rest))
        out[held] = (best.members, best.per_target.get(held))
    return out
