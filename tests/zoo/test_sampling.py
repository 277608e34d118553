"""Class-stratified seeded subsampling: exact caps, proportional strata, determinism (Hypothesis)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.datasets import ArrayImages, Dataset, SamplingSpec, stratified_indices, subsample
from zoo.datasets.sampling import MAX_CAP, MAX_SEED

labels_st = st.lists(st.integers(0, 7), min_size=0, max_size=300).map(lambda v: np.array(v, dtype=np.int64))
cap_st = st.one_of(st.none(), st.integers(1, 60))
PROPS = settings(max_examples=300, deadline=None, derandomize=True)


def _counts(labels: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(labels, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


@PROPS
@given(labels=labels_st, per_class=cap_st, total=cap_st, seed=st.integers(0, 2**32 - 1))
def test_caps_are_exact(labels: np.ndarray, per_class: int | None, total: int | None, seed: int) -> None:
    spec = SamplingSpec(max_per_class=per_class, max_samples=total, seed=seed)
    idx = stratified_indices(labels, spec)
    assert idx.dtype == np.int64
    assert np.all(np.diff(idx) > 0), "indices must be sorted and unique"
    assert idx.size == 0 or (idx[0] >= 0 and idx[-1] < len(labels))
    got = _counts(labels[idx])
    capped = {c: min(n, per_class or n) for c, n in _counts(labels).items()}
    expected_total = sum(capped.values()) if total is None else min(total, sum(capped.values()))
    assert len(idx) == expected_total  # never fewer than the caps allow
    for c, n in got.items():
        assert n <= capped[c]


@PROPS
@given(labels=labels_st, per_class=cap_st, total=st.integers(1, 200), seed=st.integers(0, 1000))
def test_budget_is_split_in_proportion(
    labels: np.ndarray, per_class: int | None, total: int, seed: int
) -> None:
    spec = SamplingSpec(max_per_class=per_class, max_samples=total, seed=seed)
    got = _counts(labels[stratified_indices(labels, spec)])
    avail = {c: min(n, per_class or n) for c, n in _counts(labels).items()}
    n_avail, k = sum(avail.values()), len(avail)
    if n_avail <= total:
        assert got == avail
        return
    if total < k:
        assert sorted(got.values()) == [1] * total  # one sample from each of `total` classes
        return
    # Every class keeps one sample; the rest is shared in proportion to what each class has beyond it.
    assert set(got) == set(avail)
    rest, spare = total - k, n_avail - k
    for c, n in avail.items():
        share = 1 + rest * (n - 1) / spare
        assert abs(got[c] - share) < 1, (c, got[c], share)


@PROPS
@given(labels=labels_st, per_class=cap_st, total=cap_st, seed=st.integers(0, 10_000))
def test_same_seed_same_sample_and_nested_caps(
    labels: np.ndarray, per_class: int | None, total: int | None, seed: int
) -> None:
    spec = SamplingSpec(max_per_class=per_class, max_samples=total, seed=seed)
    first = stratified_indices(labels, spec)
    assert np.array_equal(first, stratified_indices(labels.copy(), spec))
    if per_class is not None:  # a larger per-class cap selects a superset (prefix of each shuffle)
        larger = stratified_indices(labels, SamplingSpec(max_per_class=per_class + 5, seed=seed))
        smaller = stratified_indices(labels, SamplingSpec(max_per_class=per_class, seed=seed))
        assert set(smaller.tolist()) <= set(larger.tolist())


def test_different_seeds_give_different_samples() -> None:
    labels = np.repeat(np.arange(4), 100)
    a = stratified_indices(labels, SamplingSpec(max_per_class=10, seed=0))
    b = stratified_indices(labels, SamplingSpec(max_per_class=10, seed=1))
    assert len(a) == len(b) == 40
    assert not np.array_equal(a, b)


def test_pinned_selection_guards_the_algorithm_version() -> None:
    """If this changes, bump SAMPLING_ALGORITHM: stored features are keyed on it."""
    labels = np.array([0, 1, 0, 1, 2, 0, 1, 2, 0, 0])
    got = stratified_indices(labels, SamplingSpec(max_per_class=2, max_samples=5, seed=3)).tolist()
    assert got == stratified_indices(labels, SamplingSpec(max_per_class=2, max_samples=5, seed=3)).tolist()
    assert _counts(labels[got]) == {0: 2, 1: 2, 2: 1}
    assert got == [1, 3, 5, 7, 9]
    assert SamplingSpec(max_per_class=2, seed=3).to_dict() == {
        "algorithm": "stratified-v1",
        "max_per_class": 2,
        "max_samples": None,
        "seed": 3,
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_per_class": 0},
        {"max_samples": -1},
        {"seed": -1},
        {"max_per_class": 1.5},
        {"max_samples": True},
        {"max_per_class": 2**31},  # beyond MAX_CAP: the budget split's int64 products must stay exact
        {"max_samples": 10**20},
        {"seed": 2**32},
    ],
)
def test_invalid_spec_names_the_parameter(kwargs: dict[str, object]) -> None:
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        SamplingSpec(**kwargs)  # type: ignore[arg-type]


def test_caps_and_seed_accept_their_largest_values() -> None:
    labels = np.repeat(np.arange(3), 4)
    spec = SamplingSpec(max_per_class=MAX_CAP, max_samples=MAX_CAP, seed=MAX_SEED)
    assert len(stratified_indices(labels, spec)) == 12


def test_subsample_keeps_order_and_classes() -> None:
    labels = np.array([2, 0, 1, 0, 2, 1, 0, 2], dtype=np.int64)
    images = np.arange(8 * 4, dtype=np.uint8).reshape(8, 2, 2)
    ds = Dataset(
        ref="x",
        format="npz",
        location=Path("/x.npz"),
        classes=("a", "b", "c"),
        keys=tuple(f"{i}" for i in range(8)),
        labels=labels,
        images=ArrayImages(images, np.arange(8)),
    )
    sub = subsample(ds, SamplingSpec(max_per_class=1, seed=7))
    assert len(sub) == 3 and sub.classes == ds.classes
    assert list(sub.keys) == sorted(sub.keys, key=int)
    assert sorted(sub.labels.tolist()) == [0, 1, 2]
    for i, key in enumerate(sub.keys):  # pixels still belong to their key
        assert np.array_equal(np.asarray(sub.load_image(i)), images[int(key)])
    assert subsample(ds, SamplingSpec()) is ds
