"""How well a transferability score ranks models: correlations with fine-tuned accuracy, top-k selection.

The protocol is the one of SFDA's ``rank_correlation.py``, which PED, ETran and NCTI copy: for M
candidate models, ``scores`` ``(M,)`` are a scorer's outputs and ``accuracies`` ``(M,)`` the
fine-tuned accuracies (ground truth).

* :func:`weighted_tau` — ``scipy.stats.weightedtau(scores, accuracies)[0]`` with every default (hyperbolic
  weigher, additive, ``rank=True``: the average of the values ranked by each argument), the headline
  number of the literature. Symmetric in its two arguments; it is *not* antisymmetric under negating one
  argument because the weights follow the ranking direction.
* :func:`kendall_tau` — Kendall's τ-b (``scipy.stats.kendalltau``). :func:`pearson` — Pearson's r.
* :func:`rel_at_k` — best accuracy among the top-k models by score, over the best accuracy overall.
* :func:`recall_at_k` — 1.0 if the top-scored model is among the k most accurate, else 0.0.
* :func:`ensemble_accuracy` — accuracy of a team's averaged probabilities (ensemble selection's ground
  truth); :func:`team_weighted_tau` — τ_w between team scores and team accuracies.

Inputs are sequences, numpy arrays, torch tensors or dicts keyed by model id (then both must be dicts with
the same keys; they are aligned by key). Validation raises
:class:`~estimators.errors.InvalidInputError`; a correlation with a constant vector is undefined (scipy
returns NaN) and raises :class:`~estimators.errors.DegenerateInputError` instead. No function returns NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy import stats

from estimators.errors import DegenerateInputError, InvalidInputError, InvalidParameterError

__all__ = [
    "ensemble_accuracy",
    "kendall_tau",
    "pearson",
    "recall_at_k",
    "rel_at_k",
    "team_weighted_tau",
    "weighted_tau",
]


def _vector(value: Any, name: str) -> np.ndarray:
    """``value`` as a fresh 1-D float64 array of finite reals."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.array(value, copy=True)
    except Exception as exc:  # ragged sequences and the like
        raise InvalidInputError(f"{name} could not be read as a vector: {exc}", param=name) from None
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"{name} must hold real numbers, got dtype {arr.dtype}", param=name)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {arr.shape}", param=name)
    out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        bad = int((~np.isfinite(out)).sum())
        raise InvalidInputError(f"{name} contains {bad} NaN or infinite value(s)", param=name)
    return out


