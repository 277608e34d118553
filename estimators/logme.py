"""LogME: the maximum log-evidence of Bayesian linear regression from features to labels.

You, Liu, Wang, Long. LogME: Practical Assessment of Pre-trained Models for Transfer Learning. ICML 2021;
fixed-point solver from You, Liu, Wang, Jordan, Long. Ranking and Tuning Pre-trained Models: A New
Paradigm for Exploiting Model Hubs. JMLR 2022.

For each target column ``y`` (a class indicator, or a regression / multi-label column) the model is
``y = F w + noise`` with ``w ~ N(0, α⁻¹ I)`` and noise ``N(0, β⁻¹)``. Everything the evidence needs is
a function of ``t = α/β``, the eigenvalues ``σ_i`` of ``FᵀF`` and the squared projections
``z_i² = (v_iᵀ Fᵀ y)²`` (``v_i`` the eigenvectors):

* ``γ = Σ σ_i/(σ_i + t)``, ``m² = ‖m‖² = Σ z_i²/(σ_i + t)²``,
* ``res² = ‖y − F m‖² = ‖y‖² − Σ z_i² (σ_i + 2t)/(σ_i + t)²``,
* ``L = −½ Σ_{i ≤ D} log(1 + σ_i/t) + (N/2) log β − (β/2) res² − (α/2) m² − (N/2) log 2π``.

So one eigendecomposition (``FᵀF``, ``D×D``, when ``N ≥ D``; ``FFᵀ``, ``N×N``, otherwise) and one projection
``Vᵀ(FᵀY)`` of all target columns at once are the whole cost; the fixed-point iterations run on
``(k, K)`` arrays for all columns together. ``z`` never divides by ``σ``, so rank-deficient features (dead
units, ``D > N``) need no special cut, and zero eigenvalues contribute nothing to the evidence — which is
exactly the ``D > N`` padding fix (``fix_high_dim``).
"""

from __future__ import annotations

import math

import torch

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._linalg import blocked_gram, compute_dtype, noise_floor, prepare
from estimators._params import BOOL, Interval, Options
from estimators._registry import register_scorer
from estimators.errors import NumericalError

_T_MIN, _T_MAX = 1e-300, 1e300  # keeps t = α/β a positive finite float64 in degenerate corners
_ICML_TOL = 1e-2  # the ICML solver's published stopping rule: relative change of t < 0.01


