"""NLEEP: google property tests, guards, the invariances the implementation promises, the batched EM
against scikit-learn's GaussianMixture, the diag / max_components variants and the cost budgets."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

import estimators
from estimators import nleep as nleep_module
from estimators._mixture import estimate_cost, fit_mixture_posteriors
from estimators.errors import DegenerateInputError, LimitExceededError
from estimators.leep import expected_empirical_prediction


def _clusters(
    seed: int, c: int = 3, per_class: int = 40, d: int = 8, spread: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(c), per_class)
    features = 10.0 * np.eye(d)[labels] + spread * rng.standard_normal((c * per_class, d))
    return features, labels


@pytest.mark.unit
def test_google_perfect_clusters_score_zero() -> None:
    """google transferability_metrics_test: features that determine the label -> NLEEP ≈ 0."""
    features, labels = _clusters(0)
    assert estimators.score("nleep", features=features, labels=labels) == pytest.approx(0.0, abs=1e-6)
    assert estimators.score("nleep", features=features, labels=labels, log=False) == pytest.approx(
        1.0, abs=1e-6
    )


@pytest.mark.unit
def test_google_random_features_score_negative() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 150)
    features = rng.standard_normal((150, 8))
    value = estimators.score("nleep", features=features, labels=labels)
    assert value < -0.3
    assert value >= -math.log(3) - 0.2  # near the uninformative log(1/C), not wildly below


@pytest.mark.unit
def test_separable_beats_overlapping() -> None:
    separable, labels = _clusters(2, spread=0.5)
    overlapping, _ = _clusters(2, spread=8.0)
    assert estimators.score("nleep", features=separable, labels=labels) > estimators.score(
        "nleep", features=overlapping, labels=labels
    )


@pytest.mark.unit
def test_float32_copy_scores_identically() -> None:
    """Features are rounded to float32 before the (discontinuous) mixture fit."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 60)
    features = rng.standard_normal((60, 6)) + labels[:, None]
    a = estimators.score("nleep", features=features, labels=labels)
    b = estimators.score("nleep", features=features.astype(np.float32), labels=labels)
    assert a == b


@pytest.mark.unit
@pytest.mark.parametrize("scale", [2.0**-90, 2.0**-20, 2.0**30, 2.0**100])
def test_power_of_two_scale_is_exactly_invariant(scale: float) -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 60)
    features = rng.standard_normal((60, 6)) + labels[:, None]
    base = estimators.score("nleep", features=features, labels=labels)
    assert estimators.score("nleep", features=features * scale, labels=labels) == base


@pytest.mark.unit
@pytest.mark.parametrize("scale", [1e-30, 1e6, 1e30])
def test_any_scale_is_invariant_on_clear_clusters(scale: float) -> None:
    """reg_covar is absolute in sklearn; without the RMS normalisation 1e30 would fail and 1e-30 blur."""
    features, labels = _clusters(5, spread=1.0)
    base = estimators.score("nleep", features=features, labels=labels)
    assert estimators.score("nleep", features=features * scale, labels=labels) == pytest.approx(
        base, rel=1e-6
    )


@pytest.mark.unit
def test_too_few_samples_for_the_mixture() -> None:
    labels = np.repeat(np.arange(3), 4)  # 12 samples, 15 components
    features = np.random.default_rng(6).standard_normal((12, 4))
    with pytest.raises(DegenerateInputError, match="at least that many samples"):
        estimators.score("nleep", features=features, labels=labels)
    value = estimators.score("nleep", features=features, labels=labels, components_per_class=1)
    assert math.isfinite(value)


@pytest.mark.unit
def test_constant_features_are_degenerate() -> None:
    labels = np.repeat(np.arange(2), 20)
    with pytest.raises(DegenerateInputError, match="constant"):
        estimators.score("nleep", features=np.full((40, 5), 3.0), labels=labels)


