"""TransRate (appendix / tllib form): oracles, the Gram-size switch, invariances, scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import estimators
from estimators import transrate as tmod

pytestmark = pytest.mark.unit


def _rate(z: np.ndarray, eps: float) -> float:
    n, d = z.shape
    sign, logdet = np.linalg.slogdet(np.eye(d) + z.T @ z / (n * eps))
    assert sign == 1.0
    return 0.5 * float(logdet)


def _oracle(f: np.ndarray, y: np.ndarray, eps: float = 1e-4) -> float:
    """R(F) − (1/C) Σ_c R(F_c) with D×D log-determinants of the globally centred features."""
    fc = f - f.mean(axis=0)
    classes = np.unique(y)
    return _rate(fc, eps) - float(np.mean([_rate(fc[y == c], eps) for c in classes]))


def _rate_svd(z: np.ndarray, eps: float) -> float:
    """½ Σ log(1 + s_i²/(n ε)) over the singular values of Z (matrix_rank cut), in the log domain."""
    n, d = z.shape
    s = np.linalg.svd(z, compute_uv=False)
    s = s[s > s.max(initial=0.0) * max(n, d) * np.finfo(np.float64).eps]
    return 0.5 * float(np.logaddexp(0.0, 2 * np.log(s) - np.log(n * eps)).sum())


def _oracle_svd(f: np.ndarray, y: np.ndarray, eps: float = 1e-4) -> float:
    fc = f - f.mean(axis=0)
    return _rate_svd(fc, eps) - float(np.mean([_rate_svd(fc[y == c], eps) for c in np.unique(y)]))


def _data(sizes: list[int], d: int, seed: int = 0, sep: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    feats = np.maximum(
        sep * rng.standard_normal((len(sizes), d))[labels] + rng.standard_normal((len(labels), d)), 0
    )
    feats[:, : max(1, d // 8)] = 0.0
    return feats, labels


CASES = [
    ([100, 80, 60], 20),  # every class larger than D: D×D per class
    ([30, 5, 12, 1], 20),  # every class smaller than D: batched n_c×n_c
    ([50, 3, 20, 7], 16),  # mixed
    ([20, 25, 30], 120),  # D > N: dual global Gram too
    ([2, 2], 1),
]


@pytest.mark.parametrize(("sizes", "d"), CASES)
@pytest.mark.parametrize("eps", [1e-4, 1e-1])
def test_matches_slogdet_oracle(sizes: list[int], d: int, eps: float) -> None:
    f, y = _data(sizes, d, seed=d + len(sizes))
    got = estimators.score("transrate", features=f, labels=y, eps=eps)
    assert got == pytest.approx(_oracle(f, y, eps), rel=1e-9)


def test_many_batches_of_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force one class per batch, and then whole-set batches: same value either way."""
    rng = np.random.default_rng(4)
    sizes = list(rng.integers(1, 40, 25))
    f, y = _data(sizes, 48, seed=4)
    want = _oracle(f, y)
    assert estimators.score("transrate", features=f, labels=y) == pytest.approx(want, rel=1e-9)
    monkeypatch.setattr(tmod, "_GROUP_ELEMENTS", 1)
    assert estimators.score("transrate", features=f, labels=y) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize(("sizes", "d"), CASES)
def test_cholesky_and_eigenvalue_paths_agree(
    sizes: list[int], d: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    f, y = _data(sizes, d, seed=11)
    fast = estimators.score("transrate", features=f, labels=y)
    monkeypatch.setattr(tmod, "_CHOLESKY_SAFE", -1.0)  # never Cholesky
    assert estimators.score("transrate", features=f, labels=y) == pytest.approx(fast, rel=1e-10)


def test_info_splits_the_two_terms() -> None:
    f, y = _data([40, 40, 40], 10)
    res = estimators.score_details("transrate", features=f, labels=y)
    fc = f - f.mean(0)
    assert res.info["rate_all"] == pytest.approx(_rate(fc, 1e-4), rel=1e-10)
    assert res.value == pytest.approx(res.info["rate_all"] - res.info["rate_classes"], rel=1e-12)


def test_invariances_orthogonal_translation_and_repetition() -> None:
    f, y = _data([60, 45, 30], 12, seed=2)
    base = estimators.score("transrate", features=f, labels=y)
    q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((12, 12)))
    assert estimators.score("transrate", features=f @ q + 7.0, labels=y) == pytest.approx(base, rel=1e-9)
    doubled = estimators.score("transrate", features=np.concatenate([f, f]), labels=np.concatenate([y, y]))
    assert doubled == pytest.approx(base, rel=1e-9)


def test_separated_classes_score_higher() -> None:
    far, y = _data([100, 100, 100], 16, sep=5.0)
    near, _ = _data([100, 100, 100], 16, sep=0.05)
    assert estimators.score("transrate", features=far, labels=y) > estimators.score(
        "transrate", features=near, labels=y
    )


def test_constant_features_score_zero() -> None:
    y = np.arange(12) % 3
    assert estimators.score("transrate", features=np.full((12, 5), 3.7), labels=y) == 0.0


def test_single_sample_class_rate() -> None:
    f = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 3.0]])
    y = np.array([0, 0, 1])
    got = estimators.score("transrate", features=f, labels=y, eps=0.5)
    assert got == pytest.approx(_oracle(f, y, 0.5), rel=1e-12)


def test_float32_dtype_is_close_to_float64() -> None:
    # float32 resolves eigenvalues down to ~1e-7 λ_max of each class Gram (its class-mean offset included), so
    # the comparison needs classes without near-null directions: plenty of samples per dimension.
    f, y = _data([400, 300, 200, 100], 16, seed=7)
    a = estimators.score("transrate", features=f, labels=y)
    b = estimators.score("transrate", features=f, labels=y, dtype="float32")
    # Whether the two differ at all is rounding noise and not asserted; only the agreement is.
    assert b == pytest.approx(a, rel=1e-4)


@pytest.mark.property
@settings(max_examples=50, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    exponent=st.sampled_from([-30, -8, -2, 0, 2, 8, 30]),
    d=st.sampled_from([2, 10, 90]),
    dtype=st.sampled_from(["float64", "float32"]),
    seed=st.integers(0, 1000),
)
def test_any_feature_scale_is_finite_and_matches(exponent: int, d: int, dtype: str, seed: int) -> None:
    """The rate depends on the scale through ε, so compare with the oracle evaluated at that scale."""
    f, y = _data([30, 20, 10], d, seed=seed)
    f = (f * 10.0**exponent).astype(np.float32)
    got = estimators.score("transrate", features=f, labels=y, dtype=dtype)
    assert math.isfinite(got)
    # slogdet(I + ZᵀZ/(nε)) loses the identity once ZᵀZ/(nε) ~ 1e16: use singular values of Z instead.
    want = _oracle_svd(f.astype(np.float64), y)
    assert got == pytest.approx(want, rel=1e-4 if dtype == "float32" else 1e-8, abs=1e-6)
