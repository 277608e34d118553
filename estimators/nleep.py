"""NLEEP (𝒩LEEP): LEEP with a Gaussian mixture in place of the source head (Li et al., CVPR 2021).

Models without a usable source head (self-supervised ones) can still be scored: fit a Gaussian mixture
with ``components_per_class · C`` components to the (PCA-reduced) target features, use the component
posteriors p(k | x_i) as the dummy-label distribution θ(x_i), and apply the LEEP construction
(:func:`estimators.leep.expected_empirical_prediction`).

The fit follows the SFDA reference so that its numbers are reproduced: scikit-learn
``PCA(n_components=pca_variance)`` (keep that fraction of the variance, default solver), then a
``GaussianMixture(n_components=K, random_state=...)`` with every other default (full covariances, k-means
initialisation, one initialisation, 100 EM iterations, ``reg_covar=1e-6``). The mixture is fitted by
:mod:`estimators._mixture`: scikit-learn's EM step for step (its own k-means start, same seed), with the
components batched in torch (float64, on the features' device) and each covariance built from the samples
that carry responsibility for it, so that the reference's size, N=10,000, D=2,048, C=100 (K=500
components of 1,077 dimensions, 4.6 GB per K×d×d array in scikit-learn), runs in minutes and < 1 GB.

Before anything is fitted the cost is estimated (:func:`estimators._mixture.estimate_cost`): a fit
predicted to exceed ``time_budget_s`` or ``memory_budget_mb`` is refused with
:class:`~estimators.errors.LimitExceededError`, which names the ways out: ``covariance_type="diag"``
(scikit-learn's diagonal model, N·K·d per step) and ``max_components`` (fewer mixture components).

Two deliberate deviations, both invisible at the scale of real float32 features (≤ 1e-10 relative on
the test vectors, whose tolerance is 1e-3):

* Units. sklearn's ``reg_covar`` is an absolute variance, so the reference's score depends on the units
  of the features, blurs every component for tiny features and can fail (non-positive-definite
  covariance) for large ones. The features are scaled by a power of two to a maximum magnitude in
  [0.5, 1), and the PCA output divided by its root-mean-square, before the mixture fit.
* Precision. The features are rounded to float32 precision (see :func:`_round_to_float32`), so that a
  float64 array and its float32 copy reach the same local optimum; float32 features are unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._mixture import FLOPS_PER_SECOND, MixtureCost, estimate_cost, fit_mixture_posteriors
from estimators._params import BOOL, NONE, AnyOf, Interval, Options
from estimators._registry import register_scorer
from estimators.errors import DegenerateInputError, LimitExceededError
from estimators.leep import expected_empirical_prediction

__all__ = ["nleep"]


def _round_to_float32(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to float32 precision (24 significant bits), returned as float64.

    The mixture fit is discontinuous in its input (k-means++ seeding draws against distance
    thresholds, k-means assigns hard labels), so a float64 array and its float32 copy can land in
    different local optima. Rounding first makes both score identically; features are produced in
    float32 anyway (the test vectors' are, so parity is unaffected). A power-of-two pre-scaling, exact and
    commuting with the rounding, keeps values inside float32's range; the pipeline is invariant to it
    because PCA commutes with it and the RMS normalisation removes it.
    """
    peak = float(np.max(np.abs(x)))
    ref = float(np.float32(peak)) if peak < 1e38 else peak  # the same for x and its float32 copy
    exponent = int(np.frexp(ref)[1]) if ref > 0 else 0
    scaled = np.ldexp(x, -exponent)  # max |value| in [0.5, 1]
    out: np.ndarray = scaled.astype(np.float32).astype(np.float64)
    return out


def _pca_cost(n: int, d: int) -> MixtureCost:
    """Time and memory of scikit-learn's full-SVD PCA of an ``(N, D)`` matrix (a centred copy, U and Vᵀ)."""
    r = min(n, d)
    flops = 4.0 * n * d * r + 8.0 * r**3
    return MixtureCost(seconds=flops / FLOPS_PER_SECOND, bytes=8 * (2 * n * d + n * r + d * r))


