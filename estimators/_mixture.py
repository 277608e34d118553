"""Gaussian-mixture EM for NLEEP: scikit-learn's ``GaussianMixture`` step for step, batched in torch.

The fit reproduces ``sklearn.mixture.GaussianMixture(n_components=K, covariance_type=..., random_state=s)``
with every other default: the k-means start (scikit-learn's own ``KMeans(n_clusters=K, n_init=1)`` with the
same seed, so the same labels), ``reg_covar = 1e-6`` added to every variance, ``tol = 1e-3`` on the change
of the mean log-likelihood, at most 100 EM iterations, weights ``n_k / N`` at the start and ``n_k / Σ n_k``
after, ``n_k = Σ_i r_ik + 10·eps``, and the posteriors of the final parameters. Only the arithmetic of the
full-covariance E and M steps is arranged differently, to run at the scale where scikit-learn's loop over
components (K matrices of d × d, N·d² work per component and step) does not:

* **Support.** Component k's scatter only has rows with ``r_ik > 0``; after the k-means start and in high
  dimension most responsibilities are exactly 0 (they underflow), so each component is built from its
  ``m_k`` support rows, ``A_k = √(r_ik / n_k)·(x_i − μ_k)`` ``(m_k, d)``, and
  ``Σ_k = A_kᵀA_k + reg·I``. Skipping exact zeros changes only the order of the sums.
* **Low rank (m_k < d).** Then ``Σ_k`` is ``reg·I`` plus a rank-m_k term, and Woodbury and the determinant
  lemma give, with ``G_k = reg·I_m + A_k A_kᵀ = L Lᵀ`` and ``u = L⁻¹ A_k (x − μ_k)``::

      (x − μ)ᵀ Σ⁻¹ (x − μ) = (‖x − μ‖² − ‖u‖²) / reg,   log det Σ = (d − m)·log reg + log det G.

  That costs N·d·m_k per component instead of N·d², with no d × d matrix at all. The subtraction loses
  about ``eps·‖x‖² / reg`` (≈ 1e-7 on RMS-normalised features) in the Mahalanobis term, the same order as
  the reference's own Cholesky of a matrix of condition ~λ_max / reg.
* **Dense (m_k ≥ d).** The d × d covariance, its Cholesky factor and a triangular solve, as in
  scikit-learn.
* **Batches.** Components are grouped (by support size; zero rows pad a batch exactly: each adds one
  ``reg`` to G's diagonal and one ``log reg`` that the ``(d − m)`` term takes back) so that every step is a
  few large batched products, and samples are processed in chunks, which bounds the working memory by
  ``chunk_bytes`` whatever N, K and d are. The E step of the next iteration is fused into the M step:
  each batch of new parameters is turned into its column of log-densities at once and then dropped, so
  the model itself is never held (K·d² floats would be 4.6 GB at K = 500, d = 1077).

``covariance_type="diag"`` is scikit-learn's diagonal model with the same formulas (N·K·d per step).

Everything runs on the device of the features (CPU or CUDA) in float64; the k-means start runs on the CPU
in scikit-learn. :func:`estimate_cost` predicts time and memory before anything is fitted.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from estimators.errors import NumericalError

__all__ = ["MixtureFit", "MixtureCost", "estimate_cost", "fit_mixture_posteriors"]

REG_COVAR = 1e-6
TOL = 1e-3
MAX_ITER = 100
#: working memory of one batch of components (the products and solves of the E step).
CHUNK_BYTES = 256 << 20
#: float64 throughput the time estimate assumes: a modest 2-core CPU (this project's development machine
#: measures 15–40 GFLOP/s on float64 GEMM depending on load). A GPU is far faster, so the estimate errs
#: on the safe side there.
FLOPS_PER_SECOND = 1.5e10
#: k-means (Lloyd) iterations and EM iterations the estimate assumes. Both stop at a tolerance well before
#: their caps (300 and 100) on real features: full-covariance EM in high dimension saturates the posteriors
#: to 0/1 within two or three steps, and k-means on PCA'd features settles within a few dozen.
KMEANS_ITERATIONS = 30
EM_ITERATIONS = 10


@dataclass(frozen=True)
class MixtureCost:
    """Predicted cost of one mixture fit.

    Attributes:
        seconds: predicted wall time at :data:`FLOPS_PER_SECOND`.
        bytes: predicted peak working memory beyond the input features.
    """

    seconds: float
    bytes: int


@dataclass(frozen=True)
class MixtureFit:
    """Outcome of :func:`fit_mixture_posteriors`.

    Attributes:
        posteriors: ``(N, K)`` float64 component posteriors of the final parameters (rows sum to 1).
        iterations: EM iterations run.
        converged: whether the change of the mean log-likelihood fell below the tolerance.
        lower_bound: the final mean log-likelihood.
    """

    posteriors: torch.Tensor
    iterations: int
    converged: bool
    lower_bound: float


def estimate_cost(n: int, d: int, k: int, covariance_type: str) -> MixtureCost:
    """Predict the time and peak memory of fitting a K-component mixture to ``(N, d)`` features.

    The model counts floating-point operations of the k-means start (k-means++ seeding with
    ``2 + ln K`` candidates per centre, then :data:`KMEANS_ITERATIONS` Lloyd steps) and of
    :data:`EM_ITERATIONS` EM steps. A full-covariance step costs ``N·d·S`` twice (scatter and E step) for
    the support size ``S = Σ_k min(m_k, d)``; the estimate takes ``S = min(N, K·d)`` when the components
    are rank-deficient (``N / K < d``: posteriors saturate to 0/1, so Σ m_k ≈ N), else ``K·d`` (dense
    posteriors). Memory: the ``(N, K)`` log-densities, responsibilities and their support indices, the
    features and k-means' copy, and one :data:`CHUNK_BYTES` batch.

    Args:
        n, d, k: samples, feature dimensions (after PCA), mixture components.
        covariance_type: ``"full"`` or ``"diag"``.
    """
    seeding = 2.0 * (2 + math.log(max(k, 2))) * k * n * d
    lloyd = KMEANS_ITERATIONS * 3.0 * n * k * d
    means = 2.0 * n * k * d
    if covariance_type == "diag":
        step = 3 * 2.0 * n * k * d + 10.0 * n * k
        work = 5 * 8 * n * k
    else:
        support = min(n, k * d) if n < k * d else k * d
        step = 2.0 * n * d * support * 2 + means + 10.0 * n * k
        work = 5 * 8 * n * k + 16 * n * k + CHUNK_BYTES
    flops = seeding + lloyd + EM_ITERATIONS * step
    memory = work + 3 * 8 * n * d
    return MixtureCost(seconds=flops / FLOPS_PER_SECOND, bytes=int(memory))


def _kmeans_labels(x: np.ndarray, k: int, random_state: int) -> np.ndarray:
    """scikit-learn's start: ``KMeans(n_clusters=K, n_init=1)`` seeded as ``GaussianMixture`` seeds it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct points than clusters
        km = KMeans(n_clusters=k, n_init=1, random_state=np.random.RandomState(random_state)).fit(x)
    labels: np.ndarray = km.labels_
    return labels


