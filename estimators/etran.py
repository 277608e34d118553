"""ETran: energy-based transferability (Gholami et al., ICCV 2023), classification pipeline.

The official code (``mgholamikn/ETran``: ``metrics.py::{Energy_Score, LDA_Score}``, ``tw.py``) ranks models
with two per-model components, combined across the candidate set:

* ``etran_energy``: S_en, the mean free energy ``logsumexp_d x_{i,d}`` of the lowest-energy 0.5 % of the
  samples, computed on the penultimate **features**.
* ``etran_lda``: S_cls, the mean true-class posterior of the reference "LDA". Its eigen-projection cancels
  (``U Uᵀ = I``), so it is a unit-temperature nearest-class-mean classifier on the raw features:
  ``p(c|x) = softmax_c(-½‖x - μ_c‖² + log π_c)``.
* ``etran`` (set-level): min–max scale each component over the candidates, then
  ``0.15·S_en' + 0.85·S_cls'``.

The reference returns NaN when N < 200, because the 0.5 % tail is then empty. Following the canonical table,
the tail keeps at least one sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from estimators._combine import minmax_scale
from estimators._data import ScoringData
from estimators._params import Constraint, Interval, Options
from estimators._registry import register_scorer
from estimators.errors import NumericalError

__all__ = ["etran", "etran_energy", "etran_lda", "energy_tail_size", "ncm_log_posterior"]

_CITATION = "Gholami, Akbari, Wang, Zhang. ETran: Energy-Based Transferability Estimation. ICCV 2023."
_ENERGY_CONSTRAINTS: dict[str, Constraint] = {
    "percent": Interval(0.0, 100.0, closed="right"),
    "tail": Options(("bot", "top")),
}


def energy_tail_size(n: int, percent: float) -> int:
    """Number of samples kept in the energy tail: ``max(1, int(percent·10)·N // 1000)``, capped at N.

    ``int(percent·10)`` is the reference's own rounding: percent is counted in whole tenths of a percent.
    """
    return min(n, max(1, int(percent * 10) * n // 1000))


def _stable_mean(v: torch.Tensor) -> float:
    """Mean of a 1-D float64 tensor that cannot overflow, even for entries near the float maximum."""
    peak = float(v.abs().max())
    if peak > 1e300:
        return float((v / peak).mean()) * peak
    return float(v.mean())


def energy_score(x: torch.Tensor, percent: float, tail: str) -> float:
    """S_en of ``(N, D)`` features: mean of the ``k`` lowest (``"bot"``) or highest (``"top"``) energies.

    ``energy_i = logsumexp_d x_{i,d}``, with ``k = energy_tail_size(N, percent)``. The energy is not scale
    free, so features of magnitude 1e30 give energies of about 1e30. Those are large but finite.
    """
    energy = torch.logsumexp(x.to(torch.float64), dim=1)
    k = energy_tail_size(int(x.shape[0]), percent)
    ordered = torch.sort(energy).values
    kept = ordered[:k] if tail == "bot" else ordered[-k:]
    return _stable_mean(kept)


def ncm_log_posterior(x: torch.Tensor, means: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """``(N, C)`` log posteriors ``log softmax_c(-½‖x - μ_c‖² + log π_c)``.

    The row term -½‖x‖² cancels in the softmax, so the logits are ``xᵀμ_c - ½‖μ_c‖² + log π_c``. They are
    taken about the mean of the class means to limit cancellation. The result is unchanged by a common
    shift of x and μ.

    Args:
        x: ``(N, D)`` features.
        means: ``(C, D)`` class means.
        priors: ``(C,)`` class priors.

    Raises:
        NumericalError: the squared distances overflow float64 (feature magnitudes beyond ~1e150).
    """
    centre = means.mean(dim=0, keepdim=True)
    xc, mc = x - centre, means - centre
    logits = xc @ mc.T - 0.5 * (mc * mc).sum(dim=1) + torch.log(priors)
    if not bool(torch.isfinite(logits).all()):
        raise NumericalError("etran_lda: squared feature distances overflow float64", param="features")
    return torch.log_softmax(logits, dim=1)


def lda_score(data: ScoringData) -> float:
    """S_cls: mean over samples of the nearest-class-mean posterior of the true class (no log)."""
    log_post = ncm_log_posterior(data.x, data.class_means, data.priors)
    return float(torch.exp(log_post.gather(1, data.codes[:, None])).sum()) / data.n


@register_scorer(
    "etran_energy",
    needs=("features",),
    constraints=_ENERGY_CONSTRAINTS,
    citation=_CITATION,
    version="1",
    min_classes=1,
    min_per_class=1,
    min_samples=1,
)
def etran_energy(data: ScoringData, *, percent: float = 0.5, tail: str = "bot") -> float:
    """ETran energy component S_en: mean feature energy of the lowest 0.5 % of the samples.

    Shapes: features ``(N, D)``. Labels are accepted but unused (a single class is fine). Cost O(N·D).

    Args:
        data: validated features.
        percent: size of the tail in percent of N, counted in whole tenths as in the reference. At least one
            sample is kept. The reference returns NaN when the tail would be empty (N < 200 at 0.5 %).
        tail: ``"bot"`` keeps the lowest energies (the reference's choice), ``"top"`` the highest.

    Returns:
        The mean energy of the tail (higher is better).
    """
    return energy_score(data.x, percent, tail)


@register_scorer(
    "etran_lda",
    needs=("features", "labels"),
    citation=_CITATION,
    version="1",
    min_classes=2,
    min_per_class=1,
)
def etran_lda(data: ScoringData) -> float:
    """ETran classification component S_cls: mean true-class posterior of a nearest-class-mean classifier.

    ``p(c|x) = softmax_c(-½‖x - μ_c‖² + log π_c)`` on the raw features, at unit temperature. This is what the
    reference's LDA computes once its orthonormal projection cancels.
    Shapes: features ``(N, D)``, labels ``(N,)``. Cost O(N·D·C) instead of the reference's O(N·D² + D³).

    Returns:
        The score in (0, 1].
    """
    return lda_score(data)


@register_scorer(
    "etran",
    kind="set",
    needs=("features", "labels"),
    constraints={
        "energy_weight": Interval(0.0, None),
        "lda_weight": Interval(0.0, None),
        **_ENERGY_CONSTRAINTS,
    },
    citation=_CITATION,
    version="1",
    min_classes=2,
    min_per_class=1,
)
def etran(
    data: Mapping[str, ScoringData],
    *,
    energy_weight: float = 0.15,
    lda_weight: float = 0.85,
    percent: float = 0.5,
    tail: str = "bot",
) -> dict[str, float]:
    """ETran over a candidate set: ``energy_weight·S_en' + lda_weight·S_cls'`` (primes: min–max scaled).

    The scores are relative to the candidate set: the min–max scaling maps the worst candidate on each
    component to 0 and the best to 1, so adding or removing a candidate changes every value. A component
    that is equal for every candidate scales to 0 and drops out (``estimators._combine.minmax_scale``).

    Args:
        data: candidate id -> validated ``(N, D_m)`` features and the shared ``(N,)`` labels.
        energy_weight, lda_weight: weights of the scaled components (the reference's ``tw.py``: 0.15, 0.85).
        percent, tail: passed to the energy component (see :func:`etran_energy`).

    Returns:
        candidate id -> score in [0, energy_weight + lda_weight].
    """
    energy = {k: energy_score(d.x, percent, tail) for k, d in data.items()}
    lda = {k: lda_score(d) for k, d in data.items()}
    energy_scaled, lda_scaled = minmax_scale(energy), minmax_scale(lda)
    out = {k: energy_weight * energy_scaled[k] + lda_weight * lda_scaled[k] for k in data}
    if not all(math.isfinite(v) for v in out.values()):
        # Only when energies of opposite signs near the float limits overflow the min-max span.
        raise NumericalError(
            "etran: the energy range of the candidates overflows float64", param="candidates"
        )
    return out