def _total(pca: MixtureCost, n: int, d: int, k: int, covariance_type: str) -> tuple[float, float]:
    """Estimated seconds and MiB of the PCA followed by the mixture fit (memory: the larger stage)."""
    fit = estimate_cost(n, d, k, covariance_type)
    return pca.seconds + fit.seconds, max(pca.bytes, fit.bytes) / 2**20


def _check_budget(
    pca: MixtureCost,
    n: int,
    d: int,
    k: int,
    covariance_type: str,
    time_budget_s: float,
    memory_budget_mb: float,
) -> tuple[float, float]:
    """Refuse a fit whose estimate exceeds a budget, before it starts; return the (seconds, MiB) estimate.

    The refusal names the ways out: ``covariance_type="diag"`` (with its own estimate) and the largest
    ``max_components`` that fits both budgets.
    """
    seconds, mib = _total(pca, n, d, k, covariance_type)
    if seconds <= time_budget_s and mib <= memory_budget_mb:
        return seconds, mib

    def fits(kk: int, ct: str) -> bool:
        s, m = _total(pca, n, d, kk, ct)
        return s <= time_budget_s and m <= memory_budget_mb

    lo, hi = 0, k  # largest K that fits with the same covariance type
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid, covariance_type) else (lo, mid - 1)
    ways = []
    if covariance_type == "full":
        verdict = "fits" if fits(k, "diag") else "also over budget"
        ways.append(f'covariance_type="diag" (estimated {_total(pca, n, d, k, "diag")[0]:.0f} s, {verdict})')
    ways.append(f"max_components={lo}" if lo >= 1 else "max_components (no value fits these budgets)")
    ways.append("or larger time_budget_s / memory_budget_mb")
    over = "time_budget_s" if seconds > time_budget_s else "memory_budget_mb"
    raise LimitExceededError(
        f"'nleep' would fit {k} {covariance_type}-covariance mixture components to {n} samples of {d} "
        f"dimensions (after PCA): an estimated {seconds:.0f} s and {mib:.0f} MiB, over the budget "
        f"(time_budget_s={time_budget_s:g}, memory_budget_mb={memory_budget_mb:g}). Ways out: "
        + "; ".join(ways)
        + ".",
        param=over,
        estimated_seconds=seconds,
        estimated_mib=mib,
    )


