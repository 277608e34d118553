"""NCTI — the Neural-Collapse Transferability Index (Wang et al., ICCV 2023).

NCTI rates how close a model's target features are to *neural collapse*, the geometry features reach at the
end of training (classes shrink to points, the points spread out as a simplex, a nearest-class-mean rule
classifies perfectly). It measures three things on a PCA-reduced copy of the features ``X`` ``(N, D)``:

* ``seli`` — *simplex encoding label interpolation*: the nuclear norm of the column-centred LDA projection
  ``Z`` ``(N, min(C-1, q))``. A large value means the discriminant subspace is well spread (higher = better).
* ``ncc`` — *nearest center classifier*: the mean LDA posterior of the true class (higher = better).
* ``vc`` — *within-class variability collapse*: ``log Σ_c ‖P_c‖_*`` with ``P_c`` ``(n_c, C)`` the posterior
  rows of class ``c``. Collapsed classes have (near) rank-one posterior blocks, hence a small sum
  (lower = better).

The three are on unrelated scales, so NCTI is defined over a candidate set: each component is min–max
scaled over the candidates and ``NCTI = ncc' + seli' - vc'``. The set-level scorer ``ncti`` does that; the
model scorers ``ncti_seli``, ``ncti_ncc`` and ``ncti_vc`` expose the raw components (all oriented as
published: ``ncti_vc`` is *lower* = better collapse, it is kept as the reference reports it so that the
set combination reproduces the paper, and registered with ``higher_is_better=False``).

Reference: ``BUserName/NCTI`` ``metrics.py::NCTI_Score`` and ``evaluate_metric_group1_cpu.py``. To match
it the computation goes through scikit-learn exactly as the reference does: ``PCA(n_components=q)`` with
the default solver, a shrinkage ``max(exp(-Σ top-32 explained variances), 1e-10)``, and
``LinearDiscriminantAnalysis(solver='svd')`` when that shrinkage is the floor, else
``solver='eigen', shrinkage=...``. Canonical guard: ``q = min(pca_dims, D, N)``; the
reference raises when ``min(D, N) < 64``.

Pitfall kept for parity: when the features have rank below ``q``, the trailing PCA components are
rounding noise; the LDA ``svd`` solver standardises every column by its within-class spread and so lets
that noise take part in the projection (``small.npz`` of the test vectors depends on it).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from estimators._api import ScoreResult
from estimators._combine import minmax_scale
from estimators._data import ScoringData
from estimators._params import Interval
from estimators._registry import register_scorer
from estimators.errors import DegenerateInputError, NumericalError, ZoorankError

CITATION = (
    "Wang, Z., Luo, Y., Zheng, L., Huang, Z., Baktashmotlagh, M. How Far Pre-trained Models Are from "
    "Neural Collapse on the Target Dataset Informs their Transferability. ICCV 2023."
)

_CONSTRAINTS = {"pca_dims": Interval(1, None, integer=True)}
#: number of leading PCA variances whose sum sets the LDA shrinkage (fixed in the reference).
_TOP_VARIANCES = 32
#: shrinkage floor; reaching it switches the reference to the un-shrunk ``svd`` LDA solver.
_SHRINKAGE_FLOOR = 1e-10
#: relative spreads below these are rounding noise, not information (see :func:`_check_spread`).
_CONSTANT_RTOL = 1e-12
_SCATTER_RTOL = 1e-20
#: feature spreads beyond 2**±this are rescaled by a power of two before PCA.
_SAFE_SPREAD_EXP = 330


@dataclass(frozen=True)
class NCTIComponents:
    """The three NCTI components of one model plus how they were obtained.

    Attributes:
        seli: nuclear norm of the centred LDA projection (higher = better).
        ncc: mean LDA posterior of the true class, in (0, 1] (higher = better).
        vc: log of the summed per-class nuclear norms of the posteriors (lower = better).
        pca_dims: PCA components actually kept, ``min(pca_dims, D, N)``.
        shrinkage: ``max(exp(-Σ top-32 variances), 1e-10)``.
        lda_solver: ``"svd"`` (shrinkage at the floor) or ``"eigen"``.
    """

    seli: float
    ncc: float
    vc: float
    pca_dims: int
    shrinkage: float
    lda_solver: str

    def info(self) -> dict[str, object]:
        """Diagnostics for :class:`~estimators._api.ScoreResult`."""
        return {
            "seli": self.seli,
            "ncc": self.ncc,
            "vc": self.vc,
            "pca_dims": self.pca_dims,
            "shrinkage": self.shrinkage,
            "lda_solver": self.lda_solver,
        }


def _check_spread(x: np.ndarray, y: np.ndarray, num_classes: int) -> int:
    """Raise :class:`DegenerateInputError` where PCA/LDA are undefined, before scikit-learn fails or NaNs.

    Args:
        x: ``(N, q)`` features (raw or PCA-reduced), float64.
        y: ``(N,)`` class codes ``0..C-1``.
        num_classes: ``C``.

    Checks, relative to the data's own magnitude so they are scale free: the total scatter is not
    rounding noise (constant features), the within-class scatter is not zero (every class collapsed to a
    point: the LDA within-class covariance is singular) and the class means do not coincide (no between-
    class direction). Everything is computed on a copy scaled by powers of two, which cannot overflow.

    Returns:
        The binary exponent ``e`` of the spread ``max |x - mean(x)|``, in ``[2**(e-1), 2**e)``.
    """
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        raise DegenerateInputError(
            "NCTI needs features that vary across samples; these are constant (all zero)", param="features"
        )
    peak_exp = math.frexp(peak)[1]
    with np.errstate(under="ignore"):
        scaled = np.ldexp(x, -peak_exp)  # |scaled| < 1: sums and squares stay finite
    centred = scaled - scaled.mean(axis=0, keepdims=True)
    spread = float(np.max(np.abs(centred)))  # relative to the peak magnitude
    if not spread > _CONSTANT_RTOL:
        raise DegenerateInputError(
            "NCTI needs features that vary across samples; these are (numerically) constant",
            param="features",
        )
    z = centred / spread
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    means = np.zeros((num_classes, z.shape[1]))
    np.add.at(means, y, z)
    means /= counts[:, None]
    total = float(np.sum(z * z))
    within = float(np.sum((z - means[y]) ** 2))
    between = float(np.sum(counts[:, None] * means * means))
    if not within > _SCATTER_RTOL * total:
        raise DegenerateInputError(
            "NCTI's LDA needs within-class variation; every class here is a single point "
            "(one sample per class or identical samples within each class)",
            param="features",
        )
    if not between > _SCATTER_RTOL * total:
        raise DegenerateInputError(
            "NCTI's LDA needs distinct class means; all class means coincide", param="features"
        )
    return math.frexp(spread)[1] + peak_exp


def _nuclear_norm(a: np.ndarray) -> float:
    """Sum of the singular values of ``a`` ``(m, n)`` (``np.linalg.norm(a, 'nuc')``)."""
    return float(np.sum(np.linalg.svd(a, compute_uv=False)))


def ncti_components(data: ScoringData, pca_dims: int = 64) -> NCTIComponents:
    """Compute the three NCTI components of one model in a single PCA + LDA pass.

    Args:
        data: validated inputs; uses ``features`` ``(N, D)`` and ``labels`` ``(N,)``.
        pca_dims: PCA target dimension before the guard ``min(pca_dims, D, N)`` (reference: 64).

    Returns:
        The components and the solver choices (:class:`NCTIComponents`).

    Raises:
        DegenerateInputError: constant features, no within-class variation, coinciding class means.
        NumericalError: scikit-learn produced a non-finite projection or posterior.
    """
    x = data.features_numpy
    y = data.labels_numpy
    n, d = x.shape
    c = data.num_classes
    if n <= c:
        raise DegenerateInputError(
            f"NCTI's LDA needs more samples than classes (N={n}, C={c})", param="labels"
        )
    spread_exp = _check_spread(x, y, c)
    # Spreads beyond 2**±330 (~1e±100) would overflow / underflow the covariances inside PCA and LDA.
    # Both LDA paths taken there are scale invariant (variances that large put the shrinkage at its floor
    # -> 'svd'; that small give a shrinkage of exactly 1.0 -> a scaled identity), so an exact power-of-two
    # rescale changes nothing but the variances, which are scaled back before they set the shrinkage.
    exponent = 0
    if abs(spread_exp) > _SAFE_SPREAD_EXP:
        exponent = -spread_exp
        with np.errstate(under="ignore"):
            x = np.ldexp(x, exponent)
    q = min(pca_dims, d, n)
    with warnings.catch_warnings():
        # Rank-deficient inputs make LDA warn "Variables are collinear" and PCA divide 0/0 in its
        # variance ratios (unused here); both are expected on such data and handled below.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        # random_state only matters if PCA's "auto" policy picks the randomized solver (large N and D);
        # every deterministic solver ignores it, so parity with the reference's call is untouched.
        pca = PCA(n_components=q, random_state=0)
        z = pca.fit_transform(x)
        top = pca.explained_variance_[:_TOP_VARIANCES].sum()
        if exponent:
            with np.errstate(over="ignore", under="ignore"):
                top = np.ldexp(top, -2 * exponent)
        shrinkage = max(float(np.exp(-top)), _SHRINKAGE_FLOOR)
        _check_spread(z, y, c)
        if shrinkage == _SHRINKAGE_FLOOR:
            lda = LinearDiscriminantAnalysis(solver="svd")
            solver = "svd"
        else:
            lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage=shrinkage)
            solver = "eigen"
        low = lda.fit_transform(z, y)  # (N, min(C-1, q))
        probs = lda.predict_proba(z)  # (N, C)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(probs))):
        raise NumericalError("NCTI's LDA produced non-finite projections or posteriors", scorer="ncti")
    low = low - low.mean(axis=0, keepdims=True)
    seli = _nuclear_norm(low) if low.shape[1] > 0 else 0.0
    ncc = float(np.mean(probs[np.arange(n), y]))
    blocks = sum(_nuclear_norm(probs[y == k]) for k in range(c))
    if not blocks > 0:  # every posterior row sums to 1, so this cannot happen short of NaN
        raise NumericalError("NCTI's class posterior blocks are all zero", scorer="ncti")
    vc = math.log(blocks)
    return NCTIComponents(seli=seli, ncc=ncc, vc=vc, pca_dims=q, shrinkage=shrinkage, lda_solver=solver)


@register_scorer(
    "ncti_seli",
    constraints=_CONSTRAINTS,
    min_classes=2,
    min_per_class=1,
    citation=CITATION,
    version="1",
)
def ncti_seli(data: ScoringData, *, pca_dims: int = 64) -> ScoreResult:
    """NCTI's SELI component: nuclear norm of the centred LDA projection (higher = better).

    Args:
        data: validated inputs: ``features`` ``(N, D)``, ``labels`` ``(N,)``.
        pca_dims: PCA dimension before LDA; ``min(pca_dims, D, N)`` components are kept.
    """
    comps = ncti_components(data, pca_dims)
    return ScoreResult(comps.seli, comps.info())


@register_scorer(
    "ncti_ncc",
    constraints=_CONSTRAINTS,
    min_classes=2,
    min_per_class=1,
    citation=CITATION,
    version="1",
)
def ncti_ncc(data: ScoringData, *, pca_dims: int = 64) -> ScoreResult:
    """NCTI's NCC component: mean LDA posterior of the true class, in (0, 1] (higher = better).

    Args:
        data: validated inputs: ``features`` ``(N, D)``, ``labels`` ``(N,)``.
        pca_dims: PCA dimension before LDA; ``min(pca_dims, D, N)`` components are kept.
    """
    comps = ncti_components(data, pca_dims)
    return ScoreResult(comps.ncc, comps.info())


@register_scorer(
    "ncti_vc",
    constraints=_CONSTRAINTS,
    min_classes=2,
    min_per_class=1,
    citation=CITATION,
    version="1",
    higher_is_better=False,
)
def ncti_vc(data: ScoringData, *, pca_dims: int = 64) -> ScoreResult:
    """NCTI's VC component: log Σ_c ‖P_c‖_* of the class posterior blocks (as published: lower = better).

    Reported un-negated, like the reference, because the set-level ``ncti`` subtracts its scaled value;
    registered with ``higher_is_better=False`` so that whatever ranks by it ranks the smallest first.

    Args:
        data: validated inputs: ``features`` ``(N, D)``, ``labels`` ``(N,)``.
        pca_dims: PCA dimension before LDA; ``min(pca_dims, D, N)`` components are kept.
    """
    comps = ncti_components(data, pca_dims)
    return ScoreResult(comps.vc, comps.info())


@register_scorer(
    "ncti",
    kind="set",
    constraints=_CONSTRAINTS,
    min_classes=2,
    min_per_class=1,
    citation=CITATION,
    version="1",
)
def ncti(data: Mapping[str, ScoringData], *, pca_dims: int = 64) -> dict[str, float]:
    """NCTI over a candidate set: min–max scaled ``ncc + seli - vc`` (higher = better).

    Each candidate's three components are computed once (:func:`ncti_components`), each component is
    min–max scaled over the candidates (a component equal for all candidates scales to 0), and
    ``NCTI_m = ncc'_m + seli'_m - vc'_m`` in [-1, 2]. Values are relative to the set.

    Args:
        data: candidate id -> validated inputs (``features`` ``(N, D_m)``; all share ``labels``).
        pca_dims: PCA dimension before LDA, per candidate ``min(pca_dims, D_m, N)``.

    Returns:
        candidate id -> NCTI.
    """
    comps: dict[str, NCTIComponents] = {}
    for name, one in data.items():
        try:
            comps[name] = ncti_components(one, pca_dims)
        except ZoorankError as exc:
            exc.message = f"candidate {name!r}: {exc.message}"
            exc.args = (exc.message,)
            raise
    seli = minmax_scale({k: v.seli for k, v in comps.items()})
    ncc = minmax_scale({k: v.ncc for k, v in comps.items()})
    vc = minmax_scale({k: v.vc for k, v in comps.items()})
    return {k: ncc[k] + seli[k] - vc[k] for k in comps}
