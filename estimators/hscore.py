"""H-score and its Ledoit–Wolf shrinkage variant (Gram numerics in :mod:`estimators._linalg`).

Both scores are traces of ``pinv(cov_f) · cov_g`` (feature covariance against between-class covariance).
Neither needs a ``D×D`` inverse: with one eigendecomposition of the centred Gram matrix the trace is a sum
over eigenpairs, ``Σ_i ‖B v_i‖² / λ_i``, where ``B = diag(1/√n_c) · onehotᵀ · (F − μ)`` (``C×D``) holds the
scaled class-mean offsets. When ``N < D`` the ``N×N`` dual Gram gives the same spectrum more cheaply.

"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._linalg import centred_gram, centred_rows, compute_dtype, noise_floor
from estimators._params import Interval, Options
from estimators._registry import register_scorer


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
