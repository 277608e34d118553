"""Class-stratified, seeded subsampling of a labelled dataset.

The rule (``stratified-v1``; bump :data:`SAMPLING_ALGORITHM` if it ever changes, since it is part of every
feature-store key):

1. Each class's samples (in dataset order) are shuffled with one ``numpy.random.default_rng(seed)``,
   visiting classes in label order. The selection takes a prefix of each shuffled list, so a larger cap
   gives a superset of a smaller one.
2. ``max_per_class`` caps every class.
3. If more than ``max_samples`` remain, the budget is split across classes: every class first gets one
   sample (so no class disappears while the budget allows it), the rest is shared in proportion to what
   each class has left, by the largest-remainder method (ties to the lower label). With fewer budget
   than classes, ``max_samples`` classes drawn by the same generator keep one sample each.
4. The chosen indices are returned sorted, so the subset keeps the dataset's stable order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.datasets._dataset import Dataset

__all__ = ["MAX_CAP", "MAX_SEED", "SAMPLING_ALGORITHM", "SamplingSpec", "stratified_indices", "subsample"]

SAMPLING_ALGORITHM = "stratified-v1"
#: Largest cap: counts times caps stay exact in the int64 arithmetic of the budget split.
MAX_CAP = 2**31 - 1
#: Largest seed: 32 bits, so that no two accepted seeds alias one generator state by accident.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class SamplingSpec:
    """Which samples of a dataset are used.

    Attributes:
        max_per_class: most samples per class (None: no cap).
        max_samples: most samples in total (None: no cap).
        seed: seed of the per-class shuffles.
    """

    max_per_class: int | None = None
    max_samples: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("max_per_class", "max_samples"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CAP
            ):
                raise ValueError(
                    f"The {name!r} parameter of SamplingSpec must be an int in [1, {MAX_CAP}] or None. "
                    f"Got {value!r} instead."
                )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(
                f"The 'seed' parameter of SamplingSpec must be an int in [0, {MAX_SEED}]. "
                f"Got {self.seed!r} instead."
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, including the algorithm version (part of feature-store keys)."""
        return {
            "algorithm": SAMPLING_ALGORITHM,
            "max_per_class": self.max_per_class,
            "max_samples": self.max_samples,
            "seed": self.seed,
        }


def _largest_remainder(budget: int, weights: np.ndarray) -> np.ndarray:
    """Integers summing to ``budget``, proportional to ``weights`` (ties to the lower index)."""
    weights = weights.astype(np.int64)
    total = int(weights.sum())
    if total == 0 or budget == 0:
        return np.zeros_like(weights)
    # Exact integer arithmetic: quota = floor(w * budget / total), remainder decides the leftovers.
    scaled = weights * budget
    quota = scaled // total
    remainder = scaled % total
    short = budget - int(quota.sum())
    if short:
        # Stable sort on the negated remainder: largest remainder first, lower index on ties.
        order = np.argsort(-remainder, kind="stable")
        quota[order[:short]] += 1
    capped: np.ndarray = np.minimum(quota, weights)
    return capped


def stratified_indices(labels: np.ndarray, spec: SamplingSpec) -> np.ndarray:
    """Indices of the selected samples.

    Args:
        labels: (N,) integer class labels (any non-negative ints; classes are visited in sorted order).
        spec: the caps and seed.

    Returns:
        (M,) int64 sorted unique indices into ``labels``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    rng = np.random.default_rng(spec.seed)
    classes = np.unique(labels)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    available = np.array([len(p) for p in per_class], dtype=np.int64)
    if spec.max_per_class is not None:
        available = np.minimum(available, spec.max_per_class)
    take = available
    if spec.max_samples is not None and int(available.sum()) > spec.max_samples:
        budget = spec.max_samples
        if budget >= len(classes):
            base = np.ones_like(available)  # every class has >= 1 sample, so this fits
            take = base + _largest_remainder(budget - len(classes), available - base)
        else:
            take = np.zeros_like(available)
            take[rng.choice(len(classes), size=budget, replace=False)] = 1
    chosen = [p[:k] for p, k in zip(per_class, take, strict=True)]
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def subsample(dataset: Dataset, spec: SamplingSpec) -> Dataset:
    """The stratified subset of ``dataset`` described by ``spec`` (the dataset itself when nothing is cut)."""
    idx = stratified_indices(dataset.labels, spec)
    if len(idx) == len(dataset):
        return dataset
    return dataset.subset(idx)
