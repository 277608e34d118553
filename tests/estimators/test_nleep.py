"""NLEEP: google property tests, guards, and the invariances the implementation promises."""

from __future__ import annotations

import math

import numpy as np
import pytest

import estimators
from estimators.errors import DegenerateInputError


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
