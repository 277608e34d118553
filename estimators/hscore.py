"""H-score and its Ledoit–Wolf shrinkage variant, plus the Gram-matrix helpers shared with TransRate/LogME.

Both scores are traces of ``pinv(cov_f) · cov_g`` (feature covariance against between-class covariance).
Neither needs a ``D×D`` inverse: with one eigendecomposition of the centred Gram matrix the trace is a sum
over eigenpairs, ``Σ_i ‖B v_i‖² / λ_i``, where ``B = diag(1/√n_c) · onehotᵀ · (F − μ)`` (``C×D``) holds the
scaled class-mean offsets. When ``N < D`` the ``N×N`` dual Gram gives the same spectrum more cheaply.

Numerics shared by the Gram-based scorers (:class:`Prepared`, :func:`centred_gram`, ...):

* the features are centred block by block (no ``N×D`` copy when ``N ≥ D``; centring explicitly rather than
  via ``FᵀF − N μμᵀ`` keeps offset-heavy features accurate);
* a constant column is centred with its own value, so it becomes exact zeros (a rounded mean would leave
  a rank-one ghost that dominates when every column is constant);
* features whose magnitude would over/underflow the Gram matrix are multiplied by an exact power of two
  (the scale is put back analytically where a score depends on it);
* eigenvalues below the floating-point noise floor ``max(N, D) · eps · λ_max`` are treated as exactly zero,
  because their eigenvectors are not determined by the data. This is what makes the ``D ≥ N`` collapse of
  the H-score to ``C − 1`` exact; on the reference test vectors the reference never kept such values either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._params import Interval, Options
from estimators._registry import register_scorer

DTYPE_NAMES = {"float64": torch.float64, "float32": torch.float32}
_BLOCK_ELEMENTS = 1 << 22  # rows per block in blocked Gram products: this many elements / D
# Magnitudes (as powers of two) inside which a dtype's Gram matrix can neither overflow nor underflow.
_SAFE_EXPONENT = {torch.float64: 200, torch.float32: 20}


@dataclass(frozen=True)
class Prepared:
    """How to turn raw feature rows into the rows whose Gram matrix is formed.

    Transformed rows are ``(x - shift) / scale`` (no shift when ``shift`` is None); ``scale`` is an exact
    power of two, so the division loses nothing.

    Attributes:
        shift: ``(D,)`` column means (a constant column: its value), or None for uncentred use.
        scale: the power of two the rows are divided by (1.0 when the magnitudes are safe as they are).
    """

    shift: torch.Tensor | None
    scale: float = 1.0

    @property
    def identity(self) -> bool:
        """True when the transformation does nothing."""
        return self.shift is None and self.scale == 1.0

    @property
    def log_scale2(self) -> float:
        """``log(scale²)``: add it to the log of a transformed eigenvalue to get the true one."""
        return 2.0 * math.log(self.scale)

    def apply(self, rows: torch.Tensor) -> torch.Tensor:
        """A transformed copy of ``rows`` (``(..., D)``)."""
        out = rows - self.shift if self.shift is not None else rows.clone()
        if self.scale != 1.0:
            out.mul_(1.0 / self.scale)
        return out


def compute_dtype(dtype: str) -> torch.dtype:
    """The torch dtype of the heavy linear algebra for a scorer's ``dtype`` parameter."""
    return DTYPE_NAMES[dtype]


def prepare(x: torch.Tensor, *, centre: bool) -> Prepared:
    """Column means (if ``centre``) and a power-of-two scale making the Gram of ``x`` (``(N, D)``) safe."""
    lo, hi = (float(v) for v in torch.aminmax(x))
    magnitude = max(abs(lo), abs(hi))
    shift: torch.Tensor | None = None
    spread = magnitude
    if centre:
        shift = x.mean(dim=0)
        width = hi - lo  # bounds every centred value
        spread = width if math.isfinite(width) else magnitude
    scale = 1.0
    if spread > 0.0:
        exponent = math.frexp(spread)[1] - 1  # spread / 2**exponent is in [1, 2)
        if abs(exponent) > _SAFE_EXPONENT[x.dtype]:
            finfo = torch.finfo(x.dtype)
            lowest, highest = math.frexp(finfo.tiny)[1], math.frexp(finfo.max)[1] - 2
            scale = math.ldexp(1.0, min(max(exponent, lowest), highest))
    return Prepared(shift=shift, scale=scale)


