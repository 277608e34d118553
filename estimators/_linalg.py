"""Gram-matrix numerics shared by the Gram-based scorers (H-score, LogME, TransRate, ridge_loo).

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

    def apply_(self, rows: torch.Tensor) -> torch.Tensor:
        """Transform ``rows`` (``(..., D)``, a private copy) in place and return it."""
        if self.shift is not None:
            rows.sub_(self.shift)
        if self.scale != 1.0:
            rows.mul_(1.0 / self.scale)
        return rows


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


def blocked_rows_product(x: torch.Tensor, prep: Prepared, w: torch.Tensor) -> torch.Tensor:
    """``X̃ W`` (``(N, K)``) of the transformed rows of ``x`` (``(N, D)``) and ``w`` (``(D, K)``).

    Built block by block, like :func:`blocked_gram`, so the transformed ``N×D`` copy of ``x`` never exists.
    """
    n, d = x.shape
    out = x.new_empty(n, w.shape[1])
    block = max(1, _BLOCK_ELEMENTS // max(d, 1))
    for start in range(0, n, block):
        torch.matmul(prep.apply(x[start : start + block]), w, out=out[start : start + block])
    return out


def noise_floor(top: float, n: int, d: int, dtype: torch.dtype) -> float:
    """Eigenvalues of an ``n``-sample, ``d``-dim Gram matrix at or below this are rounding noise."""
    return max(n, d) * torch.finfo(dtype).eps * top


def class_sums(values: torch.Tensor, codes: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Row sums of ``values`` grouped by class: ``out[c] = Σ_{i: codes_i = c} values[i]``.

    Args:
        values: ``(N, K)`` float tensor.
        codes: ``(N,)`` int64 class codes in ``0..num_classes-1``.
        num_classes: C.

    Returns:
        ``(C, K)`` tensor in the dtype and on the device of ``values``.

    ``index_add_`` is O(N·K) but uses atomics (non-deterministic summation order) on CUDA; there a
    one-hot matrix product, deterministic and fast on the GPU, is used instead.
    """
    if values.is_cuda:
        onehot = torch.zeros(codes.shape[0], num_classes, dtype=values.dtype, device=values.device)
        onehot[torch.arange(codes.shape[0], device=values.device), codes] = 1
        return onehot.T @ values
    out = torch.zeros(num_classes, values.shape[1], dtype=values.dtype, device=values.device)
    return out.index_add_(0, codes, values)
