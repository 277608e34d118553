"""ridge_loo: the leave-one-out accuracy of a ridge (least-squares) linear probe, in closed form.

A linear probe's held-out accuracy is the transferability estimate closest to what a linear-probe user
gets, but ``probe_cv`` pays for it with ``folds · (inner_folds · num_c + 1)`` iterative logistic fits,
which do not finish in minutes at ``N = 10⁴, D = 2·10³, C = 100``. A ridge classifier (least squares on
one-hot targets) is a linear smoother: its fitted values are ``Ŷ = H(λ) Y`` for a hat matrix ``H(λ)``
that does not depend on the labels, and for such a fit the prediction for sample ``i`` of the model
refitted without ``i`` is exact in closed form (the Sherman–Morrison identity for penalised least
squares):

    ŷ₍ᵢ₎ = (ŷᵢ − hᵢᵢ yᵢ) / (1 − hᵢᵢ)

So one eigendecomposition gives all ``N`` leave-one-out (LOO) fits, for a whole path of penalties.

Model (float64 throughout):

1. **Standardise** the features ``F`` (``(N, D)``) with the mean and population standard deviation over
   all N samples (label-free, as ``probe_cv``); constant columns become 0. The score is invariant to
   per-column affine maps of the features. The LOO fits keep these statistics (they hold no labels).
2. **Ridge with an unpenalised intercept** on the one-hot targets ``Y`` (``(N, C)``): minimise
   ``Σᵢ ‖yᵢ − b − Wᵀxᵢ‖² + λ ‖W‖²`` with ``λ = α N`` (mean squared error + ``α ‖W‖²`` on unit-variance
   columns). With ``X`` the centred standardised features, ``H(λ) = 11ᵀ/N + X (XᵀX + λI)⁻¹ Xᵀ``.
3. **One eigendecomposition.** When ``N ≥ D``: ``XᵀX = V diag(s) Vᵀ`` (``D×D``), ``Q = X V`` (``(N, D)``),
   ``Ŷ(λ) = ȳ + Q diag(1/(s + λ)) QᵀY`` and ``hᵢᵢ(λ) = 1/N + Σⱼ Qᵢⱼ² / (sⱼ + λ)``. When ``N < D``: the
   dual ``XXᵀ = U diag(s) Uᵀ`` (``N×N``, complete basis), ``Ŷ(λ) = ȳ + U diag(s/(s + λ)) UᵀYc`` and
   ``1 − hᵢᵢ(λ) = Σⱼ Uᵢⱼ² λ/(sⱼ + λ) − 1/N``, a sum of positive terms (no cancellation when the fit
   nearly interpolates, the usual case for ``D > N``). Eigenvalues under the noise floor are zero.
   ``1 − hᵢᵢ ≥ (1 − 1/N) λ/(s_max + λ) > 0`` for ``λ > 0``; the computed value is held to that bound, so
   the LOO division is always finite.
4. **Penalty path and choice.** ``α`` runs over ``num_alpha`` log-spaced values from ``alpha_min`` to
   ``alpha_max``. Each sample is predicted at the ``α`` that minimises the LOO squared error (PRESS,
   ``Σⱼ ‖yⱼ − ŷ₍ⱼ₎‖²``) summed over the *other* samples; exact ties go to the larger ``α``. Squared error
   rather than accuracy: it is smooth in ``α`` and does not tie (``probe_cv`` chooses C by log-loss for
   the same reason). The sample's own held-out error never chooses its penalty, so the score is not the
   optimistic maximum over the path; what remains is that sample ``i`` is a training sample of the other
   samples' LOO fits, a one-sample influence on one scalar. ``info["path_accuracy"]`` reports the LOO
   accuracy at every ``α``, so the optimistic figure (its maximum) can be compared. At very large ``α``
   every fit predicts the class frequencies, whose LOO value for a sample's own class is one sample short,
   so the path's accuracy collapses there; PRESS rises with it and such ``α`` are not chosen.
5. **Accuracy.** Sample ``i`` is right when its class has the largest LOO prediction. A tie between k
   classes (within ``1e-9`` of the row's scale), its own among them, counts ``1/k``: the expected accuracy
   of a random tie-break, which keeps the score independent of class ids and sample order even for
   constant features.

Cost: the Gram matrix and one eigendecomposition (as H-score), one more ``N×D×D`` product for ``Q``,
``N·D·C·num_alpha`` for the path's predictions; memory O(N·D + D² + N·C·num_alpha). The dual costs
``N²·D + N³ + N²·C·num_alpha``. H-score is invariant to invertible maps of the features, so the same
decomposition also gives it exactly; ``info["hscore"]`` carries it, and a caller that needs both (the
``(ridge_loo, hscore)`` pair) pays for one decomposition.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from estimators._api import PER_SAMPLE, ScoreResult
from estimators._data import ScoringData
from estimators._linalg import blocked_rows_product, centred_gram, centred_rows, noise_floor
from estimators._params import Interval
from estimators._registry import register_scorer
from estimators.errors import InvalidParameterError, NumericalError

__all__ = ["loo_predictions", "ridge_loo"]

_F64 = torch.float64
_PATH_ELEMENTS = 1 << 23  # LOO predictions held at once: N · C · (penalties per chunk) float64 values
_TIE_RTOL = 1e-9  # classes whose LOO predictions differ by less (relative to the row's scale) tie


@dataclass(frozen=True)
class _Spectrum:
    """One eigendecomposition of the standardised, centred features, in the form the LOO path reads.

    Attributes:
        s: ``(m,)`` float64 eigenvalues, noise-level ones set to exactly zero.
        basis: ``(N, m)`` ``Q = X V`` (primal, ``m = D``) or the dual eigenvectors ``U`` (``m = N``).
        proj: ``(m, C)`` ``QᵀY`` (primal) or ``UᵀYc`` (dual).
        primal: which of the two forms ``basis`` and ``proj`` hold.
    """

    s: torch.Tensor
    basis: torch.Tensor
    proj: torch.Tensor
    primal: bool

    @property
    def rank(self) -> int:
        """Number of eigenvalues above the noise floor."""
        return int((self.s > 0).sum())

    def hscore(self, counts: torch.Tensor) -> float:
        """The H-score ``Σⱼ ‖B vⱼ‖² / sⱼ`` of the same features from this decomposition (no extra pass).

        H-score is invariant to invertible maps of the features, so the standardised spectrum gives it as
        well as the raw one: ``‖B vⱼ‖² = Σ_c projⱼ_c² / n_c`` in both forms (``counts``: ``(C,)`` the
        ``n_c``), summed over the eigenvalues above the noise floor.
        """
        live = self.s > 0
        between = (self.proj[live] ** 2 / counts.to(_F64)[None, :]).sum(dim=1)
        return float((between / self.s[live]).sum()) if self.primal else float(between.sum())


def _inverse_std(var: torch.Tensor) -> torch.Tensor:
    """``(D,)`` ``1/σ`` of the columns with positive variance ``var``, 0 for constant columns."""
    live = var > 0
    inv = torch.where(live, var.clamp_min(torch.finfo(_F64).tiny).rsqrt(), torch.zeros_like(var))
    if not bool(torch.isfinite(inv).all()):
        raise NumericalError("ridge_loo: a feature's standard deviation is not representable")
    return inv


def _floored(s: torch.Tensor, n: int, d: int) -> torch.Tensor:
    s = s.clamp_min(0.0)
    top = float(s.max()) if s.numel() else 0.0
    return torch.where(s <= noise_floor(top, n, d, _F64), torch.zeros_like(s), s)


def _spectrum(x: torch.Tensor, onehot: torch.Tensor) -> _Spectrum:
    """Eigendecomposition of the standardised features ``x`` (``(N, D)``) and the projected one-hot targets
    ``onehot`` (``(N, C)``): ``D×D`` covariance when ``N ≥ D``, ``N×N`` Gram otherwise."""
    n, d = x.shape
    if n >= d:
        prep, gram, sums, _ = centred_gram(x, onehot)  # gram (D, D), sums = Yᵀ X̃ (C, D)
        assert sums is not None
        inv = _inverse_std(torch.diagonal(gram) / n)
        corr = gram * inv[:, None] * inv[None, :]
        s, vec = torch.linalg.eigh(corr)
        w = vec * inv[:, None]  # X = X̃ diag(inv), so Q = X V = X̃ (diag(inv) V)
        basis = blocked_rows_product(x, prep, w)
        return _Spectrum(_floored(s, n, d), basis, w.T @ sums.T, primal=True)
    _, rows = centred_rows(x)
    rows.mul_(_inverse_std((rows * rows).sum(dim=0) / n))
    s, vec = torch.linalg.eigh(rows @ rows.T)
    yc = onehot - onehot.mean(dim=0, keepdim=True)
    return _Spectrum(_floored(s, n, d), vec, vec.T @ yc, primal=False)


def _one_minus_leverage(spec: _Spectrum, lams: torch.Tensor) -> torch.Tensor:
    """``(N, L)`` ``1 − hᵢᵢ(λ)`` for the penalties ``lams`` (``(L,)``), held to its positive lower bound."""
    n = spec.basis.shape[0]
    denom = spec.s[:, None] + lams[None, :]  # (m, L)
    out = torch.empty(n, lams.shape[0], dtype=_F64, device=lams.device)
    block = max(1, _PATH_ELEMENTS // max(spec.basis.shape[1], 1))
    weights = 1.0 / denom if spec.primal else lams[None, :] / denom
    for start in range(0, n, block):
        b2 = spec.basis[start : start + block].square()
        part = b2 @ weights
        out[start : start + block] = (1.0 - 1.0 / n) - part if spec.primal else part - 1.0 / n
    top = float(spec.s.max()) if spec.s.numel() else 0.0
    bound = (1.0 - 1.0 / n) * lams / (top + lams)
    return torch.maximum(out, bound[None, :])


def _loo_path(
    spec: _Spectrum, onehot: torch.Tensor, lams: torch.Tensor
) -> Iterator[tuple[int, torch.Tensor]]:
    """LOO predictions along the path, a chunk of penalties at a time.

    Yields:
        ``(first, loo)``: the index of the chunk's first penalty in ``lams`` and the ``(N, l, C)`` LOO
        predictions ``ŷ₍ᵢ₎(λ)`` for the chunk's ``l`` penalties.
    """
    n, c = onehot.shape
    ybar = onehot.mean(dim=0)
    slack = _one_minus_leverage(spec, lams)  # (N, L)
    per_chunk = max(1, _PATH_ELEMENTS // max(n * c, 1))
    for first in range(0, lams.shape[0], per_chunk):
        lam = lams[first : first + per_chunk]
        gain = 1.0 / (spec.s[None, :] + lam[:, None])  # (l, m)
        if not spec.primal:
            gain = gain * spec.s[None, :]
        coef = (gain[:, :, None] * spec.proj[None, :, :]).permute(1, 0, 2).reshape(spec.s.shape[0], -1)
        fitted = (spec.basis @ coef).view(n, lam.shape[0], c) + ybar
        k = slack[:, first : first + per_chunk, None]  # (N, l, 1)
        yield first, (fitted - (1.0 - k) * onehot[:, None, :]) / k


def _tie_credit(loo: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """``(N, l)`` credit of each LOO prediction ``loo`` (``(N, l, C)``): 1/k when the true class ``codes``
    (``(N,)``) is among the k classes tied for the largest value, else 0."""
    top = loo.amax(dim=2, keepdim=True)
    scale = loo.abs().amax(dim=2, keepdim=True).clamp_min(1.0)
    tied = loo >= top - _TIE_RTOL * scale
    own = tied.gather(2, codes[:, None, None].expand(-1, loo.shape[1], 1)).squeeze(2)
    return own.to(_F64) / tied.sum(dim=2).to(_F64)


def _lambdas(
    n: int, alpha_min: float, alpha_max: float, num_alpha: int, device: torch.device
) -> torch.Tensor:
    alphas = np.logspace(math.log10(alpha_min), math.log10(alpha_max), num_alpha)
    return torch.from_numpy(alphas * n).to(device=device, dtype=_F64)


def loo_predictions(features: torch.Tensor, codes: torch.Tensor, alphas: list[float]) -> torch.Tensor:
    """Exact leave-one-out predictions of the ridge probe of :mod:`estimators.ridge_loo` along a path.

    Args:
        features: ``(N, D)`` float64 features (standardised inside, as the scorer does).
        codes: ``(N,)`` int64 class codes in ``0..C-1``, every class present.
        alphas: penalties ``α`` (``λ = α N``), each > 0.

    Returns:
        ``(N, L, C)`` float64: row ``i`` holds the one-hot regression outputs for sample ``i`` of the ridge
        fit on the other ``N − 1`` samples, at each of the ``L`` penalties.
    """
    k = int(codes.max()) + 1
    onehot = torch.zeros(codes.shape[0], k, dtype=_F64, device=features.device)
    onehot[torch.arange(codes.shape[0], device=features.device), codes] = 1.0
    spec = _spectrum(features.to(_F64), onehot)
    lams = torch.tensor(alphas, dtype=_F64, device=features.device) * codes.shape[0]
    return torch.cat([loo for _, loo in _loo_path(spec, onehot, lams)], dim=1)


@register_scorer(
    "ridge_loo",
    needs=("features", "labels"),
    constraints={
        "alpha_min": Interval(0.0, None, closed="neither"),
        "alpha_max": Interval(0.0, None, closed="neither"),
        "num_alpha": Interval(1, 50, integer=True),
    },
    citation=(
        "Leave-one-out accuracy of a ridge (regularised least-squares) classifier from its hat matrix "
        "(Allen. The Relationship between Variable Selection and Data Augmentation and a Method for "
        "Prediction. Technometrics 1974, PRESS; Rifkin, Lippert. Notes on Regularized Least Squares. MIT "
        "CSAIL-TR-2007-025, for the path from one eigendecomposition)."
    ),
    version="1",
    min_classes=2,
    min_per_class=2,
)
def ridge_loo(
    data: ScoringData,
    *,
    alpha_min: float = 1e-3,
    alpha_max: float = 1e3,
    num_alpha: int = 7,
) -> ScoreResult:
    """Leave-one-out accuracy of a ridge classifier on the standardised features, penalty per sample by PRESS.

    Args:
        data: validated features ``(N, D)`` and labels ``(N,)``; every class needs 2 samples (a held-out
            sample's class must stay in its training part).
        alpha_min, alpha_max, num_alpha: the penalty path, ``num_alpha`` log-spaced values of ``α`` (ridge
            penalty per sample on unit-variance features, ``λ = α N``) from ``alpha_min`` to ``alpha_max``.

    Returns:
        The fraction of samples whose LOO prediction is right, in [0, 1] (ties credited ``1/k``).
        ``info``: ``alpha`` (the penalty minimising PRESS over all samples, which every sample uses unless
        its own term moves the minimum), ``moved`` (samples predicted at another penalty), ``press`` (mean
        LOO squared error at the chosen penalties, a smooth tie-breaker: lower is better),
        ``path_accuracy`` (LOO accuracy at each ``α`` of the path), ``rank`` (eigenvalues kept),
        ``hscore`` (the ``hscore`` scorer's value on the same data, from the same eigendecomposition, so a
        caller scoring both pays for one decomposition), ``per_sample`` (``(N,)`` float64, each sample's
        LOO credit in the caller's sample order: 1, 0 or ``1/k`` for a k-way tie; its mean is the score,
        and the recommendation's paired bootstrap resamples it instead of refitting).

    Raises:
        InvalidParameterError: ``alpha_min > alpha_max``.
        NumericalError: a non-finite standard deviation or LOO prediction.

    Cost: as H-score plus one ``N×D×D`` product and ``N·D·C·num_alpha`` for the path (``N ≥ D``).
    """
    if alpha_min > alpha_max:
        raise InvalidParameterError(
            f"ridge_loo: alpha_min={alpha_min} is above alpha_max={alpha_max}", param="alpha_min"
        )
    x = data.x.to(_F64)
    n = x.shape[0]
    codes = data.codes
    onehot = data.onehot.to(_F64)
    spec = _spectrum(x, onehot)
    lams = _lambdas(n, alpha_min, alpha_max, num_alpha, x.device)
    press = torch.empty(n, num_alpha, dtype=_F64, device=x.device)
    credit = torch.empty_like(press)
    for first, loo in _loo_path(spec, onehot, lams):
        if not bool(torch.isfinite(loo).all()):
            raise NumericalError("ridge_loo: a leave-one-out prediction is not finite")
        cols = slice(first, first + loo.shape[1])
        press[:, cols] = (loo - onehot[:, None, :]).square().sum(dim=2)
        credit[:, cols] = _tie_credit(loo, codes)
    total = press.sum(dim=0)  # (L,)
    others = total[None, :] - press  # PRESS of the other samples, (N, L)
    # argmin takes the first minimum: search the reversed path so that ties go to the larger α
    chosen = num_alpha - 1 - torch.argmin(others.flip(1), dim=1)
    overall = num_alpha - 1 - int(torch.argmin(total.flip(0)))
    per_sample = credit.gather(1, chosen[:, None])[:, 0]
    value = float(per_sample.mean())
    info: dict[str, Any] = {
        "alpha": float(lams[overall]) / n,
        "moved": int((chosen != overall).sum()),
        "press": float(press.gather(1, chosen[:, None]).mean()),
        "path_accuracy": [float(v) for v in credit.mean(dim=0)],
        "rank": spec.rank,
        "hscore": spec.hscore(data.counts),
        PER_SAMPLE: per_sample.cpu().numpy(),
    }
    return ScoreResult(value, info)