def _spectrum(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Eigenvalues ``σ`` (``(k,)``) of ``FᵀF`` and squared projections ``z²`` (``(k, K)``), float64.

    ``k = D`` when ``N ≥ D`` (primal, ``D×D`` Gram), else ``k = N`` (dual, ``N×N`` Gram; the other
    ``D − N`` eigenvalues are zero with ``z = 0``). Noise-level eigenvalues are set to exactly zero with
    their projections. The dual also returns ``w² = (U_iᵀ y)²`` (``(N, K)``) in its complete eigenbasis of
    ``R^N``, from which the residual is a sum of positive terms (no cancellation when ``y`` is nearly
    interpolated, the usual case for ``D > N``); the primal returns None there.
    """
    n, d = x.shape
    prep = prepare(x, centre=False)
    if n >= d:
        gram, fty, _ = blocked_gram(x, prep, y)  # fty: (K, D) = Yᵀ F̃
        assert fty is not None
        lam, vec = torch.linalg.eigh(gram)
        z2 = ((fty @ vec).T.to(torch.float64)) ** 2  # (D, K)
        w2 = None
    else:
        xt = prep.apply(x)
        lam, vec = torch.linalg.eigh(xt @ xt.T)
        # z_i = v_iᵀ F̃ᵀ y = √λ_i u_iᵀ y for the dual eigenvectors u_i.
        w2 = ((vec.T @ y).to(torch.float64)) ** 2
        z2 = w2 * lam.to(torch.float64).clamp_min(0.0)[:, None]
    lam64 = lam.to(torch.float64)
    null = lam64 <= noise_floor(float(lam64.max()), n, d, x.dtype)
    lam64 = torch.where(null, torch.zeros_like(lam64), lam64)
    z2 = torch.where(null[:, None], torch.zeros_like(z2), z2)
    scale2 = prep.scale**2
    return lam64 * scale2, z2 * scale2, w2


def _evidence(
    sigma: torch.Tensor,
    z2: torch.Tensor,
    y2: torch.Tensor,
    w2: torch.Tensor | None,
    n: int,
    *,
    d_extra: int,
    tol: float,
    strict: bool,
    eps: float,
    eps_in_evidence: bool,
    max_iter: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximise the evidence of every target column at once.

    Args:
        sigma: ``(k,)`` eigenvalues of ``FᵀF`` (zero for null directions).
        z2: ``(k, K)`` squared projections ``(v_iᵀFᵀy)²``.
        y2: ``(K,)`` squared norms ``‖y‖²``.
        w2: ``(k, K)`` squared coordinates of ``y`` in a complete orthonormal eigenbasis of ``R^N``
            (``k = N``), or None; when given the residual is ``Σ w² t²/(σ + t)²``.
        n: samples N.
        d_extra: eigenvalues missing from ``sigma`` that the evidence counts as ``log α`` (the reference
            fixed point's ``D > N`` bug: ``D − N``); 0 for the correct evidence.
        tol, strict: stop a column when ``|t' − t|/t ≤ tol`` (``< tol`` if ``strict``).
        eps: ε added to ``‖m‖²`` and ``res²`` in the α and β updates.
        eps_in_evidence: also add ε inside the two quadratic evidence terms (ICML solver).
        max_iter: most updates per column.

    Returns:
        ``(evidence / N, converged)`` per column, both ``(K,)``.
    """
    pos = sigma > 0
    k_pos = int(pos.sum())
    log_sigma = torch.log(torch.where(pos, sigma, torch.ones_like(sigma)))[:, None]
    sig = sigma[:, None]
    cols = z2.shape[1]
    t = torch.ones(cols, dtype=torch.float64, device=sigma.device)
    evidence = torch.zeros_like(t)
    done = torch.zeros(cols, dtype=torch.bool, device=sigma.device)
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    for _ in range(max_iter):
        q = torch.where(pos[:, None], 1.0 / (sig + t), torch.zeros_like(sig + t))  # 1/(σ + t), (k, K)
        zq = z2 * q  # ≤ ‖y‖², no overflow
        gamma = (sig * q).sum(dim=0)
        rest = (n - k_pos) + (t * q).sum(dim=0)  # N − γ without cancellation
        m2 = (zq * q).sum(dim=0)
        if w2 is None:
            res2 = (y2 - (zq * (1.0 + t * q)).sum(dim=0)).clamp_min(0.0)
        else:  # t/(σ + t), which is 1 on the null space
            shrink = torch.where(pos[:, None], t * q, torch.ones_like(q))
            res2 = (w2 * shrink * shrink).sum(dim=0)
        log_alpha = torch.log(gamma) - torch.log(m2 + eps)
        log_beta = torch.log(rest) - torch.log(res2 + eps)
        log_t = (log_alpha - log_beta).clamp(math.log(_T_MIN), math.log(_T_MAX))
        new_t = torch.exp(log_t)
        # −½ Σ_{i ≤ D} log(1 + σ_i/t'): the null eigenvalues contribute exactly zero.
        log1p_terms = torch.logaddexp(torch.zeros_like(zq), log_sigma - log_t)
        logdet = torch.where(pos[:, None], log1p_terms, torch.zeros_like(zq)).sum(dim=0)
        quad_m = gamma * m2 / (m2 + eps)  # α' m²
        quad_r = rest * res2 / (res2 + eps)  # β' res²
        if eps_in_evidence:
            quad_m, quad_r = gamma, rest
        value = -0.5 * logdet + 0.5 * n * log_beta - 0.5 * quad_r - 0.5 * quad_m - n * half_log_2pi
        if d_extra:
            value = value + 0.5 * d_extra * log_alpha
        change = (new_t - t).abs() / t
        converged = change < tol if strict else change <= tol
        evidence = torch.where(done, evidence, value / n)
        t = torch.where(done, t, new_t)
        done = done | converged
        if bool(done.all()):  # converged columns are frozen, so stopping early changes nothing
            break
    return evidence, done


@register_scorer(
    "logme",
    needs=("features", "labels"),
    constraints={
        "solver": Options(("fixed_point", "icml")),
        "fix_high_dim": BOOL,
        "tol": Interval(0.0, None, closed="neither"),
        "max_iter": Interval(1, None, integer=True),
        "eps": Interval(0.0, None, closed="neither"),
        "dtype": Options(("float64", "float32")),
    },
    citation=(
        "You, Liu, Wang, Long. LogME: Practical Assessment of Pre-trained Models for Transfer Learning. "
        "ICML 2021; You, Liu, Wang, Jordan, Long. Ranking and Tuning Pre-trained Models: A New Paradigm "
        "for Exploiting Model Hubs. JMLR 2022."
    ),
    version="1",
    min_classes=2,
    min_per_class=1,
    accepts_targets=True,
)
def logme(
    data: ScoringData,
    *,
    solver: str = "fixed_point",
    fix_high_dim: bool = True,
    tol: float = 1e-3,
    max_iter: int = 11,
    eps: float = 1e-5,
    dtype: str = "float64",
) -> ScoreResult:
    """LogME: per-sample maximum log-evidence of a Bayesian linear model from features to labels.

    Class labels ``(N,)`` become one 0/1 indicator column per class; 2-D float targets ``(N, K)``
    (regression, multi-label) are used column by column. The score is the evidence divided by ``N``,
    averaged over the columns (thuml ``LogME.py``). A log-density: it may be positive.
    Cost O(N·D·min(N, D) + min(N, D)³ + N·D·K); memory O(min(N, D)² + K·min(N, D)).

    Args:
        data: validated features ``(N, D)`` and labels ``(N,)`` or targets ``(N, K)``.
        solver: ``"fixed_point"`` (JMLR, the reference default) or ``"icml"`` (the ICML 2021 iteration:
            stops at relative change of ``t = α/β`` below 0.01 — ``tol`` does not apply — and adds ε inside
            the evidence's quadratic terms).
        fix_high_dim: fixed point only. True counts all ``D`` eigenvalues of ``FᵀF`` (the ``D − N`` zero
            ones when ``D > N``); False reproduces the reference's high-dimension bug (thuml/LogME issue
            #23), which drops them and inflates the score by ``(D − N) log α / (2N)`` per column.
        tol: fixed-point stopping threshold on ``|t' − t|/t``.
        max_iter: most α/β updates per column.
        eps: ε added to ``‖m‖²`` and the residual in the α, β updates.
        dtype: compute dtype of the Gram matrix and eigendecomposition (the iterations run in float64).

    Returns:
        The score; ``info["converged"]`` is the fraction of columns that met the stopping rule.

    Raises:
        NumericalError: the evidence is not finite (features or targets beyond float64 range, or all-zero
            features with ``fix_high_dim=False``).
    """
    x = data.x.to(compute_dtype(dtype))
    n, d = x.shape
    if data.targets is not None:
        targets = data.targets.to(torch.float64)
        y2 = (targets * targets).sum(dim=0)
        y = targets.to(x.dtype)
    else:
        y2 = data.counts.to(torch.float64)
        y = data.onehot.to(x.dtype)
    sigma, z2, w2 = _spectrum(x, y)
    if not all(bool(torch.isfinite(t).all()) for t in (sigma, z2, y2)):
        raise NumericalError("logme: features or targets too large for the evidence computation in float64")
    icml = solver == "icml"
    evidence, done = _evidence(
        sigma,
        z2,
        y2,
        w2,
        n,
        d_extra=0 if (icml or fix_high_dim) else d - min(n, d),
        tol=_ICML_TOL if icml else tol,
        strict=icml,
        eps=eps,
        eps_in_evidence=icml,
        max_iter=max_iter,
    )
    value = float(evidence.mean())
    if not math.isfinite(value):
        if not (icml or fix_high_dim) and not bool((sigma > 0).any()):
            raise NumericalError(
                "logme: with fix_high_dim=False the evidence of all-zero features is log(0) (the reference "
                "bug's log α term); use fix_high_dim=True"
            )
        raise NumericalError("logme: the evidence is not finite for these inputs")
    return ScoreResult(value, {"converged": float(done.to(torch.float64).mean())})
