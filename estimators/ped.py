"""PED: Potential Energy Decline (Li, Hu, Ge, Shan, Duan, ICCV 2023).

PED pre-processes the features rather than scoring them. It imitates the early dynamics of fine-tuning
as repulsion between overlapping class clusters, then scores the moved features with an existing
scorer (the base: LogME by default, SFDA as in the reference's default script). Reference:
``lixiaotong97/PED/metrics.py::{One_Step_PED, PED_Score}``.

One step, in standardised units ``x' = (x - m) / s`` with ``s = max(std, eps)`` per dimension:

* per class: mean μ_c and radius ``R_c = sqrt(Σ_d Var_c[x'_d])`` (population variance);
* per pair (a, b): distance ``d_ab = ‖μ_b - μ_a‖``, overlap ``F_ab = max(nσ·(R_a + R_b) - d_ab, 0)``,
  displacement ``δ_ab = min(½·step²·constant·F_ab, F_ab)``; a and b are pushed apart by δ_ab each along
  their centre line;
* every sample of a class is translated by the sum of its class's pushes.

The first step is always taken. A later step is kept while its total L1 displacement is more than
``exit_ratio`` times that of the first step. A failing step is discarded and ends the loop, and at most
``max_steps`` steps are kept.

Implementation notes. A class moves rigidly, so its radius never changes and the whole loop runs on the
``(C, D)`` class means. The features are translated once at the end. The pairwise forces are the C×C weight
matrix ``W_ab = δ_ab / d_ab`` applied as a matrix product: class a moves by
``Σ_b W_ab (μ_a - μ_b) = rowsum(W)_a·μ_a - (W M)_a``. Distances come from ``torch.cdist`` in its direct
(non-Gram) mode, which is accurate and never builds the reference's C×C×D tensor (about 5 GB for SUN397).

Guards absent from the reference. Without ``source_mean``/``source_std`` (the reference needs ImageNet-val
features and raises otherwise), the target's own per-dimension mean and spread are used and ``info`` says
so. Coincident class means get no push, because their direction is undefined. If the first step
moves nothing, the original features are scored.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._params import BOOL, Interval, Options
from estimators._registry import SCORERS, register_scorer
from estimators.errors import DegenerateInputError, NumericalError

__all__ = ["ped", "ped_displacements"]


def column_spread(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and population standard deviation ``(D,)`` of ``x`` (N, D), in float64.

    Features beyond ~1e135 are first divided by a power of two (exact), so the squares cannot overflow.
    """
    x64 = x.to(torch.float64)
    lo, hi = torch.aminmax(x64)
    peak = max(-float(lo), float(hi))
    _, e = math.frexp(peak)
    if abs(e) <= 450:
        return x64.mean(dim=0), x64.std(dim=0, correction=0)
    half = e // 2  # two factors: 2^e alone over/underflows near the ends of the float range
    scaled = x64 * 2.0 ** (-half) * 2.0 ** (half - e)
    return x64.mean(dim=0), scaled.std(dim=0, correction=0) * 2.0**half * 2.0 ** (e - half)