def _breakdown(what: str) -> NumericalError:
    return NumericalError(
        f"'nleep': the Gaussian mixture fit broke down ({what}: ill-defined empirical covariance)",
        scorer="nleep",
    )


def _diag_log_density(x: torch.Tensor, resp: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """M step of the diagonal model from ``resp`` ``(N, K)``, then its weighted log-densities ``(N, K)``.

    ``weights`` ``(K,)`` are the mixture weights already computed from the same responsibilities.
    """
    eps = torch.finfo(torch.float64).eps
    nk = resp.sum(0) + 10 * eps
    means = (resp.T @ x) / nk[:, None]
    cov = (resp.T @ (x * x)) / nk[:, None] - means**2 + REG_COVAR
    if bool((cov <= 0).any()):
        raise _breakdown("non-positive variance")
    prec = 1.0 / cov
    log_det = -0.5 * torch.log(cov).sum(1)
    quad = (means**2 * prec).sum(1) - 2.0 * (x @ (means * prec).T) + (x * x) @ prec.T
    d = x.shape[1]
    out: torch.Tensor = -0.5 * (d * math.log(2 * math.pi) + quad) + log_det + torch.log(weights)
    return out


def _batches(order: list[int], m: list[int], d: int, budget: int) -> list[tuple[list[int], bool]]:
    """Split components (sorted by support size ``m``) into low-rank (m < d) and dense batches whose
    factors, ``width·(2d + width)`` floats per component with ``width = min(m, d)``, fit ``budget`` bytes."""
    out: list[tuple[list[int], bool]] = []
    for dense in (False, True):
        group = [j for j in order if (m[j] >= d) == dense]
        start = 0
        while start < len(group):
            stop = start + 1
            while stop < len(group):
                width = d if dense else max(m[group[stop]], 1)
                if (stop + 1 - start) * 8 * width * (2 * d + width) > budget:
                    break
                stop += 1
            out.append((group[start:stop], dense))
            start = stop
    return out


def _full_log_density(
    x: torch.Tensor, resp: torch.Tensor, weights: torch.Tensor, chunk_bytes: int
) -> torch.Tensor:
    """M step of the full-covariance model from ``resp`` ``(N, K)``, fused with the E step's densities.

    Returns the ``(N, K)`` weighted log-densities ``log w_k + log N(x_i; μ_k, Σ_k)`` of the new parameters;
    the parameters themselves are built batch by batch and dropped (see the module docstring).
    """
    n, d = x.shape
    k = resp.shape[1]
    eps = torch.finfo(torch.float64).eps
    nk = resp.sum(0) + 10 * eps
    means = (resp.T @ x) / nk[:, None]
    sq_x = (x * x).sum(1)  # (N,)
    sq_mu = (means * means).sum(1)  # (K,)
    out = torch.empty(n, k, dtype=x.dtype, device=x.device)
    const = d * math.log(2 * math.pi)
    log_reg = math.log(REG_COVAR)

    # Support of every component: (component, sample) pairs with r_ik > 0, grouped by component.
    comp, rows = torch.nonzero(resp.T > 0, as_tuple=True)
    m = torch.bincount(comp, minlength=k)
    starts = torch.cumsum(m, 0) - m
    scale = torch.sqrt(resp[rows, comp] / nk[comp])
    m_list, start_list = m.tolist(), starts.tolist()  # host copies: no device sync per component
    order = sorted(range(k), key=lambda j: m_list[j])
    for batch, dense in _batches(order, m_list, d, chunk_bytes // 2):
        idx = torch.tensor(batch, device=x.device)
        b = len(batch)
        width = d if dense else max(m_list[batch[-1]], 1)  # batches are sorted by support size
        # A: (b, width, d), zero rows past each component's support (exact padding, see above).
        a = torch.zeros(b, max(m_list[batch[-1]], 1), d, dtype=x.dtype, device=x.device)
        for slot, j in enumerate(batch):
            s, c = start_list[j], m_list[j]
            if c:
                a[slot, :c] = scale[s : s + c, None] * (x[rows[s : s + c]] - means[j])
        mu = means[idx]  # (b, d)
        # Samples per chunk: two (b, width, chunk) temporaries in the other half of the budget.
        cols = max(1, chunk_bytes // (2 * 8 * 2 * b * width))
        if dense:
            cov = a.transpose(1, 2) @ a
            cov.diagonal(dim1=1, dim2=2).add_(REG_COVAR)
            chol, info = torch.linalg.cholesky_ex(cov)
            if bool((info != 0).any()):
                raise _breakdown("Cholesky factorisation failed")
            log_det = 2.0 * torch.log(chol.diagonal(dim1=1, dim2=2)).sum(1)  # (b,)
            for lo in range(0, n, cols):
                diff = x[lo : lo + cols].T.unsqueeze(0) - mu.unsqueeze(2)  # (b, d, c)
                y = torch.linalg.solve_triangular(chol, diff, upper=False)
                maha = (y * y).sum(1)  # (b, c)
                out[lo : lo + cols, idx] = (-0.5 * (const + maha + log_det[:, None])).T
        else:
            gram = a @ a.transpose(1, 2)
            gram.diagonal(dim1=1, dim2=2).add_(REG_COVAR)
            chol, info = torch.linalg.cholesky_ex(gram)
            if bool((info != 0).any()):
                raise _breakdown("Cholesky factorisation failed")
            log_det = (d - width) * log_reg + 2.0 * torch.log(chol.diagonal(dim1=1, dim2=2)).sum(1)
            a_mu = (a @ mu.unsqueeze(2)).squeeze(2)  # (b, width)
            for lo in range(0, n, cols):
                xs = x[lo : lo + cols]
                v = torch.matmul(a, xs.T) - a_mu.unsqueeze(2)  # (b, width, c)
                u = torch.linalg.solve_triangular(chol, v, upper=False)
                sq_diff = sq_x[lo : lo + cols].unsqueeze(0) - 2.0 * (mu @ xs.T) + sq_mu[idx].unsqueeze(1)
                maha = (sq_diff - (u * u).sum(1)) / REG_COVAR  # (b, c)
                out[lo : lo + cols, idx] = (-0.5 * (const + maha + log_det[:, None])).T
    out += torch.log(weights)
    return out


def fit_mixture_posteriors(
    x: torch.Tensor,
    k: int,
    *,
    covariance_type: str = "full",
    random_state: int = 0,
    chunk_bytes: int = CHUNK_BYTES,
) -> MixtureFit:
    """Fit a K-component Gaussian mixture to ``x`` ``(N, d)`` and return the posteriors ``(N, K)``.

    scikit-learn's ``GaussianMixture(n_components=K, covariance_type=covariance_type,
    random_state=random_state).fit(x).predict_proba(x)`` up to rounding (see the module docstring).

    Args:
        x: ``(N, d)`` float64 features on any device; ``N ≥ K``.
        k: number of components.
        covariance_type: ``"full"`` or ``"diag"``.
        random_state: seed of the k-means start.
        chunk_bytes: working-memory bound of one batch.

    Raises:
        NumericalError: a covariance is not positive definite (scikit-learn's "ill-defined empirical
            covariance").
    """
    n = x.shape[0]
    labels = torch.from_numpy(_kmeans_labels(x.detach().cpu().numpy(), k, random_state)).to(x.device)
    resp = torch.zeros(n, k, dtype=x.dtype, device=x.device)
    resp[torch.arange(n, device=x.device), labels] = 1.0

    def densities(resp: torch.Tensor, first: bool) -> torch.Tensor:
        nk = resp.sum(0) + 10 * torch.finfo(torch.float64).eps
        weights = nk / n if first else nk / nk.sum()
        if covariance_type == "diag":
            return _diag_log_density(x, resp, weights)
        return _full_log_density(x, resp, weights, chunk_bytes)

    weighted = densities(resp, True)
    del resp
    lower_bound, converged, iterations = -math.inf, False, 0
    for step in range(1, MAX_ITER + 1):
        iterations, previous = step, lower_bound
        log_norm = torch.logsumexp(weighted, dim=1)
        resp = torch.exp(weighted - log_norm[:, None])
        weighted = densities(resp, False)
        del resp
        lower_bound = float(log_norm.mean())
        if abs(lower_bound - previous) < TOL:
            converged = True
            break
    log_norm = torch.logsumexp(weighted, dim=1)
    posteriors = torch.exp(weighted - log_norm[:, None])
    if not bool(torch.isfinite(posteriors).all()):
        raise _breakdown("non-finite posteriors")
    return MixtureFit(posteriors, iterations, converged, lower_bound)
