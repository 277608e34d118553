"""Ensemble scorers from member source heads: ensemble EEP and mean LEEP (after Agostinelli et al. 2022).

Agostinelli, Uijlings, Mensink and Ferrari (CVPR 2022) extend LEEP to a team of source models ("MS-LEEP",
"E-LEEP"), but their defining equations could not be retrieved; the two scorers here are the candidate
definitions, named by what they compute. For a team E of K members, each
with its own source head θ_m (``(N, C_m)``; label spaces may differ) and the shared target labels:

* ``ens_eep`` (§3.2 A): (1/N) Σ_i log((1/K) Σ_m EEP_m,i), the log of the members' averaged expected
  empirical prediction. This mirrors how an ensemble averages its members' predictions, and equals plain
  LEEP on the concatenated head [θ_1, …, θ_K]/K whose dummy-label space is the disjoint union of the
  members' source classes.
* ``mean_leep`` (§3.2 B): (1/K) Σ_m LEEP_m, additive (no member interaction; the best team of size k is
  the k best single models).

Jensen's inequality gives ens_eep ≥ mean_leep, with equality for a single member (both are then LEEP).
Which of them is MS-LEEP and which E-LEEP is unverified (the spec's provisional guess: MS-LEEP ≈ B,
E-LEEP ≈ A). The team is exactly the members passed; to choose a team of size k from a pool,
:func:`estimators.select_team` scores k-subsets with :class:`EepObjective` (EEP vectors computed once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._registry import register_scorer
from estimators.leep import expected_empirical_prediction
from estimators.teams import TeamObjective, register_team_objective

__all__ = ["EepObjective", "ens_eep", "ens_eep_pool", "mean_leep", "mean_leep_pool"]

ENSEMBLE_CITATION = (
    "Agostinelli, Uijlings, Mensink, Ferrari. Transferability Metrics for Selecting Source Model "
    "Ensembles. CVPR 2022 (definition reconstructed from the paper)."
)


def _member_eeps(members: Mapping[str, ScoringData]) -> tuple[list[torch.Tensor], dict[str, int]]:
    """Per-member ``(N,)`` EEP vectors and the number of zero-mass source classes dropped per member."""
    eeps, dropped = [], {}
    for name, data in members.items():
        eep, n_dropped = expected_empirical_prediction(data.probs, data.codes, data.num_classes)
        eeps.append(eep)
        dropped[name] = n_dropped
    return eeps, dropped


@register_scorer(
    "ens_eep",
    kind="ensemble",
    needs=("source_probs", "labels"),
    citation=ENSEMBLE_CITATION,
    version="1",
)
def ens_eep(members: Mapping[str, ScoringData]) -> ScoreResult:
    """Ensemble EEP: mean over samples of the log of the members' averaged EEP (spec A).

    Args:
        members: member id -> validated inputs with ``source_probs`` ``(N, C_m)``; all share the labels.

    Returns:
        The score (≤ 0, higher is better) with ``info``: ``members`` (K) and ``dropped_source_classes``
        per member (zero-mass source classes left out, as in :func:`estimators.leep.leep`).

    Cost: O(N · Σ_m C_m).
    """
    eeps, dropped = _member_eeps(members)
    device = eeps[0].device
    mean_eep = torch.stack([e.to(device) for e in eeps]).mean(dim=0)
    return ScoreResult(
        float(torch.log(mean_eep).mean()), {"members": len(eeps), "dropped_source_classes": dropped}
    )


@register_scorer(
    "mean_leep",
    kind="ensemble",
    needs=("source_probs", "labels"),
    citation=ENSEMBLE_CITATION,
    version="1",
)
def mean_leep(members: Mapping[str, ScoringData]) -> ScoreResult:
    """Mean LEEP: the unweighted mean of the members' LEEP scores (spec B).

    Args:
        members: member id -> validated inputs with ``source_probs`` ``(N, C_m)``; all share the labels.

    Returns:
        The score (≤ 0) with ``info``: ``members`` (K), ``member_leep`` (member id -> its LEEP) and
        ``dropped_source_classes`` per member.
    """
    eeps, dropped = _member_eeps(members)
    per_member = {name: float(torch.log(e).mean()) for name, e in zip(members, eeps, strict=True)}
    value = sum(per_member.values()) / len(per_member)
    return ScoreResult(
        value, {"members": len(eeps), "member_leep": per_member, "dropped_source_classes": dropped}
    )


class EepObjective(TeamObjective):
    """Ensemble EEP or mean LEEP over a pool, from the members' ``(N,)`` EEP vectors computed once.

    Attributes:
        eeps: ``(M, N)`` float64 per-member EEP_m,i.
        leep: ``(M,)`` per-member LEEP_m = mean_i log EEP_m,i.
        log_of_mean: True for ``ens_eep`` (log of the averaged EEP), False for ``mean_leep``.
    """

    def __init__(
        self, names: list[str], eeps: np.ndarray, dropped: Mapping[str, int], *, log_of_mean: bool
    ) -> None:
        super().__init__(names)
        self.eeps = eeps
        self.log_eeps = np.log(eeps)
        self.leep = self.log_eeps.mean(axis=1)
        self.dropped = dict(dropped)
        self.log_of_mean = log_of_mean

    def team_score(self, team: Sequence[int]) -> float:
        idx = list(team)
        if self.log_of_mean:
            return float(np.log(self.eeps[idx].mean(axis=0)).mean())
        return float(self.leep[idx].mean())

    def per_sample(self, team: Sequence[int]) -> np.ndarray:
        """``(N,)``: log of the members' mean EEP (``ens_eep``) or the mean of their log EEP
        (``mean_leep``) per target sample; the mean over samples is :meth:`team_score`. The empirical
        conditional inside each EEP is the one fitted on all N samples."""
        idx = list(team)
        if self.log_of_mean:
            out: np.ndarray = np.log(self.eeps[idx].mean(axis=0))
            return out
        mean_log: np.ndarray = self.log_eeps[idx].mean(axis=0)
        return mean_log

    def breakdown(self, team: Sequence[int]) -> dict[str, Any]:
        return {
            "member_leep": {self.names[i]: float(self.leep[i]) for i in team},
            "dropped_source_classes": {self.names[i]: self.dropped[self.names[i]] for i in team},
        }

    def member_info(self) -> dict[str, dict[str, Any]]:
        return {n: {"leep": float(self.leep[i])} for i, n in enumerate(self.names)}

    def info(self) -> dict[str, Any]:
        return {"n_target": int(self.eeps.shape[1])}


def _eep_pool(members: Mapping[str, ScoringData], *, log_of_mean: bool) -> EepObjective:
    eeps, dropped = _member_eeps(members)
    matrix = torch.stack([e.detach().to("cpu", torch.float64) for e in eeps]).numpy()
    return EepObjective(list(members), matrix, dropped, log_of_mean=log_of_mean)


@register_team_objective("ens_eep")
def ens_eep_pool(members: Mapping[str, ScoringData], params: Mapping[str, Any]) -> EepObjective:
    """Team objective of :func:`ens_eep`: mean_i log(mean_{m∈E} EEP_m,i)."""
    del params
    return _eep_pool(members, log_of_mean=True)


@register_team_objective("mean_leep")
def mean_leep_pool(members: Mapping[str, ScoringData], params: Mapping[str, Any]) -> EepObjective:
    """Team objective of :func:`mean_leep`: mean_{m∈E} LEEP_m (modular: greedy is exact)."""
    del params
    return _eep_pool(members, log_of_mean=False)
