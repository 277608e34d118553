"""SFDA: Self-challenging Fisher Discriminant Analysis (Shao et al., ECCV 2022).

The reference (``TencentARC/SFDA/metrics.py::SFDA_Score``) fits a regularised Fisher discriminant, keeps all
D generalised eigenvectors U of ``(S_b, S̃_w)`` and classifies with ``coef = M U Uᵀ``. Because those
eigenvectors are S̃_w-orthonormal, ``U Uᵀ = S̃_w⁻¹`` exactly, so each stage is plain LDA with the shrunk
within-class covariance S̃_w. This module implements it in that form: one Cholesky
factorisation of S̃_w per stage instead of a generalised eigen-solve, with no N×N or C×C×D arrays. It runs
on whatever device the features live on.

Pipeline, with N samples, D features and C classes:

1. Stage 1. Class means ``M`` (C, D), within-class scatter ``S_w = Σ_c π_c Cov_c`` (D, D) with population
   covariances, shrinkage ``λ = max(exp(-5·λ_max(S_w)), 1e-10)`` where λ_max comes from three rounds of power
   iteration started at the row sums of S_w, ``S̃_w = (1-λ)·S_w + λ·(tr S_w / D)·I``, and posteriors
   ``p(c|x) = softmax_c(xᵀS̃_w⁻¹μ_c - ½μ_cᵀS̃_w⁻¹μ_c + log π_c)`` (N, C).
2. ConfMix. Softmax is applied a second time to the posteriors. Each sample moves towards the unweighted mean
   ν_y of the other classes' means: ``x̃ = w·x + (1-w)·ν_y`` with w its twice-softmaxed true-class probability.
3. Stage 2. The same LDA (same λ) on x̃. The score is the mean true-class posterior (no log), in (0, 1].

Everything is written in terms of the within-class deviations ``Z = X - M[y]`` (N, D), the one large array
besides the features. The logits use ``x - m = z + (μ_y - m)``, which avoids the cancellation of a large
common offset without a centred copy of X. ConfMix is applied to Z in place: the mixed deviations are
``w·z - mean_y(w·z) + (w - mean_y(w))·(μ_y - ν_y)``. A scorer call therefore streams over N×D data about
ten times, plus the two ``ZᵀZ`` products.

Reference numbers are reproduced to ~1e-12 (tests/data/testvectors). Two guards, absent from the
reference, make the scorer total. Inputs whose classes each hold identical rows have no within-class scatter:
they raise :class:`DegenerateInputError`. A power iteration started at a zero row-sum vector falls back to the
exact largest eigenvalue, where the reference would return NaN.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from scipy.linalg import blas

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._linalg import class_sums
from estimators._params import Options
from estimators._registry import register_scorer
from estimators.errors import DegenerateInputError

__all__ = ["sfda"]

# exp(-a·λ_max) with a = 5: the code's rule (the paper text differs).
_SHRINK_RATE = 5.0
_SHRINK_FLOOR = 1e-10
_POWER_ROUNDS = 3

_Solver = Literal["cholesky", "eigh"]


def scale_to_range(x: torch.Tensor) -> tuple[torch.Tensor, int, float]:
    """Divide ``x`` by a power of two where its squares could leave the floating-point range.

    Everything in SFDA except λ is invariant to a global rescaling of the features, and λ only needs λ_max in
    the original units (λ_max scales with 4^e). Scaling by a power of two is exact. It is applied in float32
    (squares of 1e30 overflow there) and in float64 only beyond ~1e±75, so typical float64 input is used as is
    (no copy).

    Args:
        x: ``(N, D)`` features.

    Returns:
        ``(x', e, peak)`` with ``x = x'·2^e`` and ``peak = max |x'|``.
    """
    lo, hi = torch.aminmax(x)
    peak = max(-float(lo), float(hi))
    if peak == 0.0:
        return x, 0, peak
    mantissa, e = math.frexp(peak)
    if x.dtype == torch.float64 and abs(e) <= 250:
        return x, 0, peak
    # Two factors: 2^(-e) alone over/underflows for features near the ends of the float range.
    half = e // 2
    return (x * 2.0 ** (-half)).mul_(2.0 ** (-(e - half))), e, mantissa


def gram(z: torch.Tensor) -> torch.Tensor:
    """``zᵀz`` (D, D) for ``z`` (N, D).

    On CPU this uses BLAS ``syrk`` on a zero-copy transposed view. syrk computes one triangle, half the
    flops of a general product, and the two ``zᵀz`` products dominate SFDA's cost. Other devices use a
    plain matmul.
    """
    if z.device.type != "cpu" or not z.is_contiguous() or z.dtype not in (torch.float64, torch.float32):
        return z.T @ z
    a = z.detach().numpy()
    syrk = blas.dsyrk if a.dtype == np.float64 else blas.ssyrk
    upper = torch.from_numpy(syrk(1.0, a.T, trans=0, lower=0))
    return torch.triu(upper) + torch.triu(upper, diagonal=1).T


def within_class(
    x: torch.Tensor, codes: torch.Tensor, onehot: torch.Tensor, counts: torch.Tensor, peak: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class means, within-class deviations and the scatter ``S_w = Σ_c π_c Cov_c = ZᵀZ / N``.

    ``S_w`` is positive semi-definite by construction (population covariances). A within-class spread at
    the rounding level of the class means triggers a slower exact path. There each class is taken relative
    to its first sample, so a class of identical rows has exactly zero deviations, and ``tr S_w == 0`` holds
    exactly when every class consists of identical rows.

    Args:
        x: ``(N, D)`` features.
        codes: ``(N,)`` class codes 0..C-1.
        onehot: ``(N, C)`` one-hot codes in the dtype of ``x``.
        counts: ``(C,)`` samples per class (all ≥ 1).
        peak: ``max |x|``, which sets the rounding level of the class means.

    Returns:
        ``(means, z, sw)`` of shapes ``(C, D)``, ``(N, D)`` (a new array) and ``(D, D)``.
    """
    n, dim = x.shape
    size = counts.to(x.dtype)[:, None]
    means = class_sums(x, codes, onehot.shape[1]) / size
    z = torch.addmm(x, onehot, means, alpha=-1.0)  # X - M[y] in one fused pass
    sw = gram(z) / n
    # Worst-case rounding of a sequentially accumulated class mean, per entry.
    noise = 4.0 * n * torch.finfo(x.dtype).eps * peak
    if float(torch.trace(sw)) > dim * noise * noise:
        return means, z, sw
    first = torch.full((counts.shape[0],), n, dtype=torch.int64, device=x.device)
    first = first.scatter_reduce(0, codes, torch.arange(n, device=x.device), reduce="amin")
    anchor = x[first]
    z = x - anchor[codes]
    offset = class_sums(z, codes, onehot.shape[1]) / size
    z -= offset[codes]
    return anchor + offset, z, gram(z) / n


def power_lambda_max(sw: torch.Tensor, rounds: int = _POWER_ROUNDS) -> float:
    """SFDA's estimate of the largest eigenvalue of ``sw`` (D, D).

    Power iteration started at the row sums. Each round does two normalised mat-vecs, and the result is
    ``xᵀ S y`` from the last round, as in the reference. When the start vector (or an iterate) vanishes,
    as for ``S = [[1, -1], [-1, 1]]``, the reference returns NaN. We return the exact largest eigenvalue.
    """
    v = sw.sum(dim=1)
    y = v
    for _ in range(rounds):
        t = sw @ v
        nt = torch.linalg.vector_norm(t)
        if not float(nt) > 0.0:
            return float(torch.linalg.eigvalsh(sw)[-1])
        y = t / nt
        t = sw @ y
        nt = torch.linalg.vector_norm(t)
        if not float(nt) > 0.0:
            return float(torch.linalg.eigvalsh(sw)[-1])
        v = t / nt
    return float(v @ (sw @ y))


def shrinkage_from_lambda_max(lmax_scaled: float, exponent: int) -> float:
    """λ = max(exp(-5·λ_max), 1e-10) for ``λ_max = lmax_scaled · 4^exponent``, without overflow.

    Clamped to at most 1: λ_max is never negative in exact arithmetic, but rounding can make it slightly so.
    """
    try:
        lmax = math.ldexp(lmax_scaled, 2 * exponent)
    except OverflowError:
        return _SHRINK_FLOOR
    if not lmax > 0.0:
        return 1.0
    return max(math.exp(-_SHRINK_RATE * lmax), _SHRINK_FLOOR)


def shrunk_lda_logits(
    z: torch.Tensor,
    means: torch.Tensor,
    sw: torch.Tensor,
    priors: torch.Tensor,
    codes: torch.Tensor,
    shrinkage: float,
) -> tuple[torch.Tensor, _Solver]:
    """LDA logits of the training samples with the shrunk covariance ``S̃ = (1-λ)·S_w + λ·(tr S_w / D)·I``.

    ``logits[i, c] = (x_i - m)ᵀ S̃⁻¹ (μ_c - m) - ½ (μ_c - m)ᵀ S̃⁻¹ (μ_c - m) + log π_c`` with m the mean of the
    class means. This differs from the textbook ``x_iᵀS̃⁻¹μ_c - ½μ_cᵀS̃⁻¹μ_c + log π_c`` by a per-sample
    constant, so the posteriors are the same. ``x_i - m`` is formed as ``z_i + (μ_{y_i} - m)``. One Cholesky
    factorisation of S̃ is used. If it fails in floating point (a nearly singular S_w at λ = 1e-10, most
    often in float32), one eigendecomposition of S_w is used instead, with rounding-negative eigenvalues
    clamped to zero.

    Args:
        z: ``(N, D)`` within-class deviations ``x_i - μ_{y_i}``.
        means: ``(C, D)`` class means.
        sw: ``(D, D)`` within-class scatter with ``tr sw > 0``.
        priors: ``(C,)`` class priors.
        codes: ``(N,)`` class codes.
        shrinkage: λ in [1e-10, 1].

    Returns:
        ``(logits (N, C), solver used)``.
    """
    dim = sw.shape[0]
    ridge = shrinkage * float(torch.trace(sw)) / dim
    centred = means - means.mean(dim=0, keepdim=True)
    shrunk = (1.0 - shrinkage) * sw
    shrunk.diagonal().add_(ridge)
    chol, info = torch.linalg.cholesky_ex(shrunk)
    del shrunk
    solver: _Solver
    if int(info) == 0:
        coef = torch.cholesky_solve(centred.T.contiguous(), chol)  # (D, C) = S̃⁻¹ (M - m)ᵀ
        solver = "cholesky"
    else:
        evals, evecs = torch.linalg.eigh(sw)
        inv = 1.0 / ((1.0 - shrinkage) * evals.clamp_min(0.0) + ridge)
        coef = evecs @ (inv[:, None] * (evecs.T @ centred.T))
        solver = "eigh"
    between = centred @ coef  # (C, C)
    bias = -0.5 * between.diagonal() + torch.log(priors)
    return (z @ coef).add_(between[codes]).add_(bias), solver


def confmix_deviations(
    z: torch.Tensor,
    means: torch.Tensor,
    w: torch.Tensor,
    codes: torch.Tensor,
    onehot: torch.Tensor,
    counts: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class means and within-class deviations of the ConfMix features ``x̃ = ν_y + w·(x - ν_y)``.

    With ``δ_c = μ_c - ν_c`` and ``x - ν_y = z + δ_y``, the class means are
    ``ν_c + mean_c(w·z) + mean_c(w)·δ_c`` and the deviations ``w·z - mean_y(w·z) + (w - mean_y(w))·δ_y``.
    ``z`` is overwritten with them, so X̃ is never formed.

    Args:
        z: ``(N, D)`` within-class deviations of the features (consumed).
        means: ``(C, D)`` class means of the features.
        w: ``(N, 1)`` mixing weights in (0, 1).
        codes, onehot, counts: class codes ``(N,)``, one-hot ``(N, C)``, sizes ``(C,)``.

    Returns:
        ``(means, z)`` of the mixed features, ``(C, D)`` and ``(N, D)``.
    """
    num_classes = means.shape[0]
    size = counts.to(z.dtype)[:, None]
    outer = (means.sum(dim=0, keepdim=True) - means) / (num_classes - 1)  # ν_c: mean of the other classes
    delta = means - outer
    u = z.mul_(w)
    u_mean = class_sums(u, codes, onehot.shape[1]) / size
    w_mean = (onehot.T @ w) / size
    lift = onehot * (w - w_mean[codes])  # (N, C): row i holds w_i - mean_{y_i}(w) in column y_i
    u.addmm_(torch.cat([onehot, lift], dim=1), torch.cat([-u_mean, delta], dim=0))
    return outer + u_mean + w_mean * delta, u


@register_scorer(
    "sfda",
    needs=("features", "labels"),
    constraints={"dtype": Options(("float64", "float32"))},
    citation=(
        "Shao, Zhao, Ge, Li, Wang, Luo. Not All Models Are Equal: Predicting Model Transferability in a "
        "Self-challenging Fisher Space. ECCV 2022."
    ),
    version="1",
    min_classes=2,
    min_per_class=1,
)
def sfda(data: ScoringData, *, dtype: str = "float64") -> ScoreResult:
    """SFDA score: mean true-class posterior of a shrunk LDA refitted on ConfMix-challenged features.

    Shapes: features ``(N, D)``, labels ``(N,)`` with C ≥ 2 classes. Cost: two ``(D, D)`` scatter products
    O(N·D²), two Cholesky factorisations O(D³) and O(N·D·C) for means and posteriors. Memory is
    O(N·D + D² + N·C).

    Args:
        data: validated features and labels.
        dtype: compute dtype (``"float64"``, or ``"float32"`` for speed on GPUs). The validation gate casts
            the features to it.

    Returns:
        The score in (0, 1], with ``info``: ``stage1_shrinkage`` (λ), ``lambda_max`` (power-iteration
        estimate of λ_max(S_w) in feature units², None beyond the float range) and ``solver``
        (``cholesky``, or ``eigh`` after a failed factorisation).

    Raises:
        DegenerateInputError: every class consists of identical rows (no within-class scatter), e.g.
            one sample per class or constant features.
    """
    del dtype  # applied by the validation gate
    codes, onehot, counts, priors = data.codes, data.onehot, data.counts, data.priors
    x, exponent, peak = scale_to_range(data.x)

    means, z, sw = within_class(x, codes, onehot, counts, peak)
    if not float(torch.trace(sw)) > 0.0:
        raise DegenerateInputError(
            "sfda: every class consists of identical feature rows (no within-class scatter); the LDA "
            "posterior is undefined",
            param="features",
        )
    lmax_scaled = power_lambda_max(sw)
    lam = shrinkage_from_lambda_max(lmax_scaled, exponent)
    logits, solver1 = shrunk_lda_logits(z, means, sw, priors, codes, lam)
    del sw

    # ConfMix: soften the posteriors with a second softmax, then pull each sample towards the mean of the
    # other classes' means in proportion to how unsure the stage-1 classifier is about it.
    soft = torch.softmax(torch.softmax(logits, dim=1), dim=1)
    w = soft.gather(1, codes[:, None])
    means2, z2 = confmix_deviations(z, means, w, codes, onehot, counts)
    sw2 = gram(z2) / data.n
    if not float(torch.trace(sw2)) > 0.0:
        raise DegenerateInputError(
            "sfda: the ConfMix features have no within-class scatter; the stage-2 posterior is undefined",
            param="features",
        )
    logits2, solver2 = shrunk_lda_logits(z2, means2, sw2, priors, codes, lam)
    log_post = torch.log_softmax(logits2, dim=1).gather(1, codes[:, None])
    value = float(torch.exp(log_post).sum()) / data.n
    try:
        lmax: float | None = math.ldexp(lmax_scaled, 2 * exponent)
    except OverflowError:
        lmax = None  # beyond the float range; λ sits on its floor
    solver = "cholesky" if solver1 == solver2 == "cholesky" else "eigh"
    return ScoreResult(value, {"stage1_shrinkage": lam, "lambda_max": lmax, "solver": solver})
