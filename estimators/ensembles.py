"""Ensemble scorers from member source heads: ensemble EEP and mean LEEP (after Agostinelli et al. 2022).

Agostinelli, Uijlings, Mensink and Ferrari (CVPR 2022) extend LEEP to a team of source models ("MS-LEEP",
"E-LEEP"), but their defining equations could not be retrieved; the two scorers here are the candidate
definitions of ``spec/ensembles.md`` §3.2, named by what they compute. For a team E of K members, each
with its own source head θ_m (``(N, C_m)``; label spaces may differ) and the shared target labels:

* ``ens_eep`` (§3.2 A): (1/N) Σ_i log((1/K) Σ_m EEP_m,i), the log of the members' averaged expected
  empirical prediction. This mirrors how an ensemble averages its members' predictions, and equals plain
  LEEP on the concatenated head [θ_1, …, θ_K]/K whose dummy-label space is the disjoint union of the
  members' source classes.
* ``mean_leep`` (§3.2 B): (1/K) Σ_m LEEP_m, additive (no member interaction; the best team of size k is
  the k best single models).

Jensen's inequality gives ens_eep ≥ mean_leep, with equality for a single member (both are then LEEP).
Which of them is MS-LEEP and which E-LEEP is unverified (the spec's provisional guess: MS-LEEP ≈ B,
E-LEEP ≈ A). The team is exactly the members passed; to choose a team of size k, score every k-subset.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._registry import register_scorer
from estimators.leep import expected_empirical_prediction

__all__ = ["ens_eep", "mean_leep"]

ENSEMBLE_CITATION = (
    "Agostinelli, Uijlings, Mensink, Ferrari. Transferability Metrics for Selecting Source Model "
    "Ensembles. CVPR 2022 (definition reconstructed, see spec/ensembles.md §3.2)."
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
