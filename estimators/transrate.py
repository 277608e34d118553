"""TransRate (Huang et al., ICML 2022), appendix / tllib form.

``TrR = R(F) − (1/C) Σ_c R(F_c)`` with the coding rate ``R(Z) = ½ logdet(I + ZᵀZ / (n ε))`` of ``n`` rows
``Z``: the features are centred once globally, ``F_c`` are the (not re-centred) rows of class ``c`` and each
class term uses its own ``n_c``; the class average is unweighted.

Every log-determinant is ``logdet(I + a K)`` of a Gram matrix ``K`` with ``a = 1/(n ε)``, and ``ZᵀZ`` and
``ZZᵀ`` give the same value, so each term uses the smaller of the two: the ``D×D`` (or ``N×N``) centred
Gram matrix once, and per class an ``n_c×n_c`` Gram matrix when ``n_c < D`` (batched over classes of
similar size) or ``D×D`` otherwise. The total cost stays O(N·D² + D³ + D·Σ n_c²) with memory
O(D² + N·D) — no per-class ``D×D`` work for the typical ``n_c < D``.

The log-determinant comes from a Cholesky factorisation when rounding cannot matter (a bound on the
perturbation of each eigenvalue of ``a K``: ``max(n, D) · eps · a · tr K ≤ 1e-5``). Otherwise — large
feature scales relative to ε, or float32 — it is ``Σ log(1 + a λ_i)`` over eigenvalues, evaluated as
``logaddexp(0, log λ + log a)`` (finite at any feature magnitude) with noise-level eigenvalues
(``≤ max(n, D) · eps · λ_max``; float32: ``≤ eps · λ_max``) dropped, so that null directions contribute
exactly nothing.
"""

from __future__ import annotations

import math

import torch

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._linalg import Prepared, blocked_gram, centred_gram, centred_rows, compute_dtype
from estimators._params import Interval, Options
from estimators._registry import register_scorer

_GROUP_ELEMENTS = 1 << 23  # cap on the padded (classes × rows × D) block gathered at once
_GROUP_GROWTH = 1.25  # classes batched together differ in size by at most this factor (limits padding)
# Cholesky gives log-determinants when every eigenvalue of a·K is perturbed by at most this much by
# rounding (bound: max(n, D) · eps · a · tr K); otherwise eigenvalues with a noise floor are used.
_CHOLESKY_SAFE = 1e-5


def _eig_rates(gram: torch.Tensor, log_a: torch.Tensor, dims: torch.Tensor, eps_dtype: float) -> torch.Tensor:
    """``½ Σ_i log(1 + a λ_i)`` from eigenvalues; noise-level eigenvalues (≤ dims·eps·λ_max) dropped.

    Args:
        gram: ``(b, m, m)`` Gram matrices (transformed units).
        log_a: ``(b,)`` float64 ``log(scale² / (n ε))``.
        dims: ``(b,)`` float64 ``max(n, D)`` per matrix (the float64 noise-floor factor).
        eps_dtype: machine epsilon of ``gram``'s dtype.
    """
    lam = torch.linalg.eigvalsh(gram).to(torch.float64)  # (b, m)
    # float32 rounding noise is ~eps·λ_max already, where max(n, D)·eps·λ_max would drop many genuine small
    # eigenvalues (n_c ≈ D classes); in float64 the wide factor costs nothing (1e-13 relative).
    factor = dims if gram.dtype == torch.float64 else torch.ones_like(dims)
    floor = (factor * eps_dtype * lam.max(dim=-1).values.clamp_min(0.0))[:, None]
    keep = lam > floor
    arg = torch.log(torch.where(keep, lam, torch.ones_like(lam))) + log_a[:, None]
    terms = torch.logaddexp(torch.zeros_like(arg), arg)  # log(1 + a λ) without overflow
    return 0.5 * torch.where(keep, terms, torch.zeros_like(terms)).sum(dim=-1)


def _rates(gram: torch.Tensor, n: torch.Tensor, d: int, eps: float, log_scale2: float) -> torch.Tensor:
    """Coding rates ``½ logdet(I + scale² K / (n ε))`` of a batch of Gram matrices ``K`` (``(b, m, m)``).

    ``n`` is ``(b,)`` (rows behind each matrix). Returns ``(b,)`` float64.
    """
    n64 = n.to(torch.float64)
    log_a = log_scale2 - torch.log(n64) - math.log(eps)
    eps_dtype = torch.finfo(gram.dtype).eps
    dims = torch.clamp(n64, min=float(d))
    trace = torch.diagonal(gram, dim1=-2, dim2=-1).sum(dim=-1).to(torch.float64)
    bound = dims * eps_dtype * torch.exp(log_a) * trace
    if gram.dtype == torch.float64 and bool((bound <= _CHOLESKY_SAFE).all()):
        eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        chol, info = torch.linalg.cholesky_ex(eye + torch.exp(log_a)[:, None, None] * gram)
        if not bool(info.any()):
            return torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(dim=-1)
    return _eig_rates(gram, log_a, dims, eps_dtype)