def _paired(scores: Any, accuracies: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate and align the two vectors; returns ``(scores, accuracies)`` as ``(M,)`` float64, M ≥ 2."""
    s_map, a_map = isinstance(scores, Mapping), isinstance(accuracies, Mapping)
    if s_map != a_map:
        raise InvalidInputError(
            "scores and accuracies must both be dicts keyed by model id, or both be sequences",
            param="accuracies",
        )
    if s_map and a_map:
        missing = [k for k in scores if k not in accuracies]
        extra = [k for k in accuracies if k not in scores]
        if missing or extra:
            raise InvalidInputError(
                f"scores and accuracies must have the same model ids; only in scores: {missing}, "
                f"only in accuracies: {extra}",
                param="accuracies",
            )
        keys = list(scores)
        scores = [scores[k] for k in keys]
        accuracies = [accuracies[k] for k in keys]
    s = _vector(scores, "scores")
    a = _vector(accuracies, "accuracies")
    if s.shape != a.shape:
        raise InvalidInputError(
            f"scores has {s.shape[0]} entries but accuracies has {a.shape[0]}", param="accuracies"
        )
    if s.shape[0] < 2:
        raise InvalidInputError(f"at least 2 models are needed, got {s.shape[0]}", param="scores")
    return s, a


def _require_variation(s: np.ndarray, a: np.ndarray, what: str) -> None:
    for vec, name in ((s, "scores"), (a, "accuracies")):
        if np.all(vec == vec[0]):
            raise DegenerateInputError(
                f"{what} is undefined when {name} are all equal (no ranking to compare)", param=name
            )


def _finite(value: Any, what: str) -> float:
    out = float(value)
    if not math.isfinite(out):  # defensive: the input checks above leave scipy no NaN case
        raise DegenerateInputError(f"{what} is undefined for these inputs", param="scores")
    return out


def weighted_tau(scores: Any, accuracies: Any) -> float:
    """Weighted Kendall τ_w between scores and accuracies, ``scipy.stats.weightedtau`` defaults.

    An exchange between the elements of ranks r and s (0-based, decreasing) weighs 1/(r+1) + 1/(s+1), so
    disagreements among the top models count most; the result averages the rankings by each argument.

    Args:
        scores: ``(M,)`` scorer outputs (or dict model id -> score).
        accuracies: ``(M,)`` fine-tuned accuracies (or dict with the same ids).

    Returns:
        τ_w in [-1, 1]; 1 when both rank the models identically.

    Raises:
        InvalidInputError: lengths differ, fewer than 2 models, non-finite or non-numeric values.
        DegenerateInputError: either vector is constant.
    """
    s, a = _paired(scores, accuracies)
    _require_variation(s, a, "weighted tau")
    return _finite(stats.weightedtau(s, a)[0], "weighted tau")


def kendall_tau(scores: Any, accuracies: Any) -> float:
    """Kendall's τ-b between scores and accuracies (``scipy.stats.kendalltau``; ties corrected).

    Args and raises as :func:`weighted_tau`. Returns τ_b in [-1, 1].
    """
    s, a = _paired(scores, accuracies)
    _require_variation(s, a, "Kendall tau")
    return _finite(stats.kendalltau(s, a).statistic, "Kendall tau")


def pearson(scores: Any, accuracies: Any) -> float:
    """Pearson's linear correlation r between scores and accuracies (``scipy.stats.pearsonr``).

    Args and raises as :func:`weighted_tau`. Returns r in [-1, 1].
    """
    s, a = _paired(scores, accuracies)
    _require_variation(s, a, "Pearson correlation")
    with warnings.catch_warnings():
        # scipy warns on near-constant input; the value it returns is still the exact correlation.
        warnings.simplefilter("ignore", stats.NearConstantInputWarning)
        r = stats.pearsonr(s, a).statistic
    return _finite(min(1.0, max(-1.0, float(r))), "Pearson correlation")


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidParameterError(f"k must be an int >= 1, got {k!r}", param="k")
    return int(k)


def _top_by_score(s: np.ndarray, a: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best-scored models; ties at the cut are broken pessimistically (lower accuracy
    first), so the result never depends on the order the models are listed in."""
    order = np.lexsort((a, -s))  # primary key: score descending; then accuracy ascending
    return order[: min(k, s.shape[0])]


def rel_at_k(scores: Any, accuracies: Any, k: int = 1) -> float:
    """Relative top-k accuracy: max accuracy among the k best-scored models / max accuracy overall.

    ``rel_at_k(..., 1)`` is the relative accuracy of the single model the scorer would pick. Models tied
    on score at the cut are taken worst-accuracy first (SFDA's ``rel_k`` breaks ties by listing order
    instead; the two agree whenever there is no tie at the cut). ``k`` larger than M gives 1.0.

    Args:
        scores: ``(M,)`` scorer outputs (or dict).
        accuracies: ``(M,)`` non-negative fine-tuned accuracies, not all zero (or dict).
        k: how many top-scored models are kept, ≥ 1.

    Returns:
        A value in (0, 1] (0 only if every selected model has accuracy 0).

    Raises:
        InvalidInputError: as :func:`weighted_tau`, or negative accuracies.
        InvalidParameterError: ``k`` is not an int ≥ 1.
        DegenerateInputError: every accuracy is 0.
    """
    k = _check_k(k)
    s, a = _paired(scores, accuracies)
    if np.any(a < 0):
        raise InvalidInputError("accuracies must be non-negative", param="accuracies")
    best = float(a.max())
    if not best > 0:
        raise DegenerateInputError("rel@k is undefined when every accuracy is 0", param="accuracies")
    return float(a[_top_by_score(s, a, k)].max()) / best


def recall_at_k(scores: Any, accuracies: Any, k: int = 1) -> float:
    """1.0 if the top-scored model is among the k most accurate models, else 0.0.

    The definition behind SFDA's ``recall_k`` (broken as shipped). Ties on the top score are broken
    pessimistically (lowest accuracy); a model tied in accuracy with the k-th most accurate counts as
    being in the top k.

    Args:
        scores, accuracies: as :func:`rel_at_k` (accuracies may be any finite reals).
        k: size of the ground-truth top set, ≥ 1.

    Raises:
        InvalidInputError, InvalidParameterError: as :func:`rel_at_k`.
    """
    k = _check_k(k)
    s, a = _paired(scores, accuracies)
    picked = a[_top_by_score(s, a, 1)[0]]
    kth_best = np.sort(a)[::-1][min(k, a.shape[0]) - 1]
    return 1.0 if picked >= kth_best else 0.0


def ensemble_accuracy(probs_by_member: Mapping[str, Any], labels: Any, team: Sequence[str]) -> float:
    """Accuracy of a team's averaged predictions: the ground truth of ensemble selection (OSBORN, §1.1).

    The ensemble predicts argmax_c (1/K) Σ_{m∈team} p_m[i, c] (ties: the lowest class index), the way
    OSBORN and Agostinelli et al. evaluate a team of individually fine-tuned members.

    Args:
        probs_by_member: member id -> ``(N, C)`` class probabilities (or scores) on the target test set,
            all over the same C target classes.
        labels: ``(N,)`` int target class indices in ``0..C-1``.
        team: member ids (non-empty, no repeats, each a key of ``probs_by_member``).

    Returns:
        The fraction of samples the averaged prediction gets right, in [0, 1].

    Raises:
        InvalidInputError: unknown or repeated member, empty team, mismatched shapes, non-finite values,
            labels outside ``0..C-1``.
    """
    if isinstance(team, str) or len(team) == 0:
        raise InvalidInputError("team must be a non-empty sequence of member ids", param="team")
    if len(set(team)) != len(team):
        raise InvalidInputError(f"team {list(team)} repeats a member", param="team")
    missing = [m for m in team if m not in probs_by_member]
    if missing:
        raise InvalidInputError(f"team members {missing} have no probabilities", param="team")
    y = np.asarray(labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else labels)
    if y.ndim != 1 or y.size == 0 or y.dtype.kind not in "iu":
        raise InvalidInputError("labels must be a non-empty 1-D array of int class indices", param="labels")
    total: np.ndarray | None = None
    for m in team:
        value = probs_by_member[m]
        p = np.asarray(value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value)
        if p.dtype.kind not in "biuf" or p.ndim != 2 or p.shape[0] != y.shape[0]:
            raise InvalidInputError(
                f"probabilities of {m!r} must be a real (N, C) array with N = {y.shape[0]}, got shape "
                f"{p.shape}",
                param="probs_by_member",
            )
        p = p.astype(np.float64)
        if not np.all(np.isfinite(p)):
            raise InvalidInputError(f"probabilities of {m!r} are not finite", param="probs_by_member")
        if total is not None and p.shape != total.shape:
            raise InvalidInputError(
                f"probabilities of {m!r} have shape {p.shape}, other members {total.shape}",
                param="probs_by_member",
            )
        total = p if total is None else total + p
    assert total is not None
    if y.min() < 0 or y.max() >= total.shape[1]:
        raise InvalidInputError(f"labels must lie in 0..{total.shape[1] - 1}", param="labels")
    return float(np.mean(np.argmax(total, axis=1) == y))


def team_weighted_tau(scores: Mapping[Any, float], accuracies: Mapping[Any, float]) -> float:
    """Weighted Kendall τ_w between team scores and team accuracies (ensemble selection's headline number).

    Teams are keys: any iterable of member ids (a tuple, list or frozenset); member order does not matter,
    so ``("a", "b")`` and ``("b", "a")`` are the same team.

    Args:
        scores: team -> an ensemble scorer's score (e.g. every k-subset of an exhaustive search).
        accuracies: team -> :func:`ensemble_accuracy` of that team; the same teams as ``scores``.

    Returns:
        :func:`weighted_tau` over the teams.

    Raises:
        InvalidInputError: the two mappings hold different teams, a team repeats, or as :func:`weighted_tau`.
        DegenerateInputError: either vector is constant.
    """

    def _keyed(mapping: Mapping[Any, float], name: str) -> dict[frozenset[str], float]:
        if not isinstance(mapping, Mapping):
            raise InvalidInputError(f"{name} must be a mapping team -> value", param=name)
        out: dict[frozenset[str], float] = {}
        for team, value in mapping.items():
            members = [team] if isinstance(team, str) else list(team)
            key = frozenset(str(m) for m in members)
            if len(key) != len(members) or key in out:
                raise InvalidInputError(f"{name} has a repeated team or member: {team!r}", param=name)
            out[key] = value
        return out

    s, a = _keyed(scores, "scores"), _keyed(accuracies, "accuracies")
    if set(s) != set(a):
        raise InvalidInputError("scores and accuracies must hold the same teams", param="accuracies")
    keys = sorted(s, key=sorted)
    return weighted_tau([s[k] for k in keys], [a[k] for k in keys])
