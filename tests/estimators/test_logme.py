"""LogME: an independent per-column oracle, its identities, targets, dtype, scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import estimators
from estimators.errors import NumericalError

pytestmark = pytest.mark.unit


def _oracle(f: np.ndarray, y: np.ndarray, *, solver: str = "fixed_point", fix_high_dim: bool = True) -> float:
    """Textbook LogME from the paper's evidence, one column at a time, via a thin SVD of F (float64)."""
    n, d = f.shape
    u, s, vt = np.linalg.svd(f, full_matrices=False)
    s = np.where(s <= s.max() * max(n, d) * np.finfo(np.float64).eps, 0.0, s)  # numpy's matrix_rank cut
    sigma = s**2
    k = sigma.shape[0]
    pad = np.zeros(d - k) if (fix_high_dim or solver == "icml") else np.zeros(0)
    out = []
    for col in y.T:
        x2 = (u.T @ col) ** 2
        r0 = col @ col - x2.sum()
        alpha = beta = 1.0
        for _ in range(11):
            t = alpha / beta
            gamma = (sigma / (sigma + t)).sum()
            m2 = (sigma * x2 / (t + sigma) ** 2).sum()
            res2 = (x2 / (1 + sigma / t) ** 2).sum() + r0
            if solver == "icml":  # explicit posterior mean and residual
                m = vt.T @ (np.sqrt(sigma) * (u.T @ col) / (sigma + t))
                m2, res2 = m @ m, ((col - f @ m) ** 2).sum()
            rest = (n - k) + (t / (sigma + t)).sum()  # = N − γ, written without cancellation
            alpha, beta = gamma / (m2 + 1e-5), rest / (max(res2, 0.0) + 1e-5)
            e = 1e-5 if solver == "icml" else 0.0
            ev = (
                d / 2 * math.log(alpha)
                + n / 2 * math.log(beta)
                - 0.5 * np.log(alpha + beta * np.concatenate([sigma, pad])).sum()
                - beta / 2 * (res2 + e)
                - alpha / 2 * (m2 + e)
                - n / 2 * math.log(2 * math.pi)
            )
            change = abs(alpha / beta - t) / t
            if (change < 1e-2) if solver == "icml" else (change <= 1e-3):
                break
        out.append(ev / n)
    return float(np.mean(out))


