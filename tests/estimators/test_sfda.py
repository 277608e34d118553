"""Unit and property tests of the SFDA scorer."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

import estimators
from estimators import sfda as sfda_mod
from estimators._data import check_scoring_inputs
from estimators.errors import DegenerateInputError

VECTORS = Path(__file__).resolve().parents[1] / "data" / "testvectors"


def _blobs(seed: int, n_per: tuple[int, ...], d: int, sep: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(n_per)), n_per)
    means = rng.standard_normal((len(n_per), d)) * sep
    x = means[y] + rng.standard_normal((len(y), d)) * rng.uniform(0.5, 2.0, d)
    perm = rng.permutation(len(y))
    return x[perm], y[perm]


def _power_lambda_max_np(a: np.ndarray) -> float:
    x = a.sum(axis=1)
    y = x
    for _ in range(3):
        t = a @ x
        y = t / np.linalg.norm(t)
        t = a @ y
        x = t / np.linalg.norm(t)
    return float(x @ a @ y)


def _within_scatter_np(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    classes = np.unique(y)
    priors = np.array([np.mean(y == c) for c in classes])
    means = np.stack([x[y == c].mean(axis=0) for c in classes])
    sw = sum(p * np.atleast_2d(np.cov(x[y == c].T, bias=True)) for p, c in zip(priors, classes, strict=True))
    return means, np.asarray(sw), priors


def _reference_form_posterior(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """Stage-1 posterior as the reference computes it: all generalised eigenvectors of (S_b, S̃_w)."""
    d = x.shape[1]
    means, sw, priors = _within_scatter_np(x, y)
    shrunk = (1 - lam) * sw + lam * np.trace(sw) / d * np.eye(d)
    st_ = np.atleast_2d(np.cov(x.T, bias=True))
    st_shrunk = (1 - lam) * st_ + lam * np.trace(st_) / d * np.eye(d)
    evals, evecs = scipy.linalg.eigh(st_shrunk - shrunk, shrunk)
    evecs = evecs[:, np.argsort(evals)[::-1]]
    coef = means @ evecs @ evecs.T
    intercept = -0.5 * np.diag(means @ coef.T) + np.log(priors)
    logits = x @ coef.T + intercept
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return np.asarray(p / p.sum(axis=1, keepdims=True), dtype=np.float64)


def _reference_form_score(x: np.ndarray, y: np.ndarray) -> float:
    """Whole SFDA pipeline in the reference's form (generalised eigh, explicit loops), from the spec."""
    x = np.array(x, dtype=np.float64, copy=True)
    _, y = np.unique(y, return_inverse=True)
    c = int(y.max()) + 1
    _, sw, _ = _within_scatter_np(x, y)
    lam = max(math.exp(-5 * _power_lambda_max_np(sw)), 1e-10)
    p = _reference_form_posterior(x, y, lam)
    p = np.exp(p) / np.exp(p).sum(axis=1, keepdims=True)
    means = np.stack([x[y == k].mean(axis=0) for k in range(c)])
    outer = (means.sum(axis=0) - means) / (c - 1)
    for k in range(c):
        idx = np.where(y == k)[0]
        w = p[idx, k][:, None]
        x[idx] = w * x[idx] + (1 - w) * outer[k]
    p2 = _reference_form_posterior(x, y, lam)
    return float(p2[np.arange(len(y)), y].mean())


def _data(x: Any, y: Any, dtype: str = "float64") -> Any:
    return check_scoring_inputs(estimators.get_scorer("sfda"), labels=y, features=x, dtype=dtype)


def _stage1_posterior(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    data = _data(x, y)
    xs, e, peak = sfda_mod.scale_to_range(data.x)
    means, z, sw = sfda_mod.within_class(xs, data.codes, data.onehot, data.counts, peak)
    lam = sfda_mod.shrinkage_from_lambda_max(sfda_mod.power_lambda_max(sw), e)
    logits, _ = sfda_mod.shrunk_lda_logits(z, means, sw, data.priors, data.codes, lam)
    return torch.softmax(logits, dim=1).numpy(), lam


# --- identity (i): stage 1 is LDA with the shrunk covariance ---------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(("seed", "d", "scale"), [(0, 5, 1.0), (1, 12, 0.2), (2, 30, 0.05)])
def test_stage1_equals_generalised_eigen_form(seed: int, d: int, scale: float) -> None:
    x, y = _blobs(seed, (20, 30, 25, 15), d)
    x = x * scale  # small scales move λ off its floor
    got, lam = _stage1_posterior(x, y)
    assert 1e-10 <= lam <= 1.0
    np.testing.assert_allclose(got, _reference_form_posterior(x, y, lam), rtol=1e-9, atol=1e-12)


@pytest.mark.unit
def test_stage1_equals_sklearn_shrunk_lda() -> None:
    x, y = _blobs(3, (40, 25, 35), 6)
    x = x * 0.3
    got, lam = _stage1_posterior(x, y)
    assert lam > 1e-6  # the shrinkage actually matters here
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=lam).fit(x, y)
    np.testing.assert_allclose(got, lda.predict_proba(x), rtol=1e-9, atol=1e-12)