_CONSTANT_CANDIDATE = {torch.float64: 1e-6, torch.float32: 1e-3}


def _exact_constant_columns(x: torch.Tensor, prep: Prepared, sq: torch.Tensor) -> Prepared | None:
    """A corrected :class:`Prepared` whose shift centres every constant column of ``x`` to exact zeros.

    A computed mean of a constant column can be off by a rounding error, which leaves a rank-one ghost of
    size ``N (μ δ)²`` in the Gram matrix. Columns whose centred sum of squares ``sq`` (``(D,)``, transformed
    units) is that small are checked exactly (``x[:, j] == x[0, j]``); constant ones get ``x[0, j]`` as shift.
    Returns None when nothing needs fixing (the common case: dead units are all-zero and already exact).
    """
    if prep.shift is None:
        return None
    n = x.shape[0]
    tol = _CONSTANT_CANDIDATE[x.dtype] * prep.shift.abs() / prep.scale
    candidates = torch.nonzero((sq > 0) & (sq <= n * tol * tol)).flatten()
    if candidates.numel() == 0:
        return None
    constant = candidates[(x[:, candidates] == x[:1, candidates]).all(dim=0)]
    if constant.numel() == 0:
        return None
    shift = prep.shift.clone()
    shift[constant] = x[0, constant]
    return Prepared(shift=shift, scale=prep.scale)


def centred_gram(
    x: torch.Tensor, cross: torch.Tensor | None = None, *, row_norms4: bool = False
) -> tuple[Prepared, torch.Tensor, torch.Tensor | None, float]:
    """:func:`blocked_gram` of the centred ``x`` (``N ≥ D`` use), constant columns centred exactly.

    Returns:
        ``(prep, gram (D×D), crossᵀX̃ or None, Σ‖x̃_i‖⁴ or 0.0)``.
    """
    prep = prepare(x, centre=True)
    gram, prod, norms4 = blocked_gram(x, prep, cross, row_norms4=row_norms4)
    fixed = _exact_constant_columns(x, prep, torch.diagonal(gram))
    if fixed is not None:  # rare: recompute with the exact shift
        prep = fixed
        gram, prod, norms4 = blocked_gram(x, prep, cross, row_norms4=row_norms4)
    return prep, gram, prod, norms4


def centred_rows(x: torch.Tensor) -> tuple[Prepared, torch.Tensor]:
    """The centred, scaled rows ``X̃`` (``(N, D)``; dual use when ``N < D``), constant columns exact."""
    prep = prepare(x, centre=True)
    rows = prep.apply(x)
    fixed = _exact_constant_columns(x, prep, (rows * rows).sum(dim=0))
    if fixed is not None:
        prep = fixed
        rows = prep.apply(x)
    return prep, rows


