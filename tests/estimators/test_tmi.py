"""Tests of the TMI scorer against a brute-force estimator, analytic entropies and its class rules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree
from scipy.special import digamma

import estimators
from estimators import tmi as tmi_module
from estimators.errors import DegenerateInputError, InvalidParameterError, NumericalError


def _brute_tmi(x: np.ndarray, y: np.ndarray, k: int = 3, min_dist: float = 1.0, norm: str = "max") -> float:
    """Direct transcription of the estimator: all pairwise distances, sorted, per class."""
    n, d = x.shape
    terms = []
    for c in np.unique(y):
        xc = x[y == c]
        n_c = len(xc)
        if n_c <= 1:
            terms.append(0.0)
            continue
        if n_c <= k:
            continue
        diff = np.abs(xc[:, None, :] - xc[None, :, :])
        dist = diff.max(axis=2) if norm == "max" else np.sqrt((diff**2).sum(axis=2))
        np.fill_diagonal(dist, np.inf)  # exclude the point itself (duplicates stay at 0)
        eps = np.maximum(np.sort(dist, axis=1)[:, k - 1], min_dist)
        log_c = 0.0 if norm == "max" else (d / 2) * math.log(math.pi) - math.lgamma(d / 2 + 1)
        h = digamma(n_c) - digamma(k) + log_c + d / n_c * np.log(2 * eps).sum()
        terms.append(n_c / n * h)
    return float(np.mean(terms))


@st.composite
def class_data(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    sizes = draw(st.lists(st.integers(1, 12), min_size=2, max_size=5))
    if max(sizes) <= 3:
        sizes[0] = 6
    y = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    d = draw(st.integers(1, 6))
    scale = draw(st.sampled_from([0.3, 3.0, 100.0]))
    x = rng.standard_normal((len(y), d)) * scale
    if draw(st.booleans()):  # duplicates
        x[1] = x[0]
    return x, y


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(data=class_data(), k=st.integers(1, 4), norm=st.sampled_from(["max", "euclidean"]))
def test_matches_brute_force(data: tuple[np.ndarray, np.ndarray], k: int, norm: str) -> None:
    x, y = data
    if np.bincount(y).max() <= k:
        with pytest.raises(DegenerateInputError):
            estimators.score("tmi", features=x, labels=y, k=k, norm=norm)
        return
    got = estimators.score("tmi", features=x, labels=y, k=k, norm=norm)
    assert got == pytest.approx(_brute_tmi(x, y, k=k, norm=norm), rel=1e-12, abs=1e-12)


def test_class_rules_singletons_count_small_classes_drop() -> None:
    rng = np.random.default_rng(0)
    sizes = [1, 2, 3, 10, 20]  # k=3: the singleton counts with h=0, the 2- and 3-sample classes drop
    y = np.repeat(np.arange(5), sizes)
    x = rng.standard_normal((len(y), 4)) * 10
    res = estimators.score_details("tmi", features=x, labels=y)
    assert res.info["kept_classes"] == 3
    assert res.info["dropped_classes"] == 2
    assert res.info["singleton_classes"] == 1
    n = len(y)
    parts = []
    for c in (3, 4):
        xc = x[y == c]
        eps = np.maximum(cKDTree(xc).query(xc, 4, p=np.inf)[0][:, -1], 1.0)
        h = digamma(len(xc)) - digamma(3) + 4 / len(xc) * np.log(2 * eps).sum()
        parts.append(len(xc) / n * h)
    assert res.value == pytest.approx(sum(parts) / 3, rel=1e-12)


def test_uniform_cube_entropy() -> None:
    """Two classes uniform on [0, L]^D: H(X|Y) = D·log L, TMI = H/2 (two kept classes of weight 1/2)."""
    rng = np.random.default_rng(1)
    d, n_c, side = 2, 2000, 1000.0
    x = rng.uniform(0, side, size=(2 * n_c, d))
    y = np.repeat([0, 1], n_c)
    res = estimators.score_details("tmi", features=x, labels=y)
    assert res.info["fraction_floored"] == 0.0
    assert 2 * res.value == pytest.approx(d * math.log(side), abs=0.05)


def test_scaling_shifts_by_d_log_s_when_unfloored() -> None:
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], [30, 40, 50])
    x = rng.standard_normal((120, 5)) * 50
    base = estimators.score("tmi", features=x, labels=y)
    scaled = estimators.score("tmi", features=x * 8.0, labels=y)
    # every class kept, Σ π_c = 1: TMI(sX) − TMI(X) = D·log s / C
    assert scaled - base == pytest.approx(5 * math.log(8.0) / 3, rel=1e-10)


def test_constant_features_are_floored_everywhere() -> None:
    y = np.repeat([0, 1], [6, 10])
    x = np.full((16, 7), 3.25)
    res = estimators.score_details("tmi", features=x, labels=y)
    assert res.info["fraction_floored"] == 1.0
    h = [digamma(n) - digamma(3) + 7 * math.log(2.0) for n in (6, 10)]
    assert res.value == pytest.approx((6 / 16 * h[0] + 10 / 16 * h[1]) / 2, rel=1e-12)
    # a larger floor raises every distance to it
    big = estimators.score("tmi", features=x, labels=y, min_dist=4.0)
    assert big - res.value == pytest.approx(7 * math.log(4.0) / 2, rel=1e-12)


def test_no_class_larger_than_k_is_degenerate() -> None:
    x = np.random.default_rng(3).standard_normal((9, 3))
    with pytest.raises(DegenerateInputError, match="more than k=3"):
        estimators.score("tmi", features=x, labels=np.repeat([0, 1, 2], 3))
    with pytest.raises(DegenerateInputError):
        estimators.score("tmi", features=x, labels=np.arange(9))  # all singletons
    # with k=2 the 3-sample classes are usable
    assert math.isfinite(estimators.score("tmi", features=x, labels=np.repeat([0, 1, 2], 3), k=2))


def test_overflowing_distances_raise_numerical_error() -> None:
    x = np.array([[1e308], [-1e308], [0.0], [5.0], [1e308], [-1e308], [1.0], [2.0]])
    with pytest.raises(NumericalError, match="overflow"):
        estimators.score("tmi", features=x, labels=[0, 0, 0, 0, 1, 1, 1, 1], k=1)


@pytest.mark.parametrize(
    "params", [{"k": 0}, {"k": 2.5}, {"norm": "l1"}, {"min_dist": 0.0}, {"min_dist": -1.0}]
)
def test_invalid_parameters(params: dict[str, Any]) -> None:
    x = np.random.default_rng(4).standard_normal((20, 3))
    with pytest.raises(InvalidParameterError):
        estimators.score("tmi", features=x, labels=np.repeat([0, 1], 10), **params)


def test_knn_distances_match_kdtree_and_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((57, 6))
    x[10] = x[3]
    x[11] = x[3]  # a triple duplicate: its first two neighbours are at distance 0
    want = cKDTree(x).query(x, 4, p=np.inf)[0][:, -1]
    full = tmi_module.kth_neighbour_distances(torch.from_numpy(x), 3, math.inf).numpy()
    np.testing.assert_array_equal(full, want)
    monkeypatch.setattr(tmi_module, "_BLOCK_ELEMENTS", 5 * 57)  # blocks of 5 rows
    chunked = tmi_module.kth_neighbour_distances(torch.from_numpy(x), 3, math.inf).numpy()
    np.testing.assert_array_equal(chunked, want)
    want2 = cKDTree(x).query(x, 2, p=2)[0][:, -1]
    l2 = tmi_module.kth_neighbour_distances(torch.from_numpy(x), 1, 2.0).numpy()
    np.testing.assert_allclose(l2, want2, rtol=1e-13)


def test_higher_intra_class_spread_scores_higher() -> None:
    """The paper's premise, on one fixed draw: spreading every class apart raises TMI."""
    rng = np.random.default_rng(6)
    y = np.repeat([0, 1], 50)
    centres = np.array([[0.0] * 4, [100.0] * 4])
    noise = rng.standard_normal((100, 4))
    tight = estimators.score("tmi", features=centres[y] + 5 * noise, labels=y)
    loose = estimators.score("tmi", features=centres[y] + 20 * noise, labels=y)
    assert loose > tight


def test_extreme_scales_are_finite() -> None:
    rng = np.random.default_rng(7)
    y = np.repeat([0, 1], 8)
    for scale in (1e-30, 1e30, 1e150):
        v = estimators.score("tmi", features=rng.standard_normal((16, 200)) * scale, labels=y)
        assert math.isfinite(v)
