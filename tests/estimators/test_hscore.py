"""H-score and shrinkage H-score: oracles, bounds and invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.covariance import LedoitWolf, ledoit_wolf_shrinkage

import estimators
from estimators import hscore as hmod

pytestmark = pytest.mark.unit


def _between_cov(f: np.ndarray, y: np.ndarray) -> np.ndarray:
    g = np.zeros_like(f)
    for c in np.unique(y):
        g[y == c] = f[y == c].mean(axis=0)
    return np.cov(g, rowvar=False)


def _oracle(f: np.ndarray, y: np.ndarray) -> float:
    """tr(pinv(cov_f) cov_g) with numpy's covariance and pseudo-inverse."""
    return float(np.trace(np.linalg.pinv(np.cov(f, rowvar=False), rcond=1e-15) @ _between_cov(f, y)))


def _oracle_shrinkage(f: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    fc = f - f.mean(axis=0)
    lw = LedoitWolf(assume_centered=False).fit(fc)
    a = lw.shrinkage_
    value = np.trace(np.linalg.pinv(lw.covariance_, rcond=1e-15) @ ((1 - a) * _between_cov(fc, y)))
    return float(value), float(a)


def _data(n: int, d: int, c: int, seed: int = 0, sep: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % c)
    feats = np.maximum(sep * rng.standard_normal((c, d))[labels] + rng.standard_normal((n, d)), 0.0)
    feats[:, : max(1, d // 8)] = 0.0
    return feats, labels


SHAPES = [(300, 20, 4), (80, 60, 5), (60, 200, 3), (40, 40, 4), (500, 2, 2), (30, 29, 30)]


@pytest.mark.parametrize(("n", "d", "c"), SHAPES)
def test_hscore_matches_numpy_oracle(n: int, d: int, c: int) -> None:
    f, y = _data(n, d, c, seed=n * d)
    assert estimators.score("hscore", features=f, labels=y) == pytest.approx(_oracle(f, y), rel=1e-8)


@pytest.mark.parametrize(("n", "d", "c"), SHAPES)
def test_shrinkage_matches_sklearn_ledoit_wolf_oracle(n: int, d: int, c: int) -> None:
    f, y = _data(n, d, c, seed=n + d)
    want, alpha = _oracle_shrinkage(f, y)
    res = estimators.score_details("hscore_shrinkage", features=f, labels=y)
    assert res.info["shrinkage"] == pytest.approx(alpha, rel=1e-10, abs=1e-14)
    assert res.value == pytest.approx(want, rel=1e-8)


def test_ledoit_wolf_formula_matches_sklearn_including_one_feature() -> None:
    rng = np.random.default_rng(0)
    for d in (1, 2, 7, 40):
        x = rng.standard_normal((25, d)) * rng.uniform(0.1, 3, d)
        xc = x - x.mean(0)
        gram = xc.T @ xc
        got = hmod.ledoit_wolf_shrinkage(
            float(np.trace(gram)), float((gram**2).sum()), float(((xc**2).sum(1) ** 2).sum()), 25, d
        )
        assert got == pytest.approx(ledoit_wolf_shrinkage(x), rel=1e-10, abs=1e-15)


@pytest.mark.property
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 30), extra=st.integers(0, 40), c=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_hscore_collapses_to_c_minus_1_when_d_at_least_n(n: int, extra: int, c: int, seed: int) -> None:
    """With D ≥ N the centred features have full row rank and H = C − 1 exactly."""
    c = min(c, n)
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(c), rng.integers(0, c, n - c)])
    f = rng.standard_normal((n, n + extra))
    assert estimators.score("hscore", features=f, labels=y) == pytest.approx(c - 1, rel=1e-9)


@pytest.mark.property
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(4, 80), d=st.sampled_from([1, 3, 10, 50]), c=st.integers(2, 6), seed=st.integers(0, 10_000)
)
def test_bounds(n: int, d: int, c: int, seed: int) -> None:
    """0 ≤ H ≤ C − 1 (between-class scatter ≼ total scatter) and H_α ≤ H · N/(N − 1)."""
    f, y = _data(n, d, c, seed=seed)
    h = estimators.score("hscore", features=f, labels=y)
    ha = estimators.score("hscore_shrinkage", features=f, labels=y)
    c_eff = len(np.unique(y))
    assert -1e-9 <= h <= c_eff - 1 + 1e-9
    assert -1e-9 <= ha <= h * n / (n - 1) + 1e-9


