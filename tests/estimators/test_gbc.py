"""GBC: google property tests, the formula (both Gaussian types), the spherical log-term quirk, the PCA."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA

import estimators
from estimators.gbc import pca_project


def _gbc_loops(features: np.ndarray, labels: np.ndarray, dims: int, gaussian: str) -> float:
    """The paper/google formula written out pair by pair on sklearn's exact PCA."""
    z = PCA(n_components=dims, svd_solver="full").fit_transform(features)
    classes = np.unique(labels)
    stats = []
    for c in classes:
        zc = z[labels == c]
        var = np.maximum(zc.var(axis=0), 1e-4)
        stats.append((zc.mean(axis=0), var.mean() if gaussian == "spherical" else var))
    total = 0.0
    for i, (mu_i, v_i) in enumerate(stats):
        for j, (mu_j, v_j) in enumerate(stats):
            if i == j:
                continue
            avg = (v_i + v_j) / 2
            maha = np.sum((mu_i - mu_j) ** 2 / avg) / 8
            log_term = 0.5 * np.sum(np.log(avg) - 0.5 * np.log(v_i) - 0.5 * np.log(v_j))
            total += math.exp(-(maha + log_term))
    return -total


@pytest.mark.unit
def test_google_separable_classes_score_zero() -> None:
    """google transferability_metrics_test: class means c², noise std 0.01 -> GBC ≈ 0."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 30)
    features = (labels[:, None] ** 2).astype(float) * np.ones((1, 16)) + 0.01 * rng.standard_normal((150, 16))
    assert estimators.score("gbc", features=features, labels=labels) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.unit
def test_google_overlapping_classes_near_lower_bound() -> None:
    """google transferability_metrics_test: identical classes, std 1e-4 -> within 20 % of −C(C−1)."""
    rng = np.random.default_rng(1)
    c = 5
    labels = np.repeat(np.arange(c), 30)
    features = 1e-4 * rng.standard_normal((150, 16))
    value = estimators.score("gbc", features=features, labels=labels)
    assert value == pytest.approx(-c * (c - 1), rel=0.2)
    assert value >= -c * (c - 1)


@pytest.mark.unit
@pytest.mark.parametrize("gaussian", ["spherical", "diagonal"])
@pytest.mark.parametrize(("n", "d", "dims"), [(120, 10, 64), (120, 80, 64), (30, 90, 64), (120, 80, 8)])
def test_matches_pairwise_formula(gaussian: str, n: int, d: int, dims: int) -> None:
    rng = np.random.default_rng(n + d + dims)
    labels = rng.integers(0, 4, n)
    labels[:4] = np.arange(4)
    features = rng.standard_normal((n, d)) + 1.5 / math.sqrt(d) * rng.standard_normal((4, d))[labels]
    want = _gbc_loops(features, labels, min(dims, n, d), gaussian)
    got = estimators.score_details("gbc", features=features, labels=labels, pca_dims=dims, gaussian=gaussian)
    assert got.value == pytest.approx(want, rel=1e-8, abs=1e-12)
    assert got.info["pca_dims"] == min(dims, n, d)
    assert -12 < got.value < -1e-3  # a case where the pairs genuinely overlap


@pytest.mark.unit
def test_spherical_log_term_is_not_scaled_by_dimension() -> None:
    """Equal means, variances v and 4v: D_B = ½ log(2.5v / 2v) = ½ log 1.25 whatever the dimension."""
    for d in (2, 12):
        # class 0 = {±e_k}: per-dimension population variance 1/d; class 1 = {±2e_k}: 4/d; both means 0
        features = np.concatenate([np.eye(d), -np.eye(d), 2 * np.eye(d), -2 * np.eye(d)])
        labels = np.repeat([0, 1], 2 * d)
        v0, v1 = 1 / d, 4 / d
        want = -2 * math.exp(-0.5 * (math.log((v0 + v1) / 2) - 0.5 * math.log(v0) - 0.5 * math.log(v1)))
        got = estimators.score("gbc", features=features, labels=labels)
        assert got == pytest.approx(want, rel=1e-10)


@pytest.mark.unit
@pytest.mark.parametrize(("n", "d"), [(50, 12), (12, 50)])
def test_pca_project_matches_sklearn_up_to_sign(n: int, d: int) -> None:
    rng = np.random.default_rng(n * d)
    x = rng.standard_normal((n, d)) * np.linspace(3, 0.1, d)
    k = min(n, d) - 2
    want = PCA(n_components=k, svd_solver="full").fit_transform(x)
    got = pca_project(torch.from_numpy(x), k).numpy()
    np.testing.assert_allclose(np.abs(got), np.abs(want), rtol=1e-8, atol=1e-10)


@pytest.mark.unit
def test_constant_columns_carry_no_variance_at_any_scale() -> None:
    """A constant feature of size 1e30 must not turn its mean's rounding residue into class variance.

    With diagonal Gaussians a dimension without variance (floored equally in every class) adds nothing;
    the spherical variant would average it into each class variance, as the reference does.
    """
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(3), 10)
    informative = rng.standard_normal((30, 3)) + 2 * np.eye(3)[labels]
    # 30 copies of 1.234567e30 do not average back to exactly 1.234567e30: the rounding residue, if
    # treated as data, would be the top principal component and take one of the 3 kept dimensions.
    with_const = np.concatenate([informative, np.full((30, 2), 1.234567e30)], axis=1)
    want = estimators.score("gbc", features=informative, labels=labels, gaussian="diagonal", pca_dims=3)
    got = estimators.score("gbc", features=with_const, labels=labels, gaussian="diagonal", pca_dims=3)
    assert got == pytest.approx(want, rel=1e-9)


@pytest.mark.property
@settings(max_examples=100, deadline=None, database=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    c=st.integers(2, 6),
    d=st.sampled_from([1, 3, 20, 100]),
    spread=st.sampled_from([0.0, 1e-3, 0.1, 1.0, 10.0]),
    gaussian=st.sampled_from(["spherical", "diagonal"]),
)
def test_between_minus_c_c_minus_one_and_zero(
    seed: int, c: int, d: int, spread: float, gaussian: str
) -> None:
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.arange(c), rng.integers(0, c, 20)])
    features = rng.standard_normal((labels.size, d)) + spread * rng.standard_normal((c, d))[labels]
    value = estimators.score("gbc", features=features, labels=labels, gaussian=gaussian)
    assert -c * (c - 1) * (1 + 1e-12) <= value <= 0.0