def blocked_gram(
    x: torch.Tensor, prep: Prepared, cross: torch.Tensor | None = None, *, row_norms4: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """``X̃ᵀX̃`` (``D×D``) of the transformed rows, built block by block without an ``N×D`` copy.

    Args:
        x: ``(N, D)`` raw features.
        prep: the transformation (see :class:`Prepared`).
        cross: optional ``(N, K)`` matrix; its product ``crossᵀ X̃`` (``K×D``) is accumulated in the same pass.
        row_norms4: also return ``Σ_i ‖x̃_i‖⁴`` (Ledoit–Wolf needs it).

    Returns:
        ``(gram, crossᵀX̃ or None, Σ‖x̃_i‖⁴ or 0.0)``.
    """
    n, d = x.shape
    if prep.identity:  # fast path: nothing to transform
        gram = x.T @ x
        prod = cross.T @ x if cross is not None else None
        norms = float(((x * x).sum(dim=1) ** 2).sum()) if row_norms4 else 0.0
        return gram, prod, norms
    block = max(1, _BLOCK_ELEMENTS // max(d, 1))
    gram = x.new_zeros(d, d)
    prod = x.new_zeros(cross.shape[1], d) if cross is not None else None
    norms4 = x.new_zeros((), dtype=torch.float64)
    for start in range(0, n, block):
        rows = prep.apply(x[start : start + block])
        gram.addmm_(rows.T, rows)
        if prod is not None and cross is not None:
            prod.addmm_(cross[start : start + block].T, rows)
        if row_norms4:
            norms4 += ((rows * rows).sum(dim=1).to(torch.float64) ** 2).sum()
    return gram, prod, float(norms4)


def noise_floor(top: float, n: int, d: int, dtype: torch.dtype) -> float:
    """Eigenvalues of an ``n``-sample, ``d``-dim Gram matrix at or below this are rounding noise."""
    return max(n, d) * torch.finfo(dtype).eps * top


def _class_offsets_dual(onehot: torch.Tensor, counts: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``E_cᵀ U`` (``C×N``) where ``E_c`` = column-centred one-hot divided by ``√n_c`` (dual of ``B V``)."""
    n = onehot.shape[0]
    cnt = counts.to(u.dtype)
    proj = onehot.T @ u - (cnt[:, None] / n) * u.sum(dim=0, keepdim=True)
    return proj / cnt.sqrt()[:, None]


@dataclass(frozen=True)
class _HSpectrum:
    """Eigenvalues ``lam`` (float64, transformed units, noise zeroed) of the centred Gram matrix and the
    squared between-class projections ``proj2[i] = ‖B v_i‖²`` in the same units (float64)."""

    lam: torch.Tensor
    proj2: torch.Tensor
    trace: float
    frob2: float
    norms4: float


def _h_spectrum(data: ScoringData, dtype: torch.dtype, *, lw_stats: bool) -> _HSpectrum:
    x = data.x.to(dtype)
    n, d = x.shape
    onehot = data.onehot.to(dtype)
    if n >= d:
        _, gram, sums, norms4 = centred_gram(x, onehot, row_norms4=lw_stats)
        assert sums is not None
        lam, vec = torch.linalg.eigh(gram)
        b = sums / data.counts.to(dtype).sqrt()[:, None]  # (C, D): √n_c (μ_c − μ)
        proj2 = ((b @ vec) ** 2).sum(dim=0).to(torch.float64)
    else:
        _, xt = centred_rows(x)
        gram = xt @ xt.T
        norms4 = float(((xt * xt).sum(dim=1).to(torch.float64) ** 2).sum()) if lw_stats else 0.0
        lam, vec = torch.linalg.eigh(gram)
        # ‖B v_i‖² = λ_i ‖E_cᵀ u_i‖² for the dual eigenvectors u_i.
        proj2 = (_class_offsets_dual(onehot, data.counts, vec) ** 2).sum(dim=0).to(torch.float64)
        proj2 = proj2 * lam.to(torch.float64).clamp_min(0.0)
    lam64 = lam.to(torch.float64)
    top = float(lam64.max())
    null = lam64 <= noise_floor(top, n, d, dtype)
    lam64 = torch.where(null, torch.zeros_like(lam64), lam64)
    proj2 = torch.where(null, torch.zeros_like(proj2), proj2)
    trace = float(torch.diagonal(gram).to(torch.float64).sum()) if lw_stats else 0.0
    frob2 = float((gram.to(torch.float64) ** 2).sum()) if lw_stats else 0.0
    return _HSpectrum(lam=lam64, proj2=proj2, trace=trace, frob2=frob2, norms4=norms4)


_DTYPE = Options(("float64", "float32"))


@register_scorer(
    "hscore",
    needs=("features", "labels"),
    constraints={"rcond": Interval(0.0, 1.0, closed="left"), "dtype": _DTYPE},
    citation=(
        "Bao, Li, Huang, Zheng, Zhang, Tong. An Information-Theoretic Approach to Transferability in Task "
        "Transfer Learning. ICIP 2019."
    ),
    version="1",
    min_classes=2,
    min_per_class=1,
)
def hscore(data: ScoringData, *, rcond: float = 1e-15, dtype: str = "float64") -> ScoreResult:
    """H-score: ``tr(pinv(cov_f) · cov_g)``, how much of the feature variance separates the classes.

    ``cov_f`` is the unbiased ``(D, D)`` covariance of the features ``(N, D)``; ``cov_g`` that of the
    features with every row replaced by its class mean (tllib ``h_score``). Computed as
    ``Σ_i ‖B v_i‖² / λ_i`` over the eigenpairs of the centred Gram matrix whose eigenvalue exceeds
    ``rcond · λ_max`` (numpy's ``pinv`` cut) and the noise floor. Bounded by ``0 ≤ H ≤ C − 1``, equal to
    ``C − 1`` when the centred features have full row rank (``D ≥ N``), invariant to invertible linear maps
    of the features. Cost O(N·D² + D³) (``N ≥ D``) or O(N²·D + N³); memory O(D² + C·D).

    Args:
        data: validated features ``(N, D)`` and labels ``(N,)``.
        rcond: relative cut-off of the pseudo-inverse.
        dtype: compute dtype of the Gram matrix and eigendecomposition. With ``"float32"`` the noise floor
            is ``max(N, D) · 1.2e-7 · λ_max``, so directions of smaller variance are left out of the
            pseudo-inverse (their float32 eigenvectors are not reliable).

    Returns:
        The score; ``info["rank"]`` is the number of eigen-directions kept.
    """
    spec = _h_spectrum(data, compute_dtype(dtype), lw_stats=False)
    top = float(spec.lam.max())
    if top <= 0.0:  # every feature constant: pinv(0) = 0
        return ScoreResult(0.0, {"rank": 0})
    keep = spec.lam > rcond * top
    value = (spec.proj2[keep] / spec.lam[keep]).sum()
    return ScoreResult(float(value), {"rank": int(keep.sum())})


def ledoit_wolf_shrinkage(trace: float, frob2: float, norms4: float, n: int, d: int) -> float:
    """Ledoit–Wolf shrinkage of centred data from its Gram statistics (scikit-learn's formula).

    Args:
        trace: ``tr(X̃ᵀX̃) = Σ_i ‖x̃_i‖²``.
        frob2: ``‖X̃ᵀX̃‖_F²``.
        norms4: ``Σ_i ‖x̃_i‖⁴``.
        n, d: samples and features.

    Returns:
        The shrinkage in ``[0, 1]`` (0 for ``d == 1``, as scikit-learn).
    """
    if d == 1:
        return 0.0
    mu = trace / n / d
    emp_frob2 = frob2 / n**2
    beta = (norms4 / n - emp_frob2) / (d * n)
    delta = (emp_frob2 - 2.0 * mu * (trace / n) + d * mu**2) / d
    beta = min(beta, delta)
    if beta <= 0.0 or delta <= 0.0:
        return 0.0
    return min(beta / delta, 1.0)


@register_scorer(
    "hscore_shrinkage",
    needs=("features", "labels"),
    constraints={"rcond": Interval(0.0, 1.0, closed="left"), "dtype": _DTYPE},
    citation=(
        "Ibrahim, Ponomareva, Mazumder. Newer is not always better: Rethinking transferability metrics, "
        "their peculiarities, stability and performance. ECML-PKDD 2022."
    ),
    version="1",
    min_classes=2,
    min_per_class=1,
)
def hscore_shrinkage(data: ScoringData, *, rcond: float = 1e-15, dtype: str = "float64") -> ScoreResult:
    """Regularised H-score: ``tr(pinv(cov_α) · (1 − α) cov_g)`` with a Ledoit–Wolf shrunk covariance.

    ``cov_α = (1 − α) S/N + α μ I`` with ``S`` the centred scatter of the features ``(N, D)``,
    ``μ = tr(S)/(N D)`` and ``α`` the Ledoit–Wolf shrinkage (scikit-learn ``LedoitWolf``, computed here in
    torch from the same Gram matrix); ``cov_g`` as in :func:`hscore` (tllib ``regularized_h_score``). The
    shrinkage keeps the inverse well conditioned when ``D`` approaches ``N``. Scale invariant;
    ``H_α ≤ H · N/(N−1)``. Cost and memory as :func:`hscore`.

    Args:
        data: validated features ``(N, D)`` and labels ``(N,)``.
        rcond: relative cut-off of the pseudo-inverse of ``cov_α``.
        dtype: compute dtype of the Gram matrix and eigendecomposition (see :func:`hscore`).

    Returns:
        The score; ``info["shrinkage"]`` is α.
    """
    x_dtype = compute_dtype(dtype)
    spec = _h_spectrum(data, x_dtype, lw_stats=True)
    n, d = data.x.shape
    alpha = ledoit_wolf_shrinkage(spec.trace, spec.frob2, spec.norms4, n, d)
    mu = spec.trace / n / d
    if spec.trace <= 0.0:  # every feature constant: cov_α = 0, pinv = 0
        return ScoreResult(0.0, {"shrinkage": alpha})
    eig = (1.0 - alpha) * spec.lam / n + alpha * mu
    top = max(float(eig.max()), alpha * mu)  # implicit null eigenvalues (dual, D > N) equal α μ
    keep = eig > rcond * top
    value = (1.0 - alpha) / (n - 1) * (spec.proj2[keep] / eig[keep]).sum()
    return ScoreResult(float(value), {"shrinkage": alpha})