@pytest.mark.unit
@pytest.mark.parametrize(("seed", "sizes", "d"), [(4, (15, 22, 9), 4), (5, (30, 1, 12, 7, 20), 9)])
def test_full_score_matches_reference_form(seed: int, sizes: tuple[int, ...], d: int) -> None:
    x, y = _blobs(seed, sizes, d, sep=1.0)
    x = x * 0.4
    want = _reference_form_score(x, y)
    assert estimators.score("sfda", features=x, labels=y) == pytest.approx(want, rel=1e-10)


# --- λ rule ----------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_shrinkage_follows_power_iteration_rule() -> None:
    x, y = _blobs(6, (30, 30, 30), 5)
    x = x * 0.25
    _, sw, _ = _within_scatter_np(x, y)
    want = max(math.exp(-5 * _power_lambda_max_np(sw)), 1e-10)
    info = estimators.score_details("sfda", features=x, labels=y).info
    assert info["stage1_shrinkage"] == pytest.approx(want, rel=1e-12)
    assert info["lambda_max"] == pytest.approx(_power_lambda_max_np(sw), rel=1e-12)


@pytest.mark.unit
@pytest.mark.parametrize("scale", [1e3, 1e30])
def test_shrinkage_floor_for_large_features(scale: float) -> None:
    x, y = _blobs(7, (20, 20), 4)
    info = estimators.score_details("sfda", features=x * scale, labels=y).info
    assert info["stage1_shrinkage"] == 1e-10


@pytest.mark.unit
def test_shrinkage_matches_manifest_info() -> None:
    manifest = json.loads((VECTORS / "manifest.json").read_text())
    entries = [e for e in manifest if e["scorer"] == "sfda"]
    assert entries
    for e in entries:
        with np.load(VECTORS / e["file"]) as z:
            kwargs = {name: z[key] for name, key in e["inputs"].items()}
        info = estimators.score_details("sfda", **kwargs).info
        assert info["stage1_shrinkage"] == pytest.approx(e["info"]["stage1_shrinkage"], rel=1e-9)


@pytest.mark.unit
def test_power_iteration_with_zero_row_sums_uses_exact_eigenvalue() -> None:
    sw = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    assert sfda_mod.power_lambda_max(sw) == pytest.approx(2.0)
    # Features whose within-class deviations are anti-correlated give such a scatter; the score stays finite.
    t = np.linspace(-1, 1, 10)
    x = np.concatenate([np.stack([t, -t], 1), np.stack([t, -t], 1) + [3.0, 0.0]])
    y = np.repeat([0, 1], 10)
    value = estimators.score("sfda", features=x, labels=y)
    assert math.isfinite(value) and 0 < value <= 1


# --- numerical paths -------------------------------------------------------------------------------------