@register_scorer(
    "nleep",
    needs=("features", "labels"),
    constraints={
        "log": BOOL,
        "pca_variance": Interval(0.0, 1.0, closed="neither"),
        "components_per_class": Interval(1, None, integer=True),
        "random_state": Interval(0, 2**32 - 1, integer=True),
        "covariance_type": Options(("full", "diag")),
        "max_components": AnyOf((NONE, Interval(1, None, integer=True))),
        "time_budget_s": Interval(0.0, None, closed="neither"),
        "memory_budget_mb": Interval(0.0, None, closed="neither"),
    },
    citation="Li, Jia, Zhu, Sun, Hu, Lin, Gong. Ranking Neural Checkpoints. CVPR 2021.",
    version="2",
)
def nleep(
    data: ScoringData,
    *,
    log: bool = True,
    pca_variance: float = 0.8,
    components_per_class: int = 5,
    random_state: int = 0,
    covariance_type: str = "full",
    max_components: int | None = None,
    time_budget_s: float = 900.0,
    memory_budget_mb: float = 4096.0,
) -> ScoreResult:
    """NLEEP: LEEP over the posteriors of a Gaussian mixture fitted to the target features.

    Args:
        data: validated inputs; uses ``features`` ``(N, D)`` and the label codes ``(N,)``.
        log: ``True`` (paper, google): mean of log EEP_i. ``False``: mean EEP_i without the log (SFDA
            family; what the test vectors hold).
        pca_variance: fraction of the feature variance the PCA keeps, in (0, 1).
        components_per_class: K / C, mixture components per target class (SFDA's evaluation scripts use
            1 for Food-101 and Pets, 5 elsewhere).
        random_state: seed of the mixture's k-means initialisation (the reference leaves it unset, which
            makes it non-deterministic). The result depends on sample order through that initialisation.
        covariance_type: ``"full"`` (default; the reference) or ``"diag"``: per-component diagonal
            covariances (scikit-learn's ``covariance_type="diag"``), N·K·d' per EM step instead of up to
            N·K·d'², for feature sizes where the full model is refused. Not the reference's numbers.
        max_components: caps K = ``min(components_per_class · C, max_components)``; None (default) keeps
            ``components_per_class · C``. Fewer components: cheaper and coarser dummy labels.
        time_budget_s: the most seconds the fit may be *estimated* to take (the estimate assumes a 2-core
            CPU's float64 throughput, see :func:`estimators._mixture.estimate_cost`); above it the call is
            refused before any fit. The default, 900 s, admits the reference's large benchmark size
            (N=10,000, D=2,048, C=100: ~5 minutes here).
        memory_budget_mb: the most MiB of working memory the fit may be estimated to need (default 4096).

    Returns:
        The score with ``info``: ``pca_components`` (d'), ``mixture_components`` (K), ``covariance_type``,
        ``iterations`` and ``converged`` (whether EM met its tolerance within 100 iterations),
        ``dropped_components`` (components with zero posterior mass, left out as in LEEP), and the
        estimate checked against the budgets: ``estimated_seconds``, ``estimated_mib``.

    Raises:
        DegenerateInputError: every feature is constant, or N < K (a K-component mixture cannot be fitted).
        LimitExceededError: the estimated time or memory exceeds ``time_budget_s`` / ``memory_budget_mb``
            (the message names ``covariance_type="diag"`` and a ``max_components`` that would fit).
        NumericalError: a mixture covariance is not positive definite.

    Cost: PCA O(N·D·min(N, D)); k-means O(iterations·N·K·d'); full EM O(N·d'·Σ_k min(m_k, d')) per step
    with m_k the samples responsible for component k (≈ N·d'·N/K·K = N²·d' when the posteriors are
    saturated, the usual case in high dimension), diagonal EM O(N·K·d') per step; memory O(N·K + N·d')
    plus a 256 MiB batch.
    """
    x = data.features_numpy
    n = data.n
    k = components_per_class * data.num_classes
    if max_components is not None:
        k = min(k, max_components)
    if bool(np.all(x.max(axis=0) == x.min(axis=0))):
        raise DegenerateInputError(
            "'nleep' needs features that vary: every feature is constant", param="features"
        )
    if n < k:
        raise DegenerateInputError(
            f"'nleep' fits {k} mixture components ({components_per_class} per class for "
            f"{data.num_classes} classes, capped by max_components={max_components}) and needs at least "
            f"that many samples, got {n}; lower components_per_class or max_components",
            param="labels",
        )
    pca = _pca_cost(n, x.shape[1])
    # Before any fit: the PCA and the cheapest mixture it can lead to (d' = 1).
    _check_budget(pca, n, 1, k, covariance_type, time_budget_s, memory_budget_mb)
    reduced = PCA(n_components=pca_variance).fit_transform(_round_to_float32(x))
    rms = float(np.sqrt(np.mean(np.square(reduced))))
    if not rms > 0:
        raise DegenerateInputError("'nleep': the features have no variance after PCA", param="features")
    reduced = reduced / rms
    # Before the mixture fit, with d' known.
    seconds, mib = _check_budget(
        pca, n, reduced.shape[1], k, covariance_type, time_budget_s, memory_budget_mb
    )
    fit = fit_mixture_posteriors(
        torch.from_numpy(reduced).to(data.device),
        k,
        covariance_type=covariance_type,
        random_state=random_state,
    )
    eep, dropped = expected_empirical_prediction(fit.posteriors, data.codes, data.num_classes)
    value = torch.log(eep).mean() if log else eep.mean()
    return ScoreResult(
        float(value),
        {
            "pca_components": int(reduced.shape[1]),
            "mixture_components": k,
            "covariance_type": covariance_type,
            "iterations": fit.iterations,
            "converged": fit.converged,
            "dropped_components": dropped,
            "estimated_seconds": round(seconds, 1),
            "estimated_mib": round(mib, 1),
        },
    )
