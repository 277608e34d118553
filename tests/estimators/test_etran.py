"""Unit and property tests of the ETran scorers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp, softmax

import estimators
from estimators import etran as etran_mod
from estimators._data import check_scoring_inputs


def _blobs(seed: int, sizes: tuple[int, ...], d: int, sep: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(sizes)), sizes)
    x = rng.standard_normal((len(sizes), d))[y] * sep + rng.standard_normal((len(y), d))
    perm = rng.permutation(len(y))
    return x[perm], y[perm]


def _reference_lda_posterior(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The reference's LDA: SFDA shrinkage rule, eigh(inv(S̃_w) @ S_b), coef = M U Uᵀ (from spec §3.12)."""
    classes = np.unique(y)
    d = x.shape[1]
    priors = np.array([np.mean(y == c) for c in classes])
    means = np.stack([x[y == c].mean(axis=0) for c in classes])
    sw = sum(p * np.atleast_2d(np.cov(x[y == c].T, bias=True)) for p, c in zip(priors, classes, strict=True))
    lam = 1e-10
    shrunk = (1 - lam) * sw + lam * np.trace(sw) / d * np.eye(d)
    st_ = np.atleast_2d(np.cov(x.T, bias=True))
    sb = (1 - lam) * st_ + lam * np.trace(st_) / d * np.eye(d) - shrunk
    _, evecs = np.linalg.eigh(np.linalg.inv(shrunk) @ sb)  # non-symmetric input: eigh reads one triangle
    coef = means @ evecs @ evecs.T
    logits = x @ coef.T - 0.5 * np.diag(means @ coef.T) + np.log(priors)
    return np.asarray(softmax(logits, axis=1), dtype=np.float64)


