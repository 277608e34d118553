"""probe_cv: the k-fold cross-validated accuracy of an L2-regularised logistic regression on the features.

The most direct transferability estimate for a linear-probe or fine-tuning user: how well does a linear
classifier on these features predict the labels of held-out samples? It is an *empirical* estimate (no
closed-form evidence as LogME, no source head as LEEP), so it is slower than those, but on cached
features it costs seconds, and on this project's benchmark it tracks the linear-probe and fine-tuning
ground truth more closely than the closed-form scorers (see ``benchmark/results/quality.md``).

Algorithm (all in float64 torch, on CPU or CUDA):

1. **Standardise** the features with the mean and standard deviation over all N samples (label-free, so
   no label leaks into the folds); constant columns become 0. The score is then invariant to per-column
   affine rescaling of the features.
2. **Reduce to the row span exactly**: with ``X = U S Vᵀ`` (thin SVD), every L2-penalised linear model
   fitted on any subset of the rows has its weights in ``span(V)``, and ``‖V w‖ = ‖w‖``, so fitting on
   ``Z = U S`` (``N × r``, ``r = rank X <= min(N, D)``) gives the same predictions at a fraction of the
   cost when ``D > N``.
3. **Folds without the sample order**: each sample gets a key, the projection of its standardised
   features on a direction drawn from ``seed``; within each class samples are ranked by key and rank
   ``i`` goes to outer fold ``i mod folds`` (stratified, and every fold spans the whole key range). Classes
   are put in the order of their mean key and samples in (class, key) order before anything is computed,
   so permuting the samples or renaming the classes gives bit-identical results.
4. **Nested choice of C**: for each outer fold, C is chosen from ``logspace(log10 c_min, log10 c_max,
   num_c)`` by the log-loss of an ``inner_folds``-fold CV *inside the outer training part* (same key
   rule). Log-loss rather than accuracy: on a few hundred samples the inner accuracies of neighbouring C
   values tie or differ by one sample, and the choice flips from fold to fold; the log-loss is a proper,
   smooth criterion (scikit-learn's ``LogisticRegressionCV`` moves to it too). The model refitted on the
   outer training part at that C predicts the outer test fold, which never influences its own C.
5. Each fit minimises ``mean cross-entropy + ‖W‖² / (2 C n_fit)`` (scikit-learn's scaling of C; the
   intercept is not penalised) with L-BFGS (strong-Wolfe line search), warm-started along the C path.

The score is the fraction of the N samples whose outer-fold prediction is right, in [0, 1]; a predicted
tie between classes goes to the class first in the canonical order. ``info`` reports the mean outer-fold
log-loss (a smooth tie-breaker for models with equal accuracy), the C chosen per fold, the rank r and
``per_sample`` ``(N,)``: 1 where a sample's outer-fold prediction is right, in the caller's sample order
(the score is its mean, so a paired bootstrap over samples needs no refit).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from estimators._api import PER_SAMPLE, ScoreResult
from estimators._data import ScoringData
from estimators._params import Interval, Options
from estimators._registry import register_scorer
from estimators.errors import DegenerateInputError, InvalidParameterError, NumericalError

__all__ = ["fold_ids", "probe_cv"]


def fold_ids(codes: np.ndarray, keys: np.ndarray, folds: int) -> np.ndarray:
    """Stratified fold of every sample: rank by ``keys`` within its class, fold = rank mod ``folds``.

    Args:
        codes: ``(N,)`` class codes.
        keys: ``(N,)`` float sort keys (ties broken by position, which callers make canonical).
        folds: number of folds, >= 1.

    Returns:
        ``(N,)`` int64 fold ids in ``[0, folds)``.
    """
    out = np.empty(len(codes), dtype=np.int64)
    for c in np.unique(codes):
        members = np.flatnonzero(codes == c)
        ranked = members[np.argsort(keys[members], kind="stable")]
        out[ranked] = np.arange(len(ranked)) % folds
    return out


def _fit(
    z: torch.Tensor,
    y: torch.Tensor,
    k: int,
    c: float,
    init: tuple[torch.Tensor, torch.Tensor] | None,
    *,
    max_iter: int,
    tol: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression: minimise mean CE + ‖W‖²/(2 C n). Returns (W (r, K), b (K,))."""
    n, r = z.shape
    lam = 1.0 / (c * n)
    w = torch.zeros(r, k, dtype=z.dtype, device=z.device) if init is None else init[0].clone()
    b = torch.zeros(k, dtype=z.dtype, device=z.device) if init is None else init[1].clone()
    w.requires_grad_(False)
    params = [w, b]
    onehot = torch.zeros(n, k, dtype=z.dtype, device=z.device)
    onehot[torch.arange(n, device=z.device), y] = 1.0
    opt = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=tol,
        tolerance_change=1e-14,
        history_size=10,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        logits = z @ w + b
        logp = torch.log_softmax(logits, dim=1)
        loss = -(onehot * logp).sum() / n + 0.5 * lam * (w * w).sum()
        resid = (torch.exp(logp) - onehot) / n  # d(mean CE)/d logits
        w.grad = z.T @ resid + lam * w
        b.grad = resid.sum(dim=0)
        return loss

    opt.step(closure)  # type: ignore[no-untyped-call]
    return w.detach(), b.detach()