def _data(n: int, d: int, c: int, seed: int = 0, noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % c
    means = rng.standard_normal((c, d)) * 2
    feats = np.maximum(means[labels] + noise * rng.standard_normal((n, d)), 0.0)
    feats[:, : max(1, d // 10)] = 0.0  # dead units
    return feats, labels


def _onehot(labels: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.eye(labels.max() + 1)[labels]
    return out


@pytest.mark.parametrize(
    ("n", "d", "c"), [(300, 20, 4), (60, 20, 3), (40, 120, 5), (25, 25, 5), (200, 3, 2), (12, 300, 6)]
)
@pytest.mark.parametrize("solver", ["fixed_point", "icml"])
def test_matches_textbook_oracle(n: int, d: int, c: int, solver: str) -> None:
    f, y = _data(n, d, c, seed=n + d)
    want = _oracle(f, _onehot(y), solver=solver)
    assert estimators.score("logme", features=f, labels=y, solver=solver) == pytest.approx(want, rel=1e-8)


@pytest.mark.parametrize(("n", "d"), [(40, 120), (12, 300), (30, 31)])
def test_fix_high_dim_false_reproduces_the_reference_bug(n: int, d: int) -> None:
    f, y = _data(n, d, 3, seed=d)
    bug = estimators.score("logme", features=f, labels=y, fix_high_dim=False)
    fixed = estimators.score("logme", features=f, labels=y)
    assert bug == pytest.approx(_oracle(f, _onehot(y), fix_high_dim=False), rel=1e-8)
    # The dropped D − N eigenvalues each count log α > 0: the bug inflates the score (issue #23).
    assert bug > fixed


def test_fix_high_dim_is_irrelevant_when_n_exceeds_d() -> None:
    f, y = _data(200, 30, 4)
    assert estimators.score("logme", features=f, labels=y, fix_high_dim=False) == estimators.score(
        "logme", features=f, labels=y
    )


def test_fixed_point_agrees_with_icml_for_n_much_larger_than_d() -> None:
    """The two solvers differ by ~1e-4 when N ≫ D."""
    f, y = _data(3000, 32, 5, noise=2.0)
    fp = estimators.score("logme", features=f, labels=y)
    icml = estimators.score("logme", features=f, labels=y, solver="icml")
    assert fp != icml
    assert abs(fp - icml) < 1e-3


def test_fixed_point_with_fix_tracks_icml_when_d_exceeds_n() -> None:
    f, y = _data(50, 400, 4)
    fp = estimators.score("logme", features=f, labels=y)
    icml = estimators.score("logme", features=f, labels=y, solver="icml")
    assert abs(fp - icml) < 0.05 * max(1.0, abs(icml))


def test_informative_features_beat_random_ones() -> None:
    """google stable_transfer property: one-hot features + 1e-3 noise score above random features."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, 500)
    good = _onehot(y) + 1e-3 * rng.standard_normal((500, 5))
    bad = rng.standard_normal((500, 5))
    assert estimators.score("logme", features=good, labels=y) > estimators.score(
        "logme", features=bad, labels=y
    )


def test_invariant_to_orthogonal_maps_of_the_features() -> None:
    f, y = _data(150, 12, 3)
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((12, 12)))
    a = estimators.score("logme", features=f, labels=y)
    assert estimators.score("logme", features=f @ q, labels=y) == pytest.approx(a, rel=1e-9)


def test_one_hot_targets_equal_labels() -> None:
    f, y = _data(120, 10, 4)
    by_labels = estimators.score("logme", features=f, labels=y)
    by_targets = estimators.score("logme", features=f, labels=_onehot(y).astype(np.float64))
    assert by_targets == pytest.approx(by_labels, rel=1e-12)


def test_regression_targets_average_the_columns() -> None:
    rng = np.random.default_rng(5)
    f = rng.standard_normal((200, 8))
    targets = np.stack(
        [f @ rng.standard_normal(8) + 0.1 * rng.standard_normal(200), rng.standard_normal(200)], 1
    )
    both = estimators.score("logme", features=f, labels=targets)
    first = estimators.score("logme", features=f, labels=targets[:, :1])
    second = estimators.score("logme", features=f, labels=targets[:, 1:])
    assert both == pytest.approx((first + second) / 2, rel=1e-12)
    assert first > second  # a linearly predictable target has higher evidence than noise
    assert both == pytest.approx(_oracle(f, targets), rel=1e-8)


def test_float32_dtype_is_close_to_float64() -> None:
    f, y = _data(400, 24, 4)
    a = estimators.score("logme", features=f, labels=y)
    b = estimators.score("logme", features=f, labels=y, dtype="float32")
    # float32 rounding (~6e-8 relative per operation) through a well-conditioned 24-dim evidence stays far
    # inside 1e-4; whether the two values differ at all is rounding noise and not asserted.
    assert b == pytest.approx(a, rel=1e-4)


def test_torch_input_stays_on_its_device_and_matches() -> None:
    f, y = _data(100, 10, 3)
    got = estimators.score("logme", features=torch.from_numpy(f), labels=torch.from_numpy(y))
    assert got == estimators.score("logme", features=f, labels=y)


def test_all_zero_features() -> None:
    y = np.arange(30) % 3
    zeros = np.zeros((30, 5))
    value = estimators.score("logme", features=zeros, labels=y)
    # No information: the evidence of y ~ N(0, 1/β) with β = N / (‖y‖² + ε).
    n = 30
    want = np.mean(
        [
            (n / 2 * math.log(n / (10 + 1e-5)) - n / 2 * 10 / (10 + 1e-5) - n / 2 * math.log(2 * math.pi)) / n
            for _ in range(3)
        ]
    )
    assert value == pytest.approx(want, rel=1e-10)
    with pytest.raises(NumericalError, match="fix_high_dim"):
        estimators.score("logme", features=np.zeros((4, 9)), labels=[0, 1, 0, 1], fix_high_dim=False)


def test_info_reports_convergence() -> None:
    f, y = _data(300, 10, 3)
    res = estimators.score_details("logme", features=f, labels=y)
    assert res.info["converged"] == 1.0
    res = estimators.score_details("logme", features=f, labels=y, max_iter=1)
    assert res.info["converged"] < 1.0


@pytest.mark.property
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    exponent=st.sampled_from([-30, -12, -3, 0, 3, 12, 30]),
    d=st.sampled_from([2, 16, 120]),
    dtype=st.sampled_from(["float64", "float32"]),
    solver=st.sampled_from(["fixed_point", "icml"]),
    seed=st.integers(0, 1000),
)
def test_any_feature_scale_gives_the_oracle_value(
    exponent: int, d: int, dtype: str, solver: str, seed: int
) -> None:
    """LogME is not scale invariant (ε and the start α = β = 1), but it must be computable at any scale."""
    f, y = _data(40, d, 3, seed=seed)
    f = f * 10.0**exponent
    got = estimators.score("logme", features=f.astype(np.float32), labels=y, dtype=dtype, solver=solver)
    assert math.isfinite(got)
    want = _oracle(f.astype(np.float32).astype(np.float64), _onehot(y), solver=solver)
    # float32 eigenvalues: ~1e-7 relative error, and the evidence per sample is O(1): compare absolutely too.
    rel, tol = (1e-3, 1e-4) if dtype == "float32" else (1e-6, 1e-9)
    assert got == pytest.approx(want, rel=rel, abs=tol)
