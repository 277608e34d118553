"""ridge_loo: closed-form leave-one-out ridge-probe accuracy — agreement with a refit per left-out sample,
the penalty choice, tie handling, edge cases, typed errors and invariances."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import estimators
from estimators.errors import DegenerateInputError, InvalidParameterError, NumericalError
from estimators.ridge_loo import loo_predictions

PROPS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


def _refit_loo(feats: np.ndarray, labels: np.ndarray, alphas: list[float]) -> np.ndarray:
    """``(N, L, C)`` LOO predictions by brute force: for every left-out sample and penalty, refit the ridge
    probe with intercept on the other N − 1 samples (standardised with the all-sample statistics, as the
    scorer does; penalty ``λ = α N`` with the full N) and predict the left-out sample."""
    n, d = feats.shape
    mu, sd = feats.mean(axis=0), feats.std(axis=0)
    xs = np.where(sd > 0, (feats - mu) / np.where(sd > 0, sd, 1.0), 0.0)
    onehot = np.eye(int(labels.max()) + 1)[labels]
    out = np.zeros((n, len(alphas), onehot.shape[1]))
    for i in range(n):
        rest = np.arange(n) != i
        x, y = xs[rest], onehot[rest]
        x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
        xc = x - x_mean
        for j, alpha in enumerate(alphas):
            w = np.linalg.solve(xc.T @ xc + alpha * n * np.eye(d), xc.T @ (y - y_mean))
            out[i, j] = y_mean + (xs[i] - x_mean) @ w
    return out


def _blobs(seed: int, n_per: int = 20, k: int = 3, d: int = 8, sep: float = 6.0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(k), n_per)
    feats = rng.standard_normal((k, d))[labels] * sep + rng.standard_normal((len(labels), d))
    return feats, labels


# --- agreement with the refit ------------------------------------------------------------------------------

# The closed form and the refit solve the same symmetric positive definite systems. On unit-variance
# columns s_max ≤ tr(XᵀX) = N·D, so their condition number is at most (s_max + λ)/λ ≤ (D + α)/α ≤ 1e4 here
# (α ≥ 1e-2, D ≤ 60); float64 solutions then agree to ~1e4 · 1e-16 relative on predictions of order 1,
# far inside the 1e-8 tolerance.
ALPHAS = [1e-2, 1.0, 100.0]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("n", "d", "k"),
    [(40, 5, 3), (30, 60, 4), (25, 25, 2), (12, 3, 2), (60, 8, 6)],  # N > D, N < D (dual), N = D, C = 2
)
def test_matches_refit_per_left_out_sample(n: int, d: int, k: int) -> None:
    rng = np.random.default_rng(n * d + k)
    labels = np.arange(n) % k
    feats = rng.standard_normal((k, d))[labels] + 2.0 * rng.standard_normal((n, d)) + 5.0
    feats[:, 0] = 3.0  # a constant column: standardised to zero
    got = loo_predictions(torch.from_numpy(feats), torch.from_numpy(labels), ALPHAS).numpy()
    np.testing.assert_allclose(got, _refit_loo(feats, labels, ALPHAS), rtol=0, atol=1e-8)


@pytest.mark.unit
def test_duplicated_samples_match_refit() -> None:
    """Each sample twice: every left-out sample keeps its twin in the training part."""
    feats, labels = _blobs(1, n_per=6, k=3, d=4, sep=1.0)
    feats, labels = np.concatenate([feats, feats]), np.concatenate([labels, labels])
    got = loo_predictions(torch.from_numpy(feats), torch.from_numpy(labels), ALPHAS).numpy()
    np.testing.assert_allclose(got, _refit_loo(feats, labels, ALPHAS), rtol=0, atol=1e-8)


@pytest.mark.property
@PROPS
@given(
    n_per=st.lists(st.integers(2, 6), min_size=2, max_size=4),
    d=st.integers(1, 12),
    sep=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_closed_form_equals_refit(n_per: list[int], d: int, sep: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(n_per)), n_per)
    feats = rng.standard_normal((len(n_per), d))[labels] * sep + rng.standard_normal((len(labels), d))
    got = loo_predictions(torch.from_numpy(feats), torch.from_numpy(labels), ALPHAS).numpy()
    np.testing.assert_allclose(got, _refit_loo(feats, labels, ALPHAS), rtol=0, atol=1e-8)


@pytest.mark.unit
def test_score_is_the_refit_accuracy_at_a_single_penalty() -> None:
    """With one penalty there is no choice: the score is the argmax accuracy of the refit predictions."""
    feats, labels = _blobs(2, n_per=15, k=4, d=10, sep=0.8)
    got = estimators.score_details(
        "ridge_loo", features=feats, labels=labels, alpha_min=0.1, alpha_max=0.1, num_alpha=1
    )
    refit = _refit_loo(feats, labels, [0.1])[:, 0]
    assert got.value == pytest.approx(float((refit.argmax(axis=1) == labels).mean()), abs=1e-12)
    assert got.info["alpha"] == pytest.approx(0.1) and got.info["moved"] == 0
    assert got.info["path_accuracy"] == [pytest.approx(got.value, abs=1e-12)]


# --- the penalty choice ------------------------------------------------------------------------------------


@pytest.mark.unit
def test_penalty_minimises_press_of_the_other_samples() -> None:
    """Each sample is predicted at the α minimising the LOO squared error of the other samples."""
    feats, labels = _blobs(3, n_per=12, k=3, d=20, sep=0.5)
    alphas = list(np.logspace(-3, 3, 7))
    got = estimators.score_details("ridge_loo", features=feats, labels=labels)
    loo = _refit_loo(feats, labels, alphas)
    onehot = np.eye(3)[labels]
    press = ((loo - onehot[:, None, :]) ** 2).sum(axis=2)  # (N, L)
    chosen = np.argmin(press.sum(axis=0)[None, :] - press, axis=1)
    want = float((loo[np.arange(len(labels)), chosen].argmax(axis=1) == labels).mean())
    assert got.value == pytest.approx(want, abs=1e-12)
    assert got.info["alpha"] == pytest.approx(alphas[int(np.argmin(press.sum(axis=0)))])
    assert got.info["press"] == pytest.approx(float(press[np.arange(len(labels)), chosen].mean()), rel=1e-8)
    path = (loo.argmax(axis=2) == labels[:, None]).mean(axis=0)
    np.testing.assert_allclose(got.info["path_accuracy"], path, atol=1e-12)


@pytest.mark.unit
def test_info_reports_the_path_and_rank() -> None:
    feats, labels = _blobs(4, d=40, n_per=10)  # D > N: rank is at most N - 1 after centring
    got = estimators.score_details("ridge_loo", features=feats, labels=labels, num_alpha=5)
    assert len(got.info["path_accuracy"]) == 5
    assert all(0.0 <= v <= 1.0 for v in got.info["path_accuracy"])
    assert 1 <= got.info["rank"] <= len(labels) - 1
    assert math.isfinite(got.info["press"]) and got.info["press"] >= 0
    assert np.isclose(np.logspace(-3, 3, 5), got.info["alpha"], rtol=1e-12).sum() == 1


@pytest.mark.unit
@pytest.mark.parametrize(
    ("n_per", "k", "d"), [(30, 4, 12), (6, 3, 50), (20, 2, 39)]
)  # N > D, N < D, N = D + 1
def test_info_hscore_equals_the_hscore_scorer(n_per: int, k: int, d: int) -> None:
    """H-score is invariant to invertible maps of the features, so the standardised decomposition gives
    the ``hscore`` scorer's value (both are sums over the same non-null directions; rounding only)."""
    feats, labels = _blobs(8, n_per=n_per, k=k, d=d, sep=1.0)
    feats = np.maximum(feats, 0.0) * np.random.default_rng(0).uniform(0.1, 10.0, d)
    feats[:, 0] = 0.0
    got = estimators.score_details("ridge_loo", features=feats, labels=labels).info["hscore"]
    assert got == pytest.approx(estimators.score("hscore", features=feats, labels=labels), rel=1e-8)


