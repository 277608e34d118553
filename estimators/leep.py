"""LEEP: Log Expected Empirical Prediction (Nguyen et al., ICML 2020), and the EEP helper it shares.

The source model's softmax θ(x) over C_s source classes acts as a soft "dummy label" z for each target
sample. The empirical joint of target label y and dummy label z,

    P̂(y, z) = (1/N) Σ_{i: y_i = y} θ(x_i)_z,                       (C × C_s)

gives the conditional P̂(y | z) = P̂(y, z) / Σ_y' P̂(y', z), and the *expected empirical prediction* of
sample i is the probability the re-labelled source head assigns to its true label,

    EEP_i = Σ_z P̂(y_i | z) θ(x_i)_z.

LEEP is the mean of log EEP_i (≤ 0, higher is better). The same construction with other posteriors in
place of θ gives NLEEP (Gaussian-mixture posteriors) and the ensemble scores (one EEP per member), so
:func:`expected_empirical_prediction` is shared with :mod:`estimators.nleep` and
:mod:`estimators.ensembles`.

Canonical guard: a source class that receives exactly zero probability from every target sample makes
P̂(y | z) = 0/0 (the reference returns NaN). Such a class carries no information and contributes nothing
to any EEP_i, so it is dropped (what google's ``divide_no_nan`` port amounts to).
"""

from __future__ import annotations

import torch

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._linalg import class_sums
from estimators._params import BOOL
from estimators._registry import register_scorer

__all__ = ["expected_empirical_prediction", "leep"]

_MATMUL_MAX_CLASSES = 256
_CHUNK_ELEMENTS = 1 << 22  # rows of the gathered P̂(y_i | z) per chunk: 32 MiB of float64

LEEP_CITATION = (
    "Nguyen, Hassner, Seeger, Archambeau. LEEP: A New Measure to Evaluate Transferability of Learned "
    "Representations. ICML 2020."
)


def expected_empirical_prediction(
    probs: torch.Tensor, codes: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, int]:
    """Per-sample expected empirical prediction EEP_i of LEEP.

    Args:
        probs: ``(N, K)`` rows on the simplex: source-head softmax (LEEP) or any posterior over K dummy
            labels (mixture components for NLEEP).
        codes: ``(N,)`` int64 target class codes ``0..C-1``.
        num_classes: C.

    Returns:
        ``(eep, dropped)``: ``eep`` is the ``(N,)`` tensor of EEP_i = Σ_z P̂(y_i | z) θ_iz, each in (0, 1];
        ``dropped`` is the number of dummy labels with zero total probability (left out, see module doc).

    EEP_i > 0 always: the largest entry of θ_i is at least 1/K, and for that z, P̂(y_i | z) ≥ θ_iz / N, so
    EEP_i ≥ 1 / (K² N); the log is safe in float64.
    """
    joint = class_sums(probs, codes, num_classes)  # (C, K); the 1/N cancels in the conditional
    mass = joint.sum(dim=0)
    alive = mass > 0
    # Zero-mass columns have joint = 0 and θ_iz = 0 for every i: dividing them by 1 instead of 0 is the
    # same as dropping them.
    cond = joint / torch.where(alive, mass, torch.ones_like(mass))  # P̂(y | z), (C, K)
    if num_classes <= _MATMUL_MAX_CLASSES:
        # All C predictions at once is O(N·K·C) flops but one GEMM, faster than the O(N·K) gather
        # below (which is memory bound) until C reaches a few hundred.
        eep = (probs @ cond.T).gather(1, codes[:, None]).squeeze(1)
    else:
        eep = torch.empty(codes.shape[0], dtype=probs.dtype, device=probs.device)
        step = max(1, _CHUNK_ELEMENTS // max(1, probs.shape[1]))
        for start in range(0, codes.shape[0], step):
            rows = slice(start, start + step)
            eep[rows] = (probs[rows] * cond.index_select(0, codes[rows])).sum(dim=1)
    return eep, int((~alive).sum())


@register_scorer(
    "leep",
    needs=("source_probs", "labels"),
    constraints={"log": BOOL},
    citation=LEEP_CITATION,
    version="1",
)
def leep(data: ScoringData, *, log: bool = True) -> ScoreResult:
    """LEEP: mean log-probability of the true target label under the source head re-mapped by P̂(y|z).

    Args:
        data: validated inputs; uses ``source_probs`` ``(N, C_s)`` (softmax of the source head on the
            target samples) and the label codes ``(N,)``.
        log: ``True`` (paper, thuml/tllib): mean of log EEP_i, a value in (−∞, 0]. ``False``: mean of EEP_i
            without the log, the variant reported by the SFDA/ETran/NCTI code family (in (0, 1]).

    Returns:
        The score with ``info["dropped_source_classes"]``, the number of source classes with zero total
        probability that were left out.

    Cost: O(N·C_s) time and memory, O(C·C_s) for the joint; runs on the device of the inputs.
    """
    eep, dropped = expected_empirical_prediction(data.probs, data.codes, data.num_classes)
    value = torch.log(eep).mean() if log else eep.mean()
    return ScoreResult(float(value), {"dropped_source_classes": dropped})
