"""GBC: Gaussian Bhattacharyya Coefficient (Pándy et al., CVPR 2022).

Each target class c is modelled as a Gaussian N(μ_c, diag(v_c)) in a PCA-reduced feature space; the more
the classes overlap, the harder the target task is for these features. With σ̄ = (v_i + v_j) / 2, the
Bhattacharyya distance between classes i and j is

    D_B(i, j) = (1/8) Σ_d (μ_i − μ_j)_d² / σ̄_d + ½ [log σ̄ − ½ log v_i − ½ log v_j],

the Bhattacharyya coefficient is BC = exp(−D_B) ∈ (0, 1], and

    GBC = −Σ_i Σ_{j≠i} BC(i, j)   ∈ [−C(C−1), 0],   higher (less overlap) is better.

Following the google reference (``stable_transfer/transferability/gbc.py`` and its configs): PCA to 64
dimensions, per-class *population* variances floored at 1e-4 per dimension, and ``gaussian="spherical"``
replaces each v_c by its mean over dimensions. In the spherical case the log term is evaluated on the
scalars, i.e. it is **not** multiplied by the dimension while the Mahalanobis term sums over all of them
(the reference's convention, kept so that published GBC numbers are comparable). ``"diagonal"`` keeps
per-dimension variances and sums the log term over dimensions.
"""

from __future__ import annotations

import torch

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._linalg import class_sums
from estimators._params import Interval, Options
from estimators._registry import register_scorer

__all__ = ["gbc", "pca_project"]

VARIANCE_FLOOR = 1e-4
_PAIR_BLOCK_ELEMENTS = 1 << 22  # class pairs × dims evaluated at once (32 MiB of float64)


def pca_project(x: torch.Tensor, n_components: int) -> torch.Tensor:
    """Scores of ``x`` on its top principal components (exact PCA, as ``svd_solver='full'``).

    Args:
        x: ``(N, D)`` float tensor.
        n_components: k ≤ min(N, D).

    Returns:
        ``(N, k)`` centred projections, ordered by decreasing variance. Component signs are arbitrary,
        which no quantity of GBC depends on.

    Uses the eigen-decomposition of the smaller of the D×D covariance and the N×N Gram matrix (O(N·D·
    min(N, D)), one GEMM plus a small ``eigh``) and runs on the device of ``x``. Columns that are exactly
    constant are centred to exact zeros, so rounding in their mean cannot masquerade as variance.
    """
    constant = x.amax(dim=0) == x.amin(dim=0)
    xc = x - x.mean(dim=0)
    xc[:, constant] = 0
    n, d = xc.shape
    vals: torch.Tensor
    vecs: torch.Tensor
    if d <= n:
        _, vecs = torch.linalg.eigh(xc.T @ xc)  # ascending eigenvalues
        out: torch.Tensor = xc @ vecs[:, -n_components:].flip(1)
        return out
    vals, vecs = torch.linalg.eigh(xc @ xc.T)
    out = vecs[:, -n_components:].flip(1) * vals[-n_components:].flip(0).clamp_min(0).sqrt()
    return out


@register_scorer(
    "gbc",
    needs=("features", "labels"),
    constraints={
        "pca_dims": Interval(1, None, integer=True),
        "gaussian": Options(("spherical", "diagonal")),
    },
    citation=(
        "Pándy, Agostinelli, Uijlings, Ferrari, Mensink. Transferability Estimation using Bhattacharyya "
        "Class Separability. CVPR 2022."
    ),
    version="1",
)
def gbc(data: ScoringData, *, pca_dims: int = 64, gaussian: str = "spherical") -> ScoreResult:
    """GBC: minus the summed pairwise Bhattacharyya coefficients of per-class Gaussians.

    Args:
        data: validated inputs; uses ``features`` ``(N, D)`` and the label codes ``(N,)``.
        pca_dims: dimensions kept by the PCA (fewer when min(N, D) is smaller).
        gaussian: ``"spherical"`` (one variance per class, the reference default) or ``"diagonal"``.

    Returns:
        The score in [−C(C−1), 0] with ``info["pca_dims"]``, the dimensions actually used.

    A class with one sample has zero variance, floored to 1e-4; the floor is absolute (as in the
    reference), so GBC depends on the units of the features: scaled far below 1e-2 every class looks
    like the same point and GBC tends to −C(C−1).

    Cost: PCA O(N·D·min(N, D)), then O(N·k + C²·k) with k = pca_dims; memory O(N·k + C·k).
    """
    x = data.x
    k = min(pca_dims, x.shape[0], x.shape[1])
    z = pca_project(x, k)
    counts = data.counts.to(z.dtype)[:, None]
    means = class_sums(z, data.codes, data.num_classes) / counts  # (C, k)
    resid = z - means.index_select(0, data.codes)
    var = (class_sums(resid * resid, data.codes, data.num_classes) / counts).clamp_min(VARIANCE_FLOOR)
    if gaussian == "spherical":
        var = var.mean(dim=1, keepdim=True)  # (C, 1)
    log_var = torch.log(var)
    c = data.num_classes
    total = torch.zeros((), dtype=z.dtype, device=z.device)
    rows = max(1, _PAIR_BLOCK_ELEMENTS // max(1, c * k))
    for start in range(0, c, rows):
        i = slice(start, start + rows)
        avg = (var[i, None, :] + var[None, :, :]) / 2  # (b, C, 1 or k)
        mahalanobis = ((means[i, None, :] - means[None, :, :]) ** 2 / avg).sum(dim=2) / 8
        log_term = (torch.log(avg) - (log_var[i, None, :] + log_var[None, :, :]) / 2).sum(dim=2) / 2
        bc = torch.exp(-(mahalanobis + log_term))  # (b, C)
        diag = torch.arange(start, min(start + rows, c), device=z.device)
        bc[diag - start, diag] = 0  # j ≠ i
        total = total + bc.sum()
    return ScoreResult(float(-total), {"pca_dims": k})
