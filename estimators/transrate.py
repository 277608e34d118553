"""TransRate (Huang et al., ICML 2022), appendix / tllib form.

``TrR = R(F) − (1/C) Σ_c R(F_c)`` with the coding rate ``R(Z) = ½ logdet(I + ZᵀZ / (n ε))`` of ``n`` rows
``Z``: the features are centred once globally, ``F_c`` are the (not re-centred) rows of class ``c`` and each
class term uses its own ``n_c``; the class average is unweighted.

Every log-determinant is a sum ``½ Σ log(1 + λ_i / (n ε))`` over the eigenvalues of a Gram matrix, and
``ZᵀZ`` and ``ZZᵀ`` share their non-zero eigenvalues, so each term uses the smaller of the two: the
``D×D`` (or ``N×N``) centred Gram matrix once, and per class an ``n_c×n_c`` Gram matrix when ``n_c < D``
(batched over classes of similar size) or ``D×D`` otherwise. The total cost stays
O(N·D² + D³ + D·Σ n_c²) with memory O(D² + N·D) — no per-class ``D×D`` work for the typical ``n_c < D``.

The logarithms are evaluated as ``logaddexp(0, log λ + log scale² − log(n ε))`` so that features of any
magnitude (the rate depends on the feature scale through ε) give a finite result.
"""

from __future__ import annotations

import math

import torch

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._params import Interval, Options
from estimators._registry import register_scorer
from estimators.hscore import Prepared, blocked_gram, compute_dtype, noise_floor, prepare

_GROUP_ELEMENTS = 1 << 23  # cap on the padded (classes × rows × D) block gathered at once


def _rate(
    lam: torch.Tensor, n: torch.Tensor | float, eps: float, log_scale2: float, floor: torch.Tensor
) -> torch.Tensor:
    """``½ Σ log(1 + λ scale² / (n ε))`` over the last axis of ``lam`` (float64), noise values dropped."""
    lam64 = lam.to(torch.float64)
    keep = lam64 > floor
    log_n = torch.log(torch.as_tensor(n, dtype=torch.float64, device=lam.device))
    if log_n.ndim:
        log_n = log_n[..., None]
    arg = torch.log(torch.where(keep, lam64, torch.ones_like(lam64))) + log_scale2 - log_n - math.log(eps)
    terms = torch.logaddexp(torch.zeros_like(arg), arg)
    return 0.5 * torch.where(keep, terms, torch.zeros_like(terms)).sum(dim=-1)


def _global_rate(x: torch.Tensor, prep: Prepared, eps: float) -> float:
    n, d = x.shape
    if n >= d:
        gram, _, _ = blocked_gram(x, prep)
    else:
        xt = prep.apply(x)
        gram = xt @ xt.T
    lam = torch.linalg.eigvalsh(gram)
    floor = torch.as_tensor(noise_floor(float(lam.max()), n, d, gram.dtype), dtype=torch.float64)
    return float(_rate(lam, float(n), eps, prep.log_scale2, floor))


def _class_rates(data: ScoringData, x: torch.Tensor, prep: Prepared, eps: float) -> torch.Tensor:
    """``(C,)`` float64 coding rates of the classes' rows of the globally centred features."""
    codes, counts = data.codes, data.counts
    n, d = x.shape
    num = counts.shape[0]
    finfo_eps = torch.finfo(x.dtype).eps
    order = torch.argsort(codes, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    rates = torch.zeros(num, dtype=torch.float64, device=x.device)
    counts_cpu = counts.cpu().tolist()
    starts_cpu = starts.cpu().tolist()

    large = [c for c in range(num) if counts_cpu[c] >= d]
    for c in large:  # n_c ≥ D: the D×D Gram matrix is the smaller one (at most N / D such classes)
        rows = x[order[starts_cpu[c] : starts_cpu[c] + counts_cpu[c]]]
        gram, _, _ = blocked_gram(rows, prep)
        lam = torch.linalg.eigvalsh(gram)
        floor = torch.as_tensor(noise_floor(float(lam.max()), counts_cpu[c], d, x.dtype), dtype=torch.float64)
        rates[c] = _rate(lam, float(counts_cpu[c]), eps, prep.log_scale2, floor)

    small = sorted((c for c in range(num) if counts_cpu[c] < d), key=lambda c: counts_cpu[c])
    i = 0
    while i < len(small):  # n_c < D: batched n_c×n_c Gram matrices, classes padded with zero rows
        j = i + 1
        while j < len(small) and (j + 1 - i) * counts_cpu[small[j]] * d <= _GROUP_ELEMENTS:
            j += 1
        group = torch.as_tensor(small[i:j], device=x.device)
        width = counts_cpu[small[j - 1]]
        steps = torch.arange(width, device=x.device)
        sizes = counts[group]
        valid = steps[None, :] < sizes[:, None]
        idx = torch.where(
            valid, starts[group][:, None] + steps[None, :], torch.zeros_like(valid, dtype=torch.int64)
        )
        rows = prep.apply(x[order[idx]])  # (b, width, D)
        rows.mul_(valid[..., None].to(rows.dtype))
        lam = torch.linalg.eigvalsh(rows @ rows.transpose(1, 2))  # (b, width)
        top = lam.max(dim=-1).values.to(torch.float64)
        floor = (torch.clamp(sizes, min=d).to(torch.float64) * finfo_eps * top)[:, None]
        rates[group] = _rate(lam, sizes.to(torch.float64), eps, prep.log_scale2, floor)
        i = j
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
    prep = prepare(x, centre=True)
    rate_all = _global_rate(x, prep, eps)
    rate_classes = float(_class_rates(data, x, prep, eps).mean())
    return ScoreResult(rate_all - rate_classes, {"rate_all": rate_all, "rate_classes": rate_classes})