def class_geometry(
    x: torch.Tensor, data: ScoringData, mean: torch.Tensor, scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardised class means ``(C, D)`` and radii ``(C,)`` of ``x`` (N, D) under ``(x - mean) / scale``.

    Computed in float64 whatever the feature dtype. Only C×D quantities enter the PED loop.

    Raises:
        NumericalError: the standardised geometry overflows float64 (standardised values beyond ~1e150,
            e.g. features of 1e300 against a tiny source standard deviation).
    """
    x64 = x.to(torch.float64)
    counts = data.counts.to(torch.float64)[:, None]
    onehot = data.onehot.to(torch.float64)
    raw_means = (onehot.T @ x64) / counts
    z = (x64 - raw_means[data.codes]) / scale
    var = (onehot.T @ (z * z)) / counts
    means, radii = (raw_means - mean) / scale, torch.sqrt(var.sum(dim=1))
    if not (bool(torch.isfinite(means).all()) and bool(torch.isfinite(radii).all())):
        raise NumericalError("ped: the standardised class geometry overflows float64", param="features")
    return means, radii


def one_step(
    means: torch.Tensor, radii: torch.Tensor, *, nsigma: float, step: float, constant: float
) -> torch.Tensor:
    """Class displacements ``(C, D)`` of one PED step, from class means ``(C, D)`` and radii ``(C,)``."""
    dist = torch.cdist(means, means, compute_mode="donot_use_mm_for_euclid_dist")
    overlap = (nsigma * (radii[:, None] + radii[None, :]) - dist).clamp_min(0.0)
    push = torch.minimum(0.5 * step * step * constant * overlap, overlap)
    weight = torch.where(dist > 0.0, push / dist.clamp_min(torch.finfo(dist.dtype).tiny), 0.0)
    weight.fill_diagonal_(0.0)
    return weight.sum(dim=1, keepdim=True) * means - weight @ means


def ped_displacements(
    means: torch.Tensor,
    radii: torch.Tensor,
    *,
    nsigma: float,
    step: float,
    max_steps: int,
    exit_ratio: float,
    constant: float,
) -> tuple[torch.Tensor, list[float]]:
    """Run the PED loop on class means.

    Args:
        means: ``(C, D)`` standardised class means.
        radii: ``(C,)`` class radii (constant, since classes move rigidly).
        nsigma, step, max_steps, exit_ratio, constant: see :func:`ped`.

    Returns:
        ``(total, steps)``: the summed displacement ``(C, D)`` of the accepted steps (standardised units)
        and the L1 displacement of each accepted step. ``len(steps)`` is the number of accepted steps: at
        least 1, at most ``max_steps``.

    Raises:
        NumericalError: the class distances overflow float64.
    """
    # Translation invariant: centre for accuracy of the matrix-product form.
    current = means - means.mean(dim=0, keepdim=True)
    total = torch.zeros_like(current)
    steps: list[float] = []
    for _ in range(max_steps):
        disp = one_step(current, radii, nsigma=nsigma, step=step, constant=constant)
        change = float(disp.abs().sum())
        if not math.isfinite(change):
            raise NumericalError(
                "ped: class distances overflow float64 in standardised units", param="features"
            )
        if steps and not change > exit_ratio * steps[0]:
            break
        steps.append(change)
        if change == 0.0:  # nothing overlaps; later steps would move nothing either
            break
        current = current + disp
        total = total + disp
    return total, steps


@register_scorer(
    "ped",
    needs=("features", "labels"),
    optional=("source_mean", "source_std"),
    constraints={
        "base": Options(("logme", "sfda")),
        "nsigma": Interval(0.0, None),
        "step": Interval(0.0, None, closed="neither"),
        "max_steps": Interval(1, None, integer=True),
        "exit_ratio": Interval(0.0, None),
        "eps": Interval(0.0, None, closed="neither"),
        "constant": Interval(0.0, None, closed="neither"),
        "fix_high_dim": BOOL,
        "dtype": Options(("float64", "float32")),
    },
    citation=(
        "Li, Hu, Ge, Shan, Duan. Exploring Model Transferability through the Lens of Potential Energy. "
        "ICCV 2023."
    ),
    version="1",
    min_classes=2,
    min_per_class=1,
)
def ped(
    data: ScoringData,
    *,
    base: str = "logme",
    nsigma: float = 0.6,
    step: float = 0.1,
    max_steps: int = 6,
    exit_ratio: float = 0.5,
    eps: float = 1e-3,
    constant: float = 1.0,
    fix_high_dim: bool = False,
    dtype: str = "float64",
) -> ScoreResult:
    """PED: the base scorer applied to features moved by simulated class repulsion.

    Shapes: features ``(N, D)``, labels ``(N,)``, optional ``source_mean`` / ``source_std`` ``(D,)``
    (per-dimension statistics of the same model's features on the source data, ImageNet-val in the
    paper). Cost per step O(C²·D), plus O(N·D) once, plus the base scorer.

    Args:
        data: validated inputs.
        base: registered scorer applied to the moved features with its default parameters (except
            ``fix_high_dim`` and ``dtype``, below).
        nsigma: overlap threshold in class radii (the reference's candidates: 0.3 or 0.6).
        step: time step Δt. A pair's displacement is ``min(½·Δt²·constant·F, F)``.
        max_steps: most steps kept. The reference hard-codes 6.
        exit_ratio: a later step is kept while its L1 displacement exceeds this fraction of the first's.
        eps: floor of the per-dimension standard deviation used to standardise.
        constant: the force constant k.
        fix_high_dim: passed to a ``logme`` base, ignored otherwise. False (default) is LogME as PED_Score
            runs it: thuml's fixed-point solver, which drops the D - N zero eigenvalues when D > N (the
            reference bug, see ``logme``). True counts them. The two agree whenever N ≥ D.
        dtype: compute dtype of the features, passed on to the base scorer when it takes one.

    Returns:
        The base score of the moved features. ``info`` has ``accepted_steps``, ``step_displacements``
        (L1, standardised units), ``standardisation`` (``"source"`` or the ``"target"`` fallback), ``base``,
        ``base_params`` and ``base_info``.

    Raises:
        DegenerateInputError: the data violates the base scorer's minimums, or the base scorer raises it.
    """
    base_spec = SCORERS.get(base)
    if data.num_classes < base_spec.min_classes or int(data.counts.min()) < base_spec.min_per_class:
        raise DegenerateInputError(
            f"ped: the base scorer {base!r} needs at least {base_spec.min_classes} classes and "
            f"{base_spec.min_per_class} sample(s) per class",
            param="labels",
        )
    x = data.x
    if data.source_mean is not None and data.source_std is not None:
        mean, std, standardisation = data.source_mean, data.source_std, "source"
    else:
        (mean, std), standardisation = column_spread(x), "target"
    scale = std.to(torch.float64).clamp_min(eps)
    means, radii = class_geometry(x, data, mean.to(torch.float64), scale)
    total, steps = ped_displacements(
        means,
        radii,
        nsigma=nsigma,
        step=step,
        max_steps=max_steps,
        exit_ratio=exit_ratio,
        constant=constant,
    )

    base_params: dict[str, Any] = dict(base_spec.defaults)
    if "fix_high_dim" in base_params:
        base_params["fix_high_dim"] = fix_high_dim
    if "dtype" in base_params:
        base_params["dtype"] = dtype
        feature_dtype = x.dtype
    else:
        feature_dtype = torch.float64
    shift = (total * scale)[data.codes]
    moved = (x.to(torch.float64) + shift).to(feature_dtype)
    if not bool(torch.isfinite(moved).all()):
        raise NumericalError("ped: the moved features overflow their dtype", param="features")
    moved_data = dataclasses.replace(data, features=moved)
    raw = base_spec.fn(moved_data, **base_params)
    base_value, base_info = (raw.value, dict(raw.info)) if isinstance(raw, ScoreResult) else (float(raw), {})
    return ScoreResult(
        float(base_value),
        {
            "accepted_steps": len(steps),
            "step_displacements": steps,
            "standardisation": standardisation,
            "base": base,
            "base_params": base_params,
            "base_info": base_info,
        },
    )