@pytest.mark.unit
def test_eigh_fallback_agrees_with_cholesky(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _blobs(8, (25, 25, 25), 6)
    want = estimators.score_details("sfda", features=x, labels=y)
    assert want.info["solver"] == "cholesky"

    def failing(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return a, torch.ones((), dtype=torch.int32)

    monkeypatch.setattr(torch.linalg, "cholesky_ex", failing)
    got = estimators.score_details("sfda", features=x, labels=y)
    assert got.info["solver"] == "eigh"
    assert got.value == pytest.approx(want.value, rel=1e-10)


@pytest.mark.unit
def test_confmix_deviations_match_explicit_mixture() -> None:
    x, y = _blobs(16, (9, 14, 6, 11), 5)
    data = _data(x, y)
    means, z, _ = sfda_mod.within_class(data.x, data.codes, data.onehot, data.counts, float(np.abs(x).max()))
    w = torch.from_numpy(np.random.default_rng(17).uniform(0.01, 0.99, (len(y), 1)))
    outer = (means.sum(dim=0) - means) / 3
    mixed = outer[data.codes] + w * (data.x - outer[data.codes])
    want_means = torch.stack([mixed[data.codes == c].mean(dim=0) for c in range(4)])
    got_means, got_z = sfda_mod.confmix_deviations(z, means, w, data.codes, data.onehot, data.counts)
    torch.testing.assert_close(got_means, want_means, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_z, mixed - want_means[data.codes], rtol=1e-10, atol=1e-12)


@pytest.mark.unit
def test_exact_path_gives_exactly_zero_scatter_for_identical_rows() -> None:
    # 0.1 is not representable: the mean of three copies is not exactly 0.1 when summed naively.
    x = np.repeat(np.array([[0.1, 0.7, 1.3], [0.3, 0.2, 0.9]]), [3, 7], axis=0)
    y = np.repeat([0, 1], [3, 7])
    data = _data(x, y)
    _, z, sw = sfda_mod.within_class(data.x, data.codes, data.onehot, data.counts, 1.3)
    assert float(torch.trace(sw)) == 0.0
    assert not bool(z.any())


@pytest.mark.unit
def test_exact_path_matches_fast_path_on_tiny_spread() -> None:
    rng = np.random.default_rng(9)
    y = np.repeat([0, 1, 2], 6)
    x = rng.standard_normal((3, 4))[y] + rng.standard_normal((18, 4)) * 1e-13
    data = _data(x, y)
    # A huge peak bound forces the exact path; a tiny one keeps the fast path.
    m_exact, z_exact, exact = sfda_mod.within_class(data.x, data.codes, data.onehot, data.counts, 1e6)
    m_fast, z_fast, fast = sfda_mod.within_class(data.x, data.codes, data.onehot, data.counts, 0.0)
    np.testing.assert_allclose(exact.numpy(), fast.numpy(), rtol=1e-3, atol=1e-30)
    np.testing.assert_allclose(m_exact.numpy(), m_fast.numpy(), rtol=1e-12)
    np.testing.assert_allclose((data.x - m_exact[data.codes]).numpy(), z_exact.numpy(), rtol=0, atol=1e-15)
    assert float(torch.trace(exact)) > 0


# --- degenerate inputs and contract ----------------------------------------------------------------------


@pytest.mark.unit
def test_one_sample_per_class_is_degenerate() -> None:
    with pytest.raises(DegenerateInputError):
        estimators.score("sfda", features=np.eye(4), labels=np.arange(4))


@pytest.mark.unit
@pytest.mark.parametrize("value", [0.0, 0.1, -3e7])
def test_constant_features_are_degenerate(value: float) -> None:
    with pytest.raises(DegenerateInputError):
        estimators.score("sfda", features=np.full((12, 3), value), labels=np.repeat([0, 1, 2], 4))


@pytest.mark.unit
def test_single_sample_classes_alongside_spread_classes_are_scored() -> None:
    x, y = _blobs(10, (12, 1, 15, 1), 3)
    value = estimators.score("sfda", features=x, labels=y)
    assert math.isfinite(value) and 0 < value <= 1


@pytest.mark.unit
def test_high_dimension_saturates_at_one() -> None:
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((30, 200)), np.repeat([0, 1, 2], 10)
    assert estimators.score("sfda", features=x, labels=y) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.unit
@pytest.mark.parametrize("scale", [1e-30, 1e-6, 1e6, 1e30])
def test_float32_compute_handles_extreme_scales(scale: float) -> None:
    x, y = _blobs(12, (20, 25, 18), 5)
    want = estimators.score("sfda", features=x * scale, labels=y)
    got = estimators.score("sfda", features=(x * scale).astype(np.float32), labels=y, dtype="float32")
    assert math.isfinite(got)
    assert got == pytest.approx(want, rel=1e-3)


@pytest.mark.unit
def test_does_not_mutate_inputs() -> None:
    x, y = _blobs(13, (10, 10), 3)
    x_t = torch.from_numpy(x.copy())
    estimators.score("sfda", features=x_t, labels=y)
    np.testing.assert_array_equal(x_t.numpy(), x)
    data = _data(x, y)
    before = data.x.clone()
    estimators.get_scorer("sfda").fn(data)
    assert torch.equal(data.x, before)


@pytest.mark.unit
def test_better_separated_classes_score_higher() -> None:
    x, y = _blobs(14, (30, 30, 30), 4, sep=0.0)
    means = np.random.default_rng(15).standard_normal((3, 4))
    low = estimators.score("sfda", features=x + 0.5 * means[y], labels=y)
    high = estimators.score("sfda", features=x + 4.0 * means[y], labels=y)
    assert high > low


# --- properties ------------------------------------------------------------------------------------------


@pytest.mark.property
@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 2**31), shift=st.floats(-1e3, 1e3), d=st.integers(1, 8))
def test_invariant_to_common_translation(seed: int, shift: float, d: int) -> None:
    x, y = _blobs(seed, (9, 12, 10), d)
    a = estimators.score("sfda", features=x, labels=y)
    b = estimators.score("sfda", features=x + shift, labels=y)
    assert 0 < a <= 1
    assert b == pytest.approx(a, rel=1e-6, abs=1e-9)


@pytest.mark.property
@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 2**31), d=st.integers(1, 6), scale=st.sampled_from([0.05, 0.3, 1.0, 10.0]))
def test_matches_reference_form_on_random_inputs(seed: int, d: int, scale: float) -> None:
    x, y = _blobs(seed, (8, 13, 6), d)
    want = _reference_form_score(x * scale, y)
    assert estimators.score("sfda", features=x * scale, labels=y) == pytest.approx(want, rel=1e-8)
