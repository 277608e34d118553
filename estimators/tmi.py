"""TMI — Transferability Measurement with Intra-class feature variance (Xu & Kang, ICCV 2023).

TMI estimates the conditional entropy H(X | Y) of the target features given the labels: the larger the
intra-class spread of a pre-trained model's features, the more room fine-tuning has to adapt them, and the
more transferable the model is taken to be (higher = better, as the reference reports it).

Per class ``c`` with ``n_c`` samples ``X_c`` ``(n_c, D)`` the differential entropy is the
Kozachenko–Leonenko k-nearest-neighbour estimate in nats (Kraskov et al. 2004 form, max norm)::

    h_c = ψ(n_c) − ψ(k) + log c_D + (D / n_c) · Σ_i log(2 ε_i)

with ε_i the Chebyshev distance from sample i to its k-th nearest *other* sample of the class, floored at
``min_dist`` (the floor keeps duplicates from giving log 0), ψ the digamma function and ``log c_D = 0`` for
the max norm. Then ``TMI = (1/|K|) Σ_{c∈K} (n_c/N) · h_c``, i.e. H(X|Y)/|K| up to the kept set ``K``:

* classes with 0 or 1 sample contribute ``h_c = 0`` and still count in ``K`` (the reference's rule);
* classes with ``2 ≤ n_c ≤ k`` have no k-th neighbour (the reference's kd-tree pads with ``inf``) and are
  dropped from ``K``.

Reference: ``snudatalab/TMI`` ``src/trf_measurement.py::TMI`` (defaults ``k=3``, ``norm='max'``,
``min_dist=1.0``). Differences, none of which changes a finite reference value: the global centring is
skipped (distances are translation invariant); nearest neighbours are exact brute force per class in
row chunks (a kd-tree degenerates at D ≥ 512 anyway) so no ``N × N`` array is ever built; when no class has
more than ``k`` samples there is no entropy estimate at all (the reference returns NaN, or a meaningless 0
when every class is a singleton) and :class:`~estimators.errors.DegenerateInputError` is raised.
"""

from __future__ import annotations

import math

import torch
from scipy.special import digamma

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._params import Interval, Options
from estimators._registry import register_scorer
from estimators.errors import DegenerateInputError, NumericalError

CITATION = (
    "Xu, H., Kang, U. Fast and Accurate Transferability Measurement by Evaluating Intra-class Feature "
    "Variance. ICCV 2023."
)

#: elements of one block of the distance matrix (32 MiB in float64).
_BLOCK_ELEMENTS = 1 << 22


def kth_neighbour_distances(x: torch.Tensor, k: int, p: float) -> torch.Tensor:
    """Distance from every row of ``x`` to its k-th nearest other row, by exact brute force.

    Args:
        x: ``(n, D)`` points, ``n > k``.
        k: neighbour rank, ``1 ≤ k < n``.
        p: the norm, ``inf`` (Chebyshev) or 2 (Euclidean).

    Returns:
        ``(n,)`` distances. Duplicated points are other points at distance 0; the self-distance is 0 too,
        so the (k+1)-th smallest distance to all rows (self included) is the k-th to the others.

    Memory is ``O(b·n)`` for row blocks of ``b`` rows, never ``n × n`` for large ``n``.
    """
    n = x.shape[0]
    rows = max(1, min(n, _BLOCK_ELEMENTS // max(n, 1)))
    out = torch.empty(n, dtype=x.dtype, device=x.device)
    for start in range(0, n, rows):
        block = x[start : start + rows]
        # The mm-based Euclidean shortcut loses precision; the direct kernel is exact enough for p=2 and
        # exact (one rounding per coordinate) for p=inf.
        dist = torch.cdist(block, x, p=p, compute_mode="donot_use_mm_for_euclid_dist")
        out[start : start + rows] = torch.topk(dist, k + 1, dim=1, largest=False).values[:, k]
    return out


def _log_unit_ball(norm: str, d: int) -> float:
    """``log c_D`` of the estimator: 0 for the max norm; the reference's log π^{D/2}/Γ(D/2+1) for L2."""
    if norm == "max":
        return 0.0
    return (d / 2.0) * math.log(math.pi) - math.lgamma(d / 2.0 + 1.0)


@register_scorer(
    "tmi",
    constraints={
        "k": Interval(1, None, integer=True),
        "norm": Options(("max", "euclidean")),
        "min_dist": Interval(0.0, None, closed="neither"),
    },
    min_classes=2,
    min_per_class=1,
    citation=CITATION,
    version="1",
)
def tmi(data: ScoringData, *, k: int = 3, norm: str = "max", min_dist: float = 1.0) -> ScoreResult:
    """TMI: class-averaged conditional entropy H(X|Y) of the features, kNN estimate (higher = better).

    Args:
        data: validated inputs: ``features`` ``(N, D)`` (penultimate features), ``labels`` ``(N,)``.
        k: the neighbour rank of the Kozachenko–Leonenko estimator.
        norm: ``"max"`` (Chebyshev, the reference default) or ``"euclidean"`` (the reference's L2 variant,
            which keeps its ``log(2ε)`` with the unit-ball volume; ``lgamma`` replaces its overflowing
            ``gamma`` for D > 340).
        min_dist: floor on the k-th neighbour distance (absolute units of the features: small-scale
            features are floored everywhere and every class entropy becomes a constant).

    Returns:
        The score with ``info``: ``kept_classes``, ``dropped_classes`` (2..k samples), ``singleton_classes``
        and ``fraction_floored`` (share of kNN distances raised to ``min_dist``).

    Raises:
        DegenerateInputError: no class has more than ``k`` samples.
        NumericalError: feature differences overflow float64.
    """
    x = data.x
    codes = data.codes
    n, d = x.shape
    counts = data.counts.tolist()
    if max(counts) <= k:
        raise DegenerateInputError(
            f"TMI needs at least one class with more than k={k} samples for a k-NN entropy estimate; "
            f"the largest class has {max(counts)}",
            param="labels",
        )
    p = math.inf if norm == "max" else 2.0
    log_c = _log_unit_ball(norm, d)
    log_k = float(digamma(k))
    terms: list[float] = []
    dropped = singletons = floored = measured = 0
    for c, n_c in enumerate(counts):
        if n_c <= 1:
            terms.append(0.0)
            singletons += 1
            continue
        if n_c <= k:
            dropped += 1
            continue
        eps = kth_neighbour_distances(x[codes == c], k, p)
        diameters = 2.0 * eps.clamp_min(min_dist)
        if not bool(torch.isfinite(diameters).all()):
            raise NumericalError(
                "TMI: a nearest-neighbour distance overflows float64; rescale the features", scorer="tmi"
            )
        floored += int((eps < min_dist).sum())
        measured += n_c
        sum_log = float(torch.log(diameters).sum())
        h_c = float(digamma(n_c)) - log_k + log_c + (d / n_c) * sum_log
        terms.append((n_c / n) * h_c)
    value = sum(terms) / len(terms)
    info = {
        "kept_classes": len(terms),
        "dropped_classes": dropped,
        "singleton_classes": singletons,
        "fraction_floored": floored / measured,
    }
    return ScoreResult(value, info)
