"""PARC: Pairwise Annotation Representation Comparison (Bolya, Mittapalli, Hoffman, NeurIPS 2021).

PARC compares two representational dissimilarity matrices (RDMs) over the target samples: that of the
features, RDM_f(i, j) = 1 − corr(f_i, f_j) (Pearson correlation between the two samples' feature
vectors), and that of the labels, RDM_y(i, j) = 1 − corr(onehot(y_i), onehot(y_j)). The score is the
Spearman rank correlation of their strict upper triangles, × 100 (higher is better).

Pipeline as in SFDA's ``PARC_Score``: sklearn ``PCA(n_components=32, svd_solver='randomized',
random_state=1919, iterated_power=1)`` (skipped when D < 32), ``StandardScaler``, then the RDMs. Above
``max_samples`` samples a class-stratified, seeded subsample is scored (the reference computes such a
subsample and then forgets to use it).

The label RDM is exactly two-valued: 0 for same-class pairs and C/(C−1) for the rest. The Spearman
correlation with a two-valued variable is a rank-biserial statistic, computed here from a Mann–Whitney
count (``label_rdm="exact"``, the default) without ever forming an N×N matrix: memory is the
M = N(N−1)/2 feature dissimilarities themselves (float64 up to M = 2²⁵, float32 above: 450 MB at
N = 15 000, against ~6 GB for the reference's dense matrices, triangle indices and rank arrays). The
exact mode gives the same value on every machine (to rounding) and is order-invariant except when
N < D ≥ ``pca_dims``: sklearn's randomized PCA (the reference's call) then draws its random projection
over the samples, so their order picks the (approximate) principal subspace.

``label_rdm="reference"`` (the parity variant) instead computes RDM_y with ``numpy.corrcoef`` on the
one-hot matrix, as SFDA does. Rounding in that product (~1e-16) makes some of the equal label
dissimilarities unequal, and Spearman ranks them apart, so the reference's value depends on the CPU's
BLAS kernel and on the sample order: on the test vectors it lies up to 7 % away from the noise-free
value (the exact mode's), which is also what the reference itself returns on BLAS kernels that compute
that product exactly (OpenBLAS's pre-AVX2 kernels), and a permutation of the samples moves it by up to
4 %. That mode exists only to reproduce published numbers; it forms dense N×N matrices (6.5 GB at
N = 10 000) and runs BLAS single-threaded.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
from scipy.stats import spearmanr
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._params import Interval, Options
from estimators._registry import register_scorer
from estimators.errors import DegenerateInputError

__all__ = ["parc", "stratified_subsample"]

_FLOAT64_MAX_PAIRS = 1 << 25
_BLOCK_ELEMENTS = 1 << 20  # entries of the correlation matrix formed at once (8 MiB of float64)
_RUN_CHUNK = 1 << 20  # sorted values scanned at once when counting ties
_GRID = float(2**40)  # dissimilarities are compared on multiples of 2⁻⁴⁰


def stratified_subsample(codes: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a class-stratified random subsample of ``size`` samples.

    Each class keeps a share proportional to its size (largest-remainder rounding, at least one sample
    per class while ``size`` ≥ C), drawn without replacement with ``numpy.random.default_rng(seed)``.

    Args:
        codes: ``(N,)`` int class codes ``0..C-1``.
        size: the subsample size, < N.
        seed: random seed.
    """
    counts = np.bincount(codes)
    if not counts.size <= size < codes.shape[0]:
        raise ValueError(f"subsample size {size} must be in [C, N) = [{counts.size}, {codes.shape[0]})")
    quota = counts * (size / codes.shape[0])
    take = np.minimum(np.maximum(np.floor(quota).astype(np.int64), 1), counts)
    # Largest remainders first when adding, largest classes first when removing (from the minimum of 1).
    order_add = np.argsort(-(quota - np.floor(quota)), kind="stable")
    while take.sum() < size:
        for c in order_add:
            if take.sum() == size:
                break
            if take[c] < counts[c]:
                take[c] += 1
    order_cut = np.argsort(-take, kind="stable")
    while take.sum() > size:
        for c in order_cut:
            if take.sum() == size:
                break
            if take[c] > 1:
                take[c] -= 1
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(codes == c), size=int(t), replace=False) for c, t in enumerate(take) if t
    ]
    return np.sort(np.concatenate(picked))


def _preprocess(x: np.ndarray, pca_dims: int) -> np.ndarray:
    """PCA (reference call) then standardisation, with exactly constant columns set to 0."""
    n, d = x.shape
    if pca_dims <= d:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # zero total variance: ratio 0/0, unused
            x = PCA(
                n_components=min(pca_dims, n), svd_solver="randomized", random_state=1919, iterated_power=1
            ).fit_transform(x)
    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    # sklearn leaves (near-)constant columns unscaled: their rounding residue is not signal.
    var, mean = scaler.var_, scaler.mean_
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    constant |= x.max(axis=0) == x.min(axis=0)
    z[:, constant] = 0.0
    out: np.ndarray = np.asarray(z, dtype=np.float64)
    return out