def _posterior(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    data = check_scoring_inputs(estimators.get_scorer("etran_lda"), labels=y, features=x)
    return torch.exp(etran_mod.ncm_log_posterior(data.x, data.class_means, data.priors)).numpy()


# --- identity (ii): S_cls is a nearest-class-mean posterior ----------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(("seed", "d"), [(0, 3), (1, 10), (2, 25)])
def test_posterior_is_softmax_of_negative_half_squared_distance(seed: int, d: int) -> None:
    x, y = _blobs(seed, (20, 35, 15, 30), d)
    means = np.stack([x[y == c].mean(axis=0) for c in range(4)])
    priors = np.bincount(y) / len(y)
    sq = ((x[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    want = softmax(-0.5 * sq + np.log(priors), axis=1)
    np.testing.assert_allclose(_posterior(x, y), want, rtol=1e-10, atol=1e-14)


@pytest.mark.unit
@pytest.mark.parametrize(("seed", "d"), [(3, 4), (4, 9)])
def test_posterior_equals_reference_lda_form(seed: int, d: int) -> None:
    x, y = _blobs(seed, (25, 40, 30), d)
    np.testing.assert_allclose(_posterior(x, y), _reference_lda_posterior(x, y), rtol=1e-8, atol=1e-12)


@pytest.mark.unit
def test_lda_score_is_mean_true_class_posterior() -> None:
    x, y = _blobs(5, (10, 14, 9), 5)
    want = _posterior(x, y)[np.arange(len(y)), y].mean()
    assert estimators.score("etran_lda", features=x, labels=y) == pytest.approx(want, rel=1e-12)


@pytest.mark.unit
def test_lda_is_scale_sensitive_unit_temperature() -> None:
    x, y = _blobs(6, (30, 30), 4)
    small = estimators.score("etran_lda", features=x * 0.01, labels=y)
    large = estimators.score("etran_lda", features=x * 100, labels=y)
    assert small == pytest.approx(0.5, abs=0.01)  # tiny distances: posterior ≈ priors
    assert large > 0.99


@pytest.mark.unit
@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_lda_extreme_scales_are_finite(scale: float) -> None:
    x, y = _blobs(7, (12, 12, 12), 6)
    value = estimators.score("etran_lda", features=x * scale, labels=y)
    assert math.isfinite(value) and 0 < value <= 1


# --- energy ----------------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("n", "percent", "k"),
    [
        (180, 0.5, 1),
        (199, 0.5, 1),
        (200, 0.5, 1),
        (1000, 0.5, 5),
        (2000, 0.5, 10),
        (1000, 0.25, 2),
        (7, 100.0, 7),
    ],
)
def test_tail_size(n: int, percent: float, k: int) -> None:
    assert etran_mod.energy_tail_size(n, percent) == k


@pytest.mark.unit
@pytest.mark.parametrize(("n", "tail"), [(150, "bot"), (1000, "bot"), (1000, "top"), (3, "top")])
def test_energy_is_mean_of_sorted_logsumexp_tail(n: int, tail: str) -> None:
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 8)) * 2
    e = np.sort(logsumexp(x, axis=1))
    k = max(1, 5 * n // 1000)
    want = e[:k].mean() if tail == "bot" else e[-k:].mean()
    got = estimators.score("etran_energy", features=x, labels=np.zeros(n, dtype=int), tail=tail)
    assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.unit
def test_energy_ignores_labels() -> None:
    rng = np.random.default_rng(8)
    x = rng.standard_normal((300, 5))
    a = estimators.score("etran_energy", features=x, labels=np.zeros(300, dtype=int))
    b = estimators.score("etran_energy", features=x, labels=rng.integers(0, 7, 300))
    assert a == b


@pytest.mark.unit
def test_energy_needs_no_labels_but_lda_does() -> None:
    x = np.random.default_rng(14).standard_normal((250, 4))
    assert estimators.score("etran_energy", features=x) == estimators.score(
        "etran_energy", features=x, labels=np.arange(250) % 3
    )
    with pytest.raises(estimators.InvalidInputError, match="labels"):
        estimators.score("etran_lda", features=x)


@pytest.mark.unit
@pytest.mark.parametrize("scale", [1e30, 1e300])
def test_energy_of_huge_features_is_finite(scale: float) -> None:
    rng = np.random.default_rng(9)
    x = np.abs(rng.standard_normal((50, 4))) * scale
    got = estimators.score("etran_energy", features=x, labels=np.zeros(50, dtype=int))
    assert math.isfinite(got)
    assert got == pytest.approx(x.max(axis=1).min(), rel=1e-12)


@pytest.mark.unit
def test_energy_single_sample() -> None:
    x = np.array([[0.0, math.log(3.0)]])
    assert estimators.score("etran_energy", features=x, labels=[4]) == pytest.approx(math.log(4.0))


# --- set-level combination -------------------------------------------------------------------------------


def _zoo(seed: int, dims: tuple[int, ...]) -> tuple[dict[str, dict[str, np.ndarray]], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(4), 60)
    cands = {
        f"m{i}": {"features": rng.standard_normal((4, d))[y] * (0.5 + i) + rng.standard_normal((240, d))}
        for i, d in enumerate(dims)
    }
    return cands, y


@pytest.mark.unit
def test_set_score_is_weighted_minmax_of_components() -> None:
    cands, y = _zoo(10, (6, 9, 4, 12))
    energy = {k: estimators.score("etran_energy", features=v["features"], labels=y) for k, v in cands.items()}
    lda = {k: estimators.score("etran_lda", features=v["features"], labels=y) for k, v in cands.items()}

    def scaled(v: dict[str, float]) -> dict[str, float]:
        lo, hi = min(v.values()), max(v.values())
        return {k: (s - lo) / (hi - lo) for k, s in v.items()}

    e, s = scaled(energy), scaled(lda)
    got = estimators.score_set("etran", candidates=cands, labels=y)
    for k in cands:
        assert got[k] == pytest.approx(0.15 * e[k] + 0.85 * s[k], rel=1e-12, abs=1e-15)
    weighted = estimators.score_set("etran", candidates=cands, labels=y, energy_weight=1.0, lda_weight=0.0)
    assert weighted == pytest.approx(e)


@pytest.mark.unit
def test_set_score_depends_on_the_candidate_set() -> None:
    cands, y = _zoo(11, (6, 9, 4))
    full = estimators.score_set("etran", candidates=cands, labels=y)
    pair = estimators.score_set("etran", candidates={k: cands[k] for k in ("m0", "m1")}, labels=y)
    assert set(pair.values()) <= {0.0, 0.15, 0.85, 1.0}
    assert full["m1"] != pair["m1"] or full["m0"] != pair["m0"]


@pytest.mark.unit
def test_single_candidate_scores_zero() -> None:
    cands, y = _zoo(12, (5,))
    assert estimators.score_set("etran", candidates=cands, labels=y) == {"m0": 0.0}


@pytest.mark.unit
def test_identical_candidates_score_zero() -> None:
    cands, y = _zoo(13, (5,))
    same = {"a": cands["m0"], "b": {"features": cands["m0"]["features"].copy()}}
    assert estimators.score_set("etran", candidates=same, labels=y) == {"a": 0.0, "b": 0.0}


# --- properties ------------------------------------------------------------------------------------------


@pytest.mark.property
@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 2**31), shift=st.floats(-1e3, 1e3), d=st.integers(1, 8))
def test_lda_invariant_to_common_translation(seed: int, shift: float, d: int) -> None:
    x, y = _blobs(seed, (7, 11, 5), d)
    a = estimators.score("etran_lda", features=x, labels=y)
    b = estimators.score("etran_lda", features=x + shift, labels=y)
    assert 0 < a <= 1
    assert b == pytest.approx(a, rel=1e-6, abs=1e-9)


@pytest.mark.property
@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 600), shift=st.floats(-50, 50))
def test_energy_shifts_with_features(seed: int, n: int, shift: float) -> None:
    # logsumexp(x + s) = logsumexp(x) + s, and the tail keeps the same samples.
    x = np.random.default_rng(seed).standard_normal((n, 3))
    labels = np.zeros(n, dtype=int)
    a = estimators.score("etran_energy", features=x, labels=labels)
    b = estimators.score("etran_energy", features=x + shift, labels=labels)
    assert b == pytest.approx(a + shift, rel=1e-9, abs=1e-9)