@pytest.mark.unit
def test_details_report_the_fit() -> None:
    features, labels = _clusters(7)
    info = estimators.score_details("nleep", features=features, labels=labels, components_per_class=2).info
    assert info["mixture_components"] == 6
    assert 1 <= info["pca_components"] <= 8
    assert info["converged"] is True
    assert info["dropped_components"] == 0


@pytest.mark.unit
def test_seed_is_used() -> None:
    """Different seeds may reach different optima on unstructured data; the same seed must repeat."""
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 4, 120)
    features = rng.standard_normal((120, 10))
    runs = {estimators.score("nleep", features=features, labels=labels, random_state=s) for s in range(6)}
    assert len(runs) > 1
    again = estimators.score("nleep", features=features, labels=labels, random_state=3)
    assert again == estimators.score("nleep", features=features, labels=labels, random_state=3)


# --- the batched EM against scikit-learn, the variants and the budgets -------------------------------------


def _reduced(features: np.ndarray) -> np.ndarray:
    """NLEEP's preprocessing (float32 rounding, PCA to 80 % variance, RMS normalisation)."""
    from estimators.nleep import _round_to_float32

    reduced = PCA(n_components=0.8).fit_transform(_round_to_float32(features))
    out: np.ndarray = reduced / np.sqrt(np.mean(np.square(reduced)))
    return out


def _sklearn_posteriors(x: np.ndarray, k: int, covariance_type: str = "full", seed: int = 0) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm = GaussianMixture(n_components=k, covariance_type=covariance_type, random_state=seed).fit(x)
        out: np.ndarray = gmm.predict_proba(x)
    return out


# The batched EM runs scikit-learn's iteration (same k-means start, same formulas) with the sums in another
# order and, for rank-deficient components, the Woodbury form of the same Mahalanobis distance: posteriors
# differ by rounding amplified by the conditioning, measured ≤ 1e-10 on these cases; 1e-7 leaves margin
# while still catching any change of the maths (a wrong weight or log-determinant moves them by ≫ 1e-3).
POSTERIOR_ATOL = 1e-7