# --- known answers and edge cases --------------------------------------------------------------------------


@pytest.mark.unit
def test_separable_classes_score_one() -> None:
    feats, labels = _blobs(0, sep=20.0)
    assert estimators.score("ridge_loo", features=feats, labels=labels) == 1.0


@pytest.mark.unit
def test_unrelated_features_score_near_chance() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(4), 60)
    got = estimators.score("ridge_loo", features=rng.standard_normal((240, 16)), labels=labels)
    # chance is 1/4; 240 held-out predictions give a binomial sd of 0.028, so 4 sd is 0.11
    assert abs(got - 0.25) < 0.11


@pytest.mark.unit
def test_constant_features_predict_from_the_intercept() -> None:
    """No information: the LOO intercept is the class frequency among the other samples."""
    labels = np.repeat(np.arange(2), [10, 20])
    assert estimators.score("ridge_loo", features=np.ones((30, 4)), labels=labels) == pytest.approx(20 / 30)


@pytest.mark.unit
def test_ties_are_credited_one_over_k_whatever_the_class_ids() -> None:
    """Sizes 3 and 2, no information: a left-out sample of the larger class sees 2 + 2 others, a tie it
    shares (credit 1/2 each, three samples); the smaller class loses 3 to 1. Score 1.5 / 5 for any ids."""
    feats = np.zeros((5, 3))
    for ids in ([0, 0, 0, 1, 1], [7, 7, 7, 2, 2], [1, 1, 1, 0, 0]):
        assert estimators.score("ridge_loo", features=feats, labels=np.array(ids)) == pytest.approx(0.3)