def _predict(z: torch.Tensor, wb: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return z @ wb[0] + wb[1]


def _inner_choice(
    z: torch.Tensor,
    y: torch.Tensor,
    inner: np.ndarray,
    k: int,
    cs: list[float],
    *,
    inner_folds: int,
    max_iter: int,
    tol: float,
) -> int:
    """Index of the C with the lowest inner-CV log-loss on (z, y).

    The path runs from the smallest C up, warm-started per inner fold, and stops at the first C whose
    log-loss is above the best so far (the inner log-loss is unimodal in C in practice, and the weakly
    regularised fits past the optimum are the slowest). Exact ties go to the smaller C.
    """
    masks = [torch.from_numpy(inner == f).to(z.device) for f in range(inner_folds)]
    starts: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * inner_folds
    best_j, best_loss = 0, math.inf
    for j, c in enumerate(cs):
        loss = 0.0
        for f, test in enumerate(masks):
            wb = _fit(z[~test], y[~test], k, c, starts[f], max_iter=max_iter, tol=tol)
            starts[f] = wb
            logp = torch.log_softmax(_predict(z[test], wb), dim=1)
            loss -= float(logp[torch.arange(int(test.sum()), device=z.device), y[test]].sum())
        if not math.isfinite(loss):
            raise NumericalError("probe_cv: the inner cross-validation log-loss is not finite")
        if loss < best_loss:
            best_j, best_loss = j, loss
        else:
            break
    return best_j


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError("probe_cv: device='cuda' but CUDA is not available", param="device")
    return torch.device(name)


@register_scorer(
    "probe_cv",
    needs=("features", "labels"),
    constraints={
        "folds": Interval(2, 20, integer=True),
        "inner_folds": Interval(2, 10, integer=True),
        "c_min": Interval(0.0, None, closed="neither"),
        "c_max": Interval(0.0, None, closed="neither"),
        "num_c": Interval(1, 20, integer=True),
        "max_iter": Interval(1, None, integer=True),
        "tol": Interval(0.0, None, closed="neither"),
        "seed": Interval(0, 2**32 - 1, integer=True),
        "device": Options(("auto", "cpu", "cuda")),
    },
    citation=(
        "k-fold cross-validated linear-probe accuracy with nested choice of C (Kornblith, Shlens, Le. "
        "Do Better ImageNet Models Transfer Better? CVPR 2019, for the linear-probe protocol)."
    ),
    version="1",
    min_classes=2,
    min_per_class=2,
)
def probe_cv(
    data: ScoringData,
    *,
    folds: int = 5,
    inner_folds: int = 2,
    c_min: float = 1e-3,
    c_max: float = 1.0,
    num_c: int = 4,
    max_iter: int = 50,
    tol: float = 1e-6,
    seed: int = 0,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> ScoreResult:
    """Cross-validated accuracy of an L2 logistic regression on the features, C chosen in nested CV.

    Args:
        data: validated features ``(N, D)`` and labels ``(N,)``.
        folds: outer folds; every class needs at least ``folds`` samples.
        inner_folds: folds of the inner CV that chooses C inside each outer training part.
        c_min, c_max, num_c: the C grid, ``num_c`` log-spaced values from ``c_min`` to ``c_max``
            (scikit-learn's C: inverse regularisation strength on standardised features).
        max_iter: most L-BFGS iterations per fit; tol: its gradient tolerance.
        seed: draws the direction that orders samples into folds (the score's only randomness).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        progress: called as ``progress(folds done, folds)`` after each outer fold (not a user
            parameter: the registry leaves it out of the published ones); it does not change the result.

    Returns:
        The fraction of correctly predicted held-out samples, in [0, 1]. ``info``: ``log_loss`` (mean
        outer-fold cross-entropy), ``c_chosen`` (per outer fold), ``rank`` (r), ``folds``, ``per_sample``
        (``(N,)`` int64 out-of-fold correctness in input order; its mean is the score).

    Raises:
        DegenerateInputError: a class has fewer than ``folds`` samples, or an outer training part leaves
            a class with fewer than ``inner_folds`` samples.
        InvalidParameterError: ``c_min > c_max``, or ``device='cuda'`` without CUDA.
        NumericalError: a fit produced non-finite parameters.

    Cost: one thin SVD (O(N·D·min(N, D))), then ``folds·(inner_folds·num_c + 1)`` L-BFGS fits of
    O(N·r·C) per iteration.
    """
    if c_min > c_max:
        raise InvalidParameterError(f"probe_cv: c_min={c_min} is above c_max={c_max}", param="c_min")
    counts = data.counts.cpu().numpy()
    smallest = int(counts.min())
    if smallest < folds:
        raise DegenerateInputError(
            f"probe_cv with folds={folds} needs at least {folds} samples per class; the smallest class has "
            f"{smallest} (lower folds or give more samples)",
            param="labels",
        )
    min_fit = int((counts - np.ceil(counts / folds)).min())
    if min_fit < inner_folds:
        raise DegenerateInputError(
            f"probe_cv: an outer training part keeps only {min_fit} samples of a class, fewer than "
            f"inner_folds={inner_folds}",
            param="labels",
        )
    dev = _device(device)
    x = data.x.detach().to("cpu", torch.float64)
    n, d = x.shape
    k = data.num_classes

    # 1. standardise (label-free)
    mean = x.mean(dim=0)
    std = x.std(dim=0, unbiased=False)
    live = (std > 0) & torch.isfinite(std)
    xs = torch.where(live, (x - mean) / torch.where(live, std, torch.ones_like(std)), torch.zeros_like(x))
    if not bool(torch.isfinite(xs).all()):
        raise NumericalError("probe_cv: standardised features are not finite")

    # 3. canonical order of classes and samples from a seeded projection
    direction = torch.from_numpy(np.random.default_rng(seed).standard_normal(d))
    keys = (xs @ direction).numpy()
    codes = data.codes.cpu().numpy()
    class_key = np.array([keys[codes == c].mean() for c in range(k)])
    canon = np.empty(k, dtype=np.int64)
    canon[np.argsort(class_key, kind="stable")] = np.arange(k)
    y_np = canon[codes]
    order = np.lexsort((keys, y_np))
    xs, keys, y_np = xs[torch.from_numpy(order)], keys[order], y_np[order]

    # 2. exact reduction to the row span
    u, s, _ = torch.linalg.svd(xs, full_matrices=False)
    cut = float(s.max()) * max(n, d) * torch.finfo(torch.float64).eps if s.numel() else 0.0
    keep = s > cut
    z = (u[:, keep] * s[keep]).to(dev)
    y = torch.from_numpy(y_np).to(dev)

    outer = fold_ids(y_np, keys, folds)
    cs = [float(v) for v in np.logspace(math.log10(c_min), math.log10(c_max), num_c)]
    correct = 0
    log_loss = 0.0
    chosen: list[float] = []
    hits = np.zeros(n, dtype=np.int64)  # per sample, in canonical order: 1 = its outer fold predicted it
    for f in range(folds):
        test_np = outer == f
        test = torch.from_numpy(test_np).to(dev)
        fit_z, fit_y = z[~test], y[~test]
        inner = fold_ids(y_np[~test_np], keys[~test_np], inner_folds)
        j = _inner_choice(fit_z, fit_y, inner, k, cs, inner_folds=inner_folds, max_iter=max_iter, tol=tol)
        wb = _fit(fit_z, fit_y, k, cs[j], None, max_iter=max_iter, tol=tol)
        if not all(bool(torch.isfinite(t).all()) for t in wb):
            raise NumericalError("probe_cv: logistic regression produced non-finite weights")
        logits = _predict(z[test], wb)
        right = logits.argmax(1) == y[test]
        correct += int(right.sum())
        hits[test_np] = right.cpu().numpy().astype(np.int64)
        log_loss -= float(
            torch.log_softmax(logits, dim=1)[torch.arange(int(test.sum()), device=dev), y[test]].sum()
        )
        chosen.append(cs[j])
        if progress is not None:
            progress(f + 1, folds)
    info: dict[str, Any] = {
        "log_loss": log_loss / n,
        "c_chosen": chosen,
        "rank": int(keep.sum()),
        "folds": folds,
    }
    per_sample = np.empty(n, dtype=np.int64)
    per_sample[order] = hits  # back to the caller's sample order
    info[PER_SAMPLE] = per_sample
    return ScoreResult(correct / n, info)