def test_invariant_to_invertible_affine_maps() -> None:
    f, y = _data(200, 10, 4)
    f = f[:, 2:]  # drop the dead columns so that the map below is invertible on the data
    rng = np.random.default_rng(9)
    a = rng.standard_normal((8, 8)) + 3 * np.eye(8)
    base = estimators.score("hscore", features=f, labels=y)
    assert estimators.score(
        "hscore", features=f @ a + rng.standard_normal(8) * 100, labels=y
    ) == pytest.approx(base, rel=1e-7)


def test_repeating_every_sample_changes_nothing() -> None:
    f, y = _data(90, 12, 3)
    f2, y2 = np.concatenate([f, f]), np.concatenate([y, y])
    assert estimators.score("hscore", features=f2, labels=y2) == pytest.approx(
        estimators.score("hscore", features=f, labels=y), rel=1e-9
    )


def test_google_properties_random_and_perfect_features() -> None:
    """google stable_transfer: random Gaussian features ≈ 0 ± 0.1; perfect one-hot features < D (= C − 1)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 5000)
    assert abs(estimators.score("hscore", features=rng.standard_normal((5000, 16)), labels=y)) < 0.1
    perfect = np.eye(5)[y]
    assert estimators.score("hscore", features=perfect, labels=y) == pytest.approx(4.0, rel=1e-9)


def test_constant_features_score_zero() -> None:
    """cov_f = 0 gives pinv = 0. The computed column means of these rows are inexact (1000 identical values),
    so a naive centring leaves a rank-one rounding ghost that scores 1.0 instead."""
    y = np.arange(1000) % 4
    rows = np.tile(np.random.default_rng(0).standard_normal(6) * 1e3, (1000, 1))
    assert not np.array_equal(rows.mean(axis=0), rows[0])
    for name in ("hscore", "hscore_shrinkage"):
        assert estimators.score(name, features=rows, labels=y) == 0.0
        assert estimators.score(name, features=np.full((20, 6), 0.1), labels=y[:20]) == 0.0
        assert estimators.score(name, features=rows[:3], labels=y[:3], dtype="float32") == 0.0


def test_separated_classes_score_higher() -> None:
    f_far, y = _data(400, 16, 4, sep=4.0)
    f_near, _ = _data(400, 16, 4, sep=0.1)
    for name in ("hscore", "hscore_shrinkage"):
        assert estimators.score(name, features=f_far, labels=y) > estimators.score(
            name, features=f_near, labels=y
        )


@pytest.mark.parametrize("name", ["hscore", "hscore_shrinkage"])
def test_float32_dtype_is_close_to_float64(name: str) -> None:
    f, y = _data(500, 24, 5)
    a = estimators.score(name, features=f, labels=y)
    b = estimators.score(name, features=f, labels=y, dtype="float32")
    assert b == pytest.approx(a, rel=1e-4)


def test_rcond_cuts_small_directions() -> None:
    f, y = _data(300, 10, 3)
    f[:, -1] = f[:, 0] + 1e-6 * np.random.default_rng(2).standard_normal(300)  # a near-duplicate column
    full = estimators.score_details("hscore", features=f, labels=y)
    cut = estimators.score_details("hscore", features=f, labels=y, rcond=1e-6)
    assert cut.info["rank"] == full.info["rank"] - 1


@pytest.mark.property
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    exponent=st.sampled_from([-30, -10, 0, 10, 30]),
    d=st.sampled_from([3, 16, 150]),
    dtype=st.sampled_from(["float64", "float32"]),
    seed=st.integers(0, 1000),
)
def test_scale_invariance(exponent: int, d: int, dtype: str, seed: int) -> None:
    f, y = _data(60, d, 3, seed=seed)
    f = f.astype(np.float32).astype(np.float64)
    for name in ("hscore", "hscore_shrinkage"):
        base = estimators.score(name, features=f, labels=y, dtype=dtype)
        scaled = estimators.score(name, features=f * 10.0**exponent, labels=y, dtype=dtype)
        assert math.isfinite(scaled)
        assert scaled == pytest.approx(base, rel=1e-4 if dtype == "float32" else 1e-8)