@pytest.mark.unit
def test_two_classes_and_more_dimensions_than_samples() -> None:
    feats, labels = _blobs(5, n_per=8, k=2, d=100, sep=1.0)
    got = estimators.score_details("ridge_loo", features=feats, labels=labels)
    assert 0.5 < got.value <= 1.0 and got.info["rank"] <= 15


@pytest.mark.unit
def test_a_class_with_one_sample_is_a_typed_error() -> None:
    """A left-out singleton leaves its class without training data; the gate asks for 2 per class."""
    feats, labels = _blobs(6, n_per=5)
    labels[0] = 9
    with pytest.raises(DegenerateInputError, match="needs at least 2 per class"):
        estimators.score("ridge_loo", features=feats, labels=labels)


@pytest.mark.unit
@pytest.mark.parametrize(
    "params",
    [
        {"alpha_min": 2.0, "alpha_max": 1.0},
        {"alpha_min": 0.0},
        {"alpha_max": -1.0},
        {"num_alpha": 0},
        {"num_alpha": 2.5},
        {"folds": 5},
    ],
)
def test_bad_parameters_are_typed_errors(params: dict[str, Any]) -> None:
    feats, labels = _blobs(7)
    with pytest.raises(InvalidParameterError):
        estimators.score("ridge_loo", features=feats, labels=labels, **params)


@pytest.mark.unit
def test_registered_as_a_model_scorer() -> None:
    spec = estimators.get_scorer("ridge_loo")
    assert "ridge_loo" in estimators.list_scorers("model")
    assert spec.min_per_class == 2 and spec.higher_is_better and spec.citation
    assert dict(spec.defaults) == {"alpha_min": 1e-3, "alpha_max": 1e3, "num_alpha": 7}


# --- properties --------------------------------------------------------------------------------------------