def _unit_rows(z: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit norm, so that ``u @ u.T`` is the rows' Pearson correlation."""
    zc = z - z.mean(axis=1, keepdims=True)
    norm: np.ndarray = np.sqrt(np.einsum("ij,ij->i", zc, zc))
    scale = np.sqrt(z.shape[1]) * max(1.0, float(np.max(np.abs(z))))
    flat = norm <= 1e-12 * scale
    if np.any(flat):
        raise DegenerateInputError(
            f"'parc' correlates samples across feature dimensions; {int(flat.sum())} sample(s) have the same "
            "value in every (standardised) dimension, so their correlation is undefined",
            param="features",
        )
    unit: np.ndarray = zc / norm[:, None]
    return unit


def _dissimilarity_groups(u: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Feature dissimilarities 1 − corr of all pairs i < j, split into same-class and cross-class pairs.

    Samples are visited in class order, so in each row the same-class partners form one contiguous run
    of columns; rows are processed in blocks to bound the temporary correlation block.
    """
    n = u.shape[0]
    order = np.argsort(codes, kind="stable")
    u, codes = u[order], codes[order]
    counts = np.bincount(codes)
    ends = np.cumsum(counts)[codes]  # one past the last sample of each row's class
    n_same = int((counts * (counts - 1) // 2).sum())
    n_pairs = n * (n - 1) // 2
    dtype = np.float64 if n_pairs <= _FLOAT64_MAX_PAIRS else np.float32
    same = np.empty(n_same, dtype=dtype)
    cross = np.empty(n_pairs - n_same, dtype=dtype)
    at_same = at_cross = 0
    cols = np.arange(n)
    step = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, n, step):
        stop = min(n, start + step)
        rdm = 1.0 - np.clip(u[start:stop] @ u.T, -1.0, 1.0)
        # GEMM rounding depends on where a pair sits in the block (kernel edges), so equal
        # dissimilarities (e.g. correlations of exactly ±1) come out a few ulp apart depending on the
        # sample order, and ranking would split those ties. Snapping to a 2⁻⁴⁰ grid (~1e-12, far above
        # that noise, far below the spacing of distinct values) restores them.
        rdm = np.rint(rdm * _GRID) / _GRID
        rows = np.arange(start, stop)[:, None]
        upper = cols[None, :] > rows
        in_class = cols[None, :] < ends[start:stop, None]
        part = rdm[upper & in_class]
        same[at_same : at_same + part.size] = part
        at_same += part.size
        part = rdm[~in_class]  # columns past the row's class are all > row
        cross[at_cross : at_cross + part.size] = part
        at_cross += part.size
    return same, cross


def _runs(sorted_values: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Distinct values and their multiplicities of a sorted array, chunk by chunk (chunks end between
    runs), so that memory stays bounded by the chunk size."""
    n, start = sorted_values.shape[0], 0
    while start < n:
        stop = min(n, start + _RUN_CHUNK)
        if stop < n:  # extend to the end of the run straddling the boundary
            stop = int(np.searchsorted(sorted_values, sorted_values[stop - 1], side="right"))
        chunk = sorted_values[start:stop]
        heads = np.concatenate(([0], np.flatnonzero(chunk[1:] != chunk[:-1]) + 1))
        yield chunk[heads], np.diff(np.append(heads, chunk.shape[0]))
        start = stop


def _cubes_minus(t: np.ndarray) -> float:
    """Σ (t³ − t), the tie term of a rank variance, without int64 overflow."""
    t = t[t > 1].astype(np.float64)
    return float(np.sum(t**3 - t))


def _rank_biserial_spearman(same: np.ndarray, cross: np.ndarray) -> float:
    """Spearman correlation between a sample of values and a two-valued indicator (cross-class = high).

    With midranks r of all M = n0 + n1 values, U = Σ_{v ∈ cross} (#{same < v} + ½ #{same = v}) the
    Mann–Whitney count and T = Σ_ties (t³ − t):

        ρ = (U − n0·n1/2) · √(12 M) / √((M³ − M − T) · n0 · n1),

    which is exactly Pearson's correlation of the midranks with the ranks of the indicator (what
    ``scipy.stats.spearmanr`` computes), in O(M log M) time and no memory beyond the two sorted arrays.
    """
    n0, n1 = same.shape[0], cross.shape[0]
    m = n0 + n1
    same.sort()
    cross.sort()
    twice_u = 0
    tie_cross = 0.0
    tie_same = sum(_cubes_minus(t) for _, t in _runs(same))
    tie_within_cross = 0.0
    for values, t1 in _runs(cross):
        lo = np.searchsorted(same, values, side="left")
        hi = np.searchsorted(same, values, side="right")
        twice_u += int(np.sum(t1 * (lo + hi)))
        t0 = (hi - lo).astype(np.float64)
        t1f = t1.astype(np.float64)
        tie_within_cross += _cubes_minus(t1)
        tie_cross += float(np.sum(3 * t0 * t1f * (t0 + t1f)))  # (t0+t1)³ − t0³ − t1³
    ties = tie_same + tie_within_cross + tie_cross
    spread = (float(m) ** 3 - m - ties) * n0 * n1
    if not spread > 0:
        raise DegenerateInputError(
            "'parc': every pair of samples is equally (dis)similar in feature space, so the rank "
            "correlation is undefined",
            param="features",
        )
    return float((twice_u - n0 * n1) / 2 * np.sqrt(12.0 * m) / np.sqrt(spread))


def _reference_label_spearman(z: np.ndarray, codes: np.ndarray) -> float:
    """SFDA's computation verbatim in its numerics: dense RDMs, ``np.corrcoef``, ``spearmanr``."""

    n = z.shape[0]
    onehot = np.eye(int(codes.max()) + 1)[codes]
    iu = np.triu_indices(n, 1)
    with threadpool_limits(limits=1, user_api="blas"):
        rdm_f = (1 - np.corrcoef(z))[iu]
        rdm_y = (1 - np.corrcoef(onehot))[iu]
    rho = spearmanr(rdm_f, rdm_y)[0]
    if not np.isfinite(rho):
        raise DegenerateInputError(
            "'parc': the rank correlation is undefined for these inputs", param="features"
        )
    return float(rho)


@register_scorer(
    "parc",
    needs=("features", "labels"),
    constraints={
        "pca_dims": Interval(1, None, integer=True),
        "max_samples": Interval(2, None, integer=True),
        "random_state": Interval(0, 2**32 - 1, integer=True),
        "label_rdm": Options(("exact", "reference")),
    },
    citation=(
        "Bolya, Mittapalli, Hoffman. Scalable Diverse Model Selection for Accessible Transfer Learning. "
        "NeurIPS 2021."
    ),
    version="2",
)
def parc(
    data: ScoringData,
    *,
    pca_dims: int = 32,
    max_samples: int = 15000,
    random_state: int = 0,
    label_rdm: str = "exact",
) -> ScoreResult:
    """PARC: Spearman correlation (× 100) between the feature and label dissimilarity matrices.

    Args:
        data: validated inputs; uses ``features`` ``(N, D)`` and the label codes ``(N,)``.
        pca_dims: PCA dimensions (the reference's 32); no PCA when D < pca_dims, and at most N
            components when N < pca_dims ≤ D (where the reference raises).
        max_samples: above this many samples a class-stratified subsample of this size is scored (the
            pairwise cost is O(N²)).
        random_state: seed of that subsample.
        label_rdm: ``"exact"`` (default: the two-valued label RDM; machine-independent, O(N²/2)
            memory; order-invariant unless N < D, see the module docstring) or ``"reference"`` (SFDA's
            PARC_Score step for step, including its rounding-dependent ties; dense O(N²) memory; for
            parity with published numbers). Version 2 made ``"exact"`` the default.

    Returns:
        The score in [−100, 100] with ``info``: ``samples`` (scored), ``subsampled``, ``dims`` (after PCA).

    Raises:
        DegenerateInputError: fewer than 2 feature dimensions, no class with two samples (no same-class
            pair), a sample whose standardised features are all equal, all pairs equally similar, or
            max_samples below the number of classes when subsampling.

    Cost: O(N·D·32) for the PCA, O(N²·d) time for the correlations, O(N² log N) for the ranking,
    O(N²/2) memory (see the module docstring).
    """
    x, codes = data.features_numpy, data.labels_numpy
    subsampled = data.n > max_samples
    if subsampled and max_samples < data.num_classes:
        raise DegenerateInputError(
            f"'parc' keeps at least one sample per class when subsampling, so max_samples ({max_samples}) "
            f"must be at least the number of classes ({data.num_classes})",
            param="max_samples",
        )
    if subsampled:
        keep = stratified_subsample(codes, max_samples, random_state)
        x, codes = x[keep], np.unique(codes[keep], return_inverse=True)[1].reshape(-1)
    counts = np.bincount(codes)
    if counts.size < 2 or not np.any(counts >= 2):
        raise DegenerateInputError(
            "'parc' needs at least two classes and a class with two samples (a same-class pair)",
            param="labels",
        )
    z = _preprocess(x, pca_dims)
    if z.shape[1] < 2:
        raise DegenerateInputError(
            "'parc' correlates samples across feature dimensions and needs at least 2, got 1",
            param="features",
        )
    if label_rdm == "reference":
        rho = _reference_label_spearman(z, codes)
    else:
        same, cross = _dissimilarity_groups(_unit_rows(z), codes)
        rho = _rank_biserial_spearman(same, cross)
    info = {"samples": int(codes.shape[0]), "subsampled": subsampled, "dims": int(z.shape[1])}
    return ScoreResult(100.0 * rho, info)