def _global_rate(x: torch.Tensor, eps: float) -> tuple[float, Prepared]:
    n, d = x.shape
    if n >= d:
        prep, gram, _, _ = centred_gram(x)
    else:
        prep, rows = centred_rows(x)
        gram = rows @ rows.T
    rate = _rates(gram[None], torch.tensor([n], device=x.device), d, eps, prep.log_scale2)
    return float(rate[0]), prep


def _groups(sizes: list[int], d: int) -> list[list[int]]:
    """Classes with ``n_c < D`` (indices into ``sizes``) in batches of similar size and bounded memory."""
    order = sorted((c for c in range(len(sizes)) if sizes[c] < d), key=lambda c: sizes[c])
    groups: list[list[int]] = []
    for c in order:
        if groups:
            group = groups[-1]
            first = sizes[group[0]]
            if sizes[c] <= max(_GROUP_GROWTH * first, first + 8) and (len(group) + 1) * sizes[c] * d <= (
                _GROUP_ELEMENTS
            ):
                group.append(c)
                continue
        groups.append([c])
    return groups


def _class_rates(data: ScoringData, x: torch.Tensor, prep: Prepared, eps: float) -> torch.Tensor:
    """``(C,)`` float64 coding rates of the classes' rows of the globally centred features."""
    codes, counts = data.codes, data.counts
    d = x.shape[1]
    order = torch.argsort(codes, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    rates = torch.zeros(counts.shape[0], dtype=torch.float64, device=x.device)
    sizes = counts.cpu().tolist()
    begins = starts.cpu().tolist()

    for c in (c for c in range(len(sizes)) if sizes[c] >= d):  # D×D is the smaller Gram (≤ N/D classes)
        gram, _, _ = blocked_gram(x[order[begins[c] : begins[c] + sizes[c]]], prep)
        rates[c] = _rates(gram[None], counts[c : c + 1], d, eps, prep.log_scale2)[0]

    for group in _groups(sizes, d):  # n_c < D: batched n_c×n_c Gram matrices, padded with zero rows
        members = torch.as_tensor(group, device=x.device)
        width = max(sizes[c] for c in group)
        steps = torch.arange(width, device=x.device)
        valid = steps[None, :] < counts[members][:, None]
        idx = torch.where(valid, starts[members][:, None] + steps[None, :], torch.zeros_like(steps)[None, :])
        rows = prep.apply_(x[order[idx]])  # (b, width, D); advanced indexing made a copy
        rows.mul_(valid[..., None].to(rows.dtype))
        rates[members] = _rates(rows @ rows.transpose(1, 2), counts[members], d, eps, prep.log_scale2)
    return rates


@register_scorer(
    "transrate",
    needs=("features", "labels"),
    constraints={"eps": Interval(0.0, None, closed="neither"), "dtype": Options(("float64", "float32"))},
    citation=(
        "Huang, Huang, Chen, Wei, Ying. Frustratingly Easy Transferability Estimation. ICML 2022 "
        "(appendix form as in tllib ranking.transrate)."
    ),
    version="1",
    min_classes=2,
    min_per_class=1,
)
def transrate(data: ScoringData, *, eps: float = 1e-4, dtype: str = "float64") -> ScoreResult:
    """TransRate: coding rate of all features minus the mean coding rate of each class's features.

    With centred features ``F`` (``N×D``) and class blocks ``F_c`` (``n_c×D``),
    ``TrR = ½ logdet(I + FᵀF/(N ε)) − (1/C) Σ_c ½ logdet(I + F_cᵀF_c/(n_c ε))``. Higher means the
    features are spread out overall yet compact per class. Depends on the feature scale through ``ε``;
    invariant to orthogonal maps and translations of the features and to repeating every sample.

    Args:
        data: validated features ``(N, D)`` and labels ``(N,)``.
        eps: distortion ε of the coding rate.
        dtype: compute dtype of the Gram matrices and their eigenvalues. ``"float32"`` resolves
            eigenvalues down to about ``1e-7 · λ_max`` of each Gram matrix only; class Gram matrices are
            not re-centred, so their class-mean offset sets ``λ_max`` and small within-class directions can
            be lost (an error of ``½ log(1 + λ/(n_c ε)) / C`` each).

    Returns:
        The score; ``info`` has ``rate_all`` (R(F)) and ``rate_classes`` (the class average).
    """
    x = data.x.to(compute_dtype(dtype))
    rate_all, prep = _global_rate(x, eps)
    rate_classes = float(_class_rates(data, x, prep, eps).mean())
    return ScoreResult(rate_all - rate_classes, {"rate_all": rate_all, "rate_classes": rate_classes})