@st.composite
def _ridge_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """Two or more samples per class, degenerate features, extreme scales, float32 and float64."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k = draw(st.integers(2, 4))
    sizes = draw(st.lists(st.integers(2, 10), min_size=k, max_size=k))
    labels = np.repeat(np.arange(k), sizes)
    d = draw(st.sampled_from([1, 3, 50]))
    kind = draw(st.sampled_from(["random", "constant", "zeros", "rank1", "clustered", "dead_units", "dups"]))
    n = len(labels)
    if kind == "random":
        feats = rng.standard_normal((n, d))
    elif kind == "constant":
        feats = np.full((n, d), 3.0)
    elif kind == "zeros":
        feats = np.zeros((n, d))
    elif kind == "rank1":
        feats = rng.standard_normal((n, 1)) @ rng.standard_normal((1, d))
    elif kind == "clustered":
        feats = rng.standard_normal((k, d))[labels] * 3 + rng.standard_normal((n, d))
    elif kind == "dups":
        feats = np.repeat(rng.standard_normal((1, d)), n, axis=0)
        feats[: n // 2] += 1.0
    else:
        feats = np.maximum(rng.standard_normal((n, d)), 0.0)
        feats[:, : max(1, d // 2)] = 0.0
    scale = draw(st.sampled_from([1e-30, 1e-6, 1.0, 1e6, 1e30]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return {"features": (feats * scale).astype(dtype), "labels": labels}


@pytest.mark.property
@PROPS
@given(inputs=_ridge_inputs())
def test_total_and_bounded(inputs: dict[str, Any]) -> None:
    try:
        got = estimators.score_details("ridge_loo", **inputs)
    except NumericalError:
        return
    assert math.isfinite(got.value) and 0.0 <= got.value <= 1.0
    assert math.isfinite(got.info["press"])


@st.composite
def _well_posed(draw: st.DrawFn) -> dict[str, Any]:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k = draw(st.integers(2, 4))
    labels = np.repeat(np.arange(k), draw(st.lists(st.integers(4, 12), min_size=k, max_size=k)))
    rng.shuffle(labels)
    d = draw(st.sampled_from([2, 6, 40]))
    sep = draw(st.floats(0.3, 3.0))
    feats = rng.standard_normal((k, d))[labels] * sep + rng.standard_normal((len(labels), d))
    return {"features": feats, "labels": labels}


@pytest.mark.property
@PROPS
@given(inputs=_well_posed(), seed=st.integers(0, 2**32 - 1))
def test_invariant_to_sample_order_and_class_ids(inputs: dict[str, Any], seed: int) -> None:
    rng = np.random.default_rng(seed)
    feats, labels = inputs["features"], inputs["labels"]
    perm = rng.permutation(len(labels))
    ids = rng.permutation(np.arange(int(labels.max()) + 1) * 13 + 5)
    a = estimators.score("ridge_loo", features=feats, labels=labels)
    permuted = estimators.score("ridge_loo", features=feats[perm], labels=labels[perm])
    relabelled = estimators.score("ridge_loo", features=feats, labels=ids[labels])
    assert permuted == pytest.approx(a, abs=1e-12) and relabelled == pytest.approx(a, abs=1e-12)


@pytest.mark.property
@PROPS
@given(inputs=_well_posed(), shift=st.floats(-100, 100), log_scale=st.floats(-3, 3))
def test_invariant_to_column_affine_maps(inputs: dict[str, Any], shift: float, log_scale: float) -> None:
    feats, labels = inputs["features"], inputs["labels"]
    scales = np.exp(log_scale + np.random.default_rng(0).uniform(-1, 1, feats.shape[1]))
    a = estimators.score("ridge_loo", features=feats, labels=labels)
    b = estimators.score("ridge_loo", features=feats * scales + shift, labels=labels)
    # standardisation removes the map up to rounding (~1e-13 relative), far below any LOO margin except
    # a sample exactly on a boundary; allow one such sample
    assert abs(a - b) <= 1 / len(labels) + 1e-12


@pytest.mark.property
@settings(PROPS, max_examples=10)
@given(seed=st.integers(0, 2**32 - 1))
def test_informative_features_beat_noise(seed: int) -> None:
    feats, labels = _blobs(seed % 1000, n_per=15, k=3, d=6, sep=4.0)
    noise = np.random.default_rng(seed).standard_normal(feats.shape)
    assert estimators.score("ridge_loo", features=feats, labels=labels) > estimators.score(
        "ridge_loo", features=noise, labels=labels
    )


@pytest.mark.property
@PROPS
@given(seed=st.integers(0, 2**16), sep=st.floats(0.0, 3.0))
def test_per_sample_credit_averages_to_the_score_and_follows_the_samples(seed: int, sep: float) -> None:
    """``per_sample`` is each sample's LOO credit (1, 0 or 1/k): its mean is the score and it moves with the
    samples under a permutation (the recommendation's paired bootstrap resamples it). The mean matches to
    1e-12: both sum the same N credits in float64, in different orders."""
    feats, labels = _blobs(seed, n_per=8, sep=sep)
    got = estimators.score_details("ridge_loo", features=feats, labels=labels)
    credit = np.asarray(got.info["per_sample"])
    assert credit.shape == (len(labels),) and ((credit >= 0) & (credit <= 1)).all()
    assert float(credit.mean()) == pytest.approx(got.value, abs=1e-12)
    perm = np.random.default_rng(seed).permutation(len(labels))
    again = estimators.score_details("ridge_loo", features=feats[perm], labels=labels[perm])
    np.testing.assert_allclose(np.asarray(again.info["per_sample"]), credit[perm], atol=1e-9)
