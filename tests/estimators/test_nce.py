"""NCE: conditional-entropy definition, tie rule, bounds."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import estimators
from estimators.errors import InvalidParameterError


def _nce_counts(z: np.ndarray, y: np.ndarray) -> float:
    """−H(Y|Z) from counts, written out independently of the implementation."""
    n = len(y)
    pair = Counter(zip(z.tolist(), y.tolist(), strict=True))
    marg = Counter(z.tolist())
    return sum(c / n * math.log(c / marg[zz]) for (zz, _), c in pair.items())


def _entropy(labels: np.ndarray) -> float:
    p = np.bincount(np.unique(labels, return_inverse=True)[1]) / labels.shape[0]
    return float(-(p * np.log(p)).sum())


@pytest.mark.unit
def test_matches_count_definition() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 80)
    probs = rng.dirichlet(np.ones(9), 80)
    got = estimators.score("nce", source_probs=probs, labels=labels)
    assert got == pytest.approx(_nce_counts(probs.argmax(1), labels), rel=1e-12)


@pytest.mark.unit
def test_ties_take_the_first_source_class() -> None:
    labels = np.array([0, 0, 1, 1])
    # Rows 0 and 2 tie between source classes 0 and 1: argmax must pick 0 for both, giving z = [0, 1, 0, 1].
    probs = np.array([[0.5, 0.5], [0.2, 0.8], [0.5, 0.5], [0.1, 0.9]])
    got = estimators.score("nce", source_probs=probs, labels=labels)
    assert got == pytest.approx(_nce_counts(np.array([0, 1, 0, 1]), labels), rel=1e-12)
    assert got == pytest.approx(-math.log(2), rel=1e-12)  # z independent of y


@pytest.mark.unit
def test_deterministic_mapping_is_zero() -> None:
    labels = np.repeat(np.arange(4), 10)
    probs = np.full((40, 12), 0.01)
    probs[np.arange(40), labels * 3 + np.arange(40) % 3] = 1 - 0.11  # several source classes per target
    assert estimators.score("nce", source_probs=probs, labels=labels) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.unit
def test_uninformative_source_gives_minus_label_entropy() -> None:
    labels = np.array([0, 1, 1, 2, 2, 2])
    probs = np.tile([0.1, 0.7, 0.2], (6, 1))
    assert estimators.score("nce", source_probs=probs, labels=labels) == pytest.approx(
        -_entropy(labels), rel=1e-12
    )


@pytest.mark.unit
def test_unknown_source_label_rule_is_rejected() -> None:
    with pytest.raises(InvalidParameterError, match="source_labels"):
        estimators.score("nce", source_probs=np.eye(2)[[0, 1]], labels=[0, 1], source_labels="soft")


@pytest.mark.property
@settings(max_examples=150, deadline=None, database=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 50), c=st.integers(2, 6), c_s=st.integers(1, 15))
def test_between_minus_label_entropy_and_zero(seed: int, n: int, c: int, c_s: int) -> None:
    """0 ≥ −H(Y|Z) ≥ −H(Y): conditioning cannot increase entropy."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    labels[:2] = [0, 1]
    probs = rng.dirichlet(np.full(c_s, 0.5), n)
    value = estimators.score("nce", source_probs=probs, labels=labels)
    assert -_entropy(labels) - 1e-12 <= value <= 1e-15