@pytest.mark.property
@settings(max_examples=25, deadline=None, database=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    c=st.integers(2, 4),
    per_class=st.integers(6, 30),
    d=st.sampled_from([2, 5, 12, 40]),
    per_comp=st.integers(1, 3),
    covariance_type=st.sampled_from(["full", "diag"]),
)
def test_mixture_matches_scikit_learn(
    seed: int, c: int, per_class: int, d: int, per_comp: int, covariance_type: str
) -> None:
    """Low dimension (dense posteriors, full-rank components) to high (saturated, rank-deficient ones)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(c), per_class)
    features = rng.standard_normal((c, d))[labels] * 2 + rng.standard_normal((c * per_class, d))
    x = _reduced(features)
    k = per_comp * c
    want = _sklearn_posteriors(x, k, covariance_type)
    got = fit_mixture_posteriors(torch.from_numpy(x), k, covariance_type=covariance_type).posteriors.numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=POSTERIOR_ATOL)


@pytest.mark.unit
def test_batching_and_chunking_do_not_change_the_fit() -> None:
    """Tiny working-memory bounds force one component per batch and a few samples per chunk."""
    rng = np.random.default_rng(11)
    labels = np.repeat(np.arange(3), [40, 25, 10])
    x = _reduced(rng.standard_normal((3, 9))[labels] + rng.standard_normal((75, 9)))
    big = fit_mixture_posteriors(torch.from_numpy(x), 12)
    small = fit_mixture_posteriors(torch.from_numpy(x), 12, chunk_bytes=4096)
    assert big.iterations == small.iterations
    # Same maths, sums in other orders: rounding only.
    np.testing.assert_allclose(small.posteriors.numpy(), big.posteriors.numpy(), rtol=0, atol=1e-10)


@pytest.mark.unit
def test_diag_variant_is_the_diagonal_mixture() -> None:
    rng = np.random.default_rng(12)
    labels = np.repeat(np.arange(3), 40)
    features = rng.standard_normal((3, 10))[labels] + rng.standard_normal((120, 10))
    details = estimators.score_details("nleep", features=features, labels=labels, covariance_type="diag")
    assert details.info["covariance_type"] == "diag"
    posteriors = _sklearn_posteriors(_reduced(features), 15, "diag")
    eep, _ = expected_empirical_prediction(torch.from_numpy(posteriors), torch.from_numpy(labels), 3)
    # LEEP of posteriors equal to POSTERIOR_ATOL: the mean log EEP moves by about as much.
    assert details.value == pytest.approx(float(torch.log(eep).mean()), abs=1e-6)


@pytest.mark.unit
def test_max_components_caps_k() -> None:
    features, labels = _clusters(13, spread=1.0)
    capped = estimators.score_details("nleep", features=features, labels=labels, max_components=6)
    assert capped.info["mixture_components"] == 6
    same_k = estimators.score_details("nleep", features=features, labels=labels, components_per_class=2)
    assert capped.value == same_k.value  # the same K: the same computation
    loose = estimators.score_details("nleep", features=features, labels=labels, max_components=1000)
    assert loose.info["mixture_components"] == 15


@pytest.mark.unit
def test_time_budget_refuses_before_any_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """An estimate over the budget is refused before the PCA and the mixture are fitted."""
    features, labels = _clusters(14)

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("fitted although the estimate was over budget")

    monkeypatch.setattr(nleep_module, "PCA", must_not_run)
    monkeypatch.setattr(nleep_module, "fit_mixture_posteriors", must_not_run)
    with pytest.raises(LimitExceededError) as info:
        estimators.score("nleep", features=features, labels=labels, time_budget_s=1e-9)
    assert info.value.code == "limit-exceeded" and info.value.param == "time_budget_s"
    assert 'covariance_type="diag"' in str(info.value) and "max_components" in str(info.value)


@pytest.mark.unit
def test_refusal_names_a_max_components_that_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A budget between the estimates of K = 3 and K = 15 components: the message proposes a K that fits,
    and that call runs."""
    features, labels = _clusters(15, c=3, per_class=40, d=8, spread=1.0)
    d_reduced = _reduced(features).shape[1]
    pca = nleep_module._pca_cost(120, 8)
    seconds = [nleep_module._total(pca, 120, d_reduced, k, "full")[0] for k in (3, 15)]
    budget = (seconds[0] + seconds[1]) / 2
    with pytest.raises(LimitExceededError) as info:
        estimators.score("nleep", features=features, labels=labels, time_budget_s=budget)
    proposed = int(re.search(r"max_components=(\d+)", str(info.value)).group(1))  # type: ignore[union-attr]
    assert 3 <= proposed < 15
    assert math.isfinite(
        estimators.score(
            "nleep", features=features, labels=labels, time_budget_s=budget, max_components=proposed
        )
    )


@pytest.mark.unit
def test_memory_budget_refuses() -> None:
    features, labels = _clusters(16)
    with pytest.raises(LimitExceededError) as info:
        estimators.score("nleep", features=features, labels=labels, memory_budget_mb=1e-3)
    assert info.value.param == "memory_budget_mb"


@pytest.mark.unit
def test_estimate_grows_with_the_problem_and_diag_is_cheaper() -> None:
    full = [estimate_cost(10_000, d, 500, "full") for d in (64, 256, 1077)]
    assert full[0].seconds < full[1].seconds < full[2].seconds
    assert estimate_cost(10_000, 1077, 500, "diag").seconds < full[2].seconds
    assert estimate_cost(10_000, 1077, 100, "full").bytes < estimate_cost(10_000, 1077, 500, "full").bytes


@pytest.mark.unit
def test_default_budget_admits_the_benchmark_large_size() -> None:
    """N=10,000, D=2,048, C=100 (K=500, d' ≈ 1,077 after PCA): the default budgets accept it."""
    defaults = estimators.get_scorer("nleep").defaults
    pca = nleep_module._pca_cost(10_000, 2_048)
    seconds, mib = nleep_module._total(pca, 10_000, 1_077, 500, "full")
    assert seconds <= defaults["time_budget_s"] and mib <= defaults["memory_budget_mb"]
