"""LEEP: the formula, the google property tests, the zero-mass guard and provable bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import estimators
from estimators._data import check_scoring_inputs
from estimators._linalg import class_sums
from estimators.leep import expected_empirical_prediction


def _softmax(logits: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    out: np.ndarray = p / p.sum(axis=1, keepdims=True)
    return out


def _leep_loops(probs: np.ndarray, labels: np.ndarray) -> float:
    """The paper's definition written out with loops (independent of the vectorised code)."""
    n, c_s = probs.shape
    classes = sorted(set(labels.tolist()))
    joint = {
        (y, z): sum(probs[i, z] for i in range(n) if labels[i] == y) / n for y in classes for z in range(c_s)
    }
    total = 0.0
    for i in range(n):
        eep = 0.0
        for z in range(c_s):
            p_z = sum(joint[(y, z)] for y in classes)
            if p_z > 0:
                eep += joint[(labels[i], z)] / p_z * probs[i, z]
        total += math.log(eep)
    return float(total / n)


def _entropy(labels: np.ndarray) -> float:
    p = np.bincount(np.unique(labels, return_inverse=True)[1]) / labels.shape[0]
    return float(-(p * np.log(p)).sum())


@st.composite
def probs_and_labels(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Source softmaxes (peaked or flat, some dead source classes) and labels with at least 2 classes."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(2, 40))
    c = draw(st.integers(2, 6))
    labels = rng.integers(0, c, n)
    labels[:2] = [0, 1]
    c_s = draw(st.integers(1, 12))
    temperature = draw(st.sampled_from([0.1, 1.0, 10.0, 50.0]))
    logits = rng.standard_normal((n, c_s)) * temperature
    if c_s > 1 and draw(st.booleans()):
        logits[:, rng.random(c_s) < 0.3] = -np.inf
        logits[:, 0] = np.maximum(logits[:, 0], 0.0)
    return _softmax(logits), labels


@pytest.mark.unit
def test_matches_loop_definition() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 30)
    probs = _softmax(rng.standard_normal((30, 7)) * 2)
    got = estimators.score("leep", source_probs=probs, labels=labels)
    assert got == pytest.approx(_leep_loops(probs, labels), rel=1e-12)


@pytest.mark.unit
def test_without_log_is_mean_eep() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 25)
    probs = _softmax(rng.standard_normal((25, 5)))
    data = check_scoring_inputs(estimators.get_scorer("leep"), labels=labels, source_probs=probs)
    eep, _ = expected_empirical_prediction(data.probs, data.codes, data.num_classes)
    assert estimators.score("leep", source_probs=probs, labels=labels, log=False) == pytest.approx(
        float(eep.mean()), rel=1e-14
    )
    assert estimators.score("leep", source_probs=probs, labels=labels) == pytest.approx(
        float(torch.log(eep).mean()), rel=1e-14
    )


@pytest.mark.unit
def test_google_perfect_one_hot_is_zero() -> None:
    """google transferability_metrics_test: one-hot source predictions that determine the label."""
    labels = np.repeat(np.arange(5), 20)
    probs = np.eye(30)[labels * 3]  # 30 source classes, each target class mapped to its own
    assert estimators.score("leep", source_probs=probs, labels=labels) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.unit
def test_google_random_softmax_is_log_one_over_c() -> None:
    """google transferability_metrics_test: random softmax over 30 source classes -> log(1/C_t) ± 0.01."""
    rng = np.random.default_rng(0)
    for c in (2, 5, 10):
        probs = rng.random((5000, 30))
        probs /= probs.sum(axis=1, keepdims=True)
        labels = rng.integers(0, c, 5000)
        got = estimators.score("leep", source_probs=probs, labels=labels)
        assert got == pytest.approx(math.log(1 / c), abs=0.01)


@pytest.mark.unit
def test_zero_mass_source_classes_are_dropped() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 40)
    probs = _softmax(rng.standard_normal((40, 6)))
    padded = np.zeros((40, 9))
    padded[:, [0, 2, 3, 5, 7, 8]] = probs  # three dead source classes
    plain = estimators.score("leep", source_probs=probs, labels=labels)
    details = estimators.score_details("leep", source_probs=padded, labels=labels)
    assert details.value == pytest.approx(plain, rel=1e-14)
    assert details.info["dropped_source_classes"] == 3
    assert (
        estimators.score_details("leep", source_probs=probs, labels=labels).info["dropped_source_classes"]
        == 0
    )


@pytest.mark.unit
def test_single_source_class_gives_minus_label_entropy() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    got = estimators.score("leep", source_probs=np.ones((6, 1)), labels=labels)
    assert got == pytest.approx(-_entropy(labels), rel=1e-14)


@pytest.mark.unit
def test_one_hot_source_predictions_equal_nce() -> None:
    """With hard θ, P̂(y|z) is the count-based conditional and LEEP is exactly −H(Y|Z) = NCE."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 60)
    probs = np.eye(7)[(labels + rng.integers(0, 3, 60)) % 7]
    leep = estimators.score("leep", source_probs=probs, labels=labels)
    nce = estimators.score("nce", source_probs=probs, labels=labels)
    assert leep == pytest.approx(nce, rel=1e-12)
    assert leep < -0.1  # not trivially both zero


@pytest.mark.unit
def test_source_class_order_does_not_matter() -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 30)
    probs = _softmax(rng.standard_normal((30, 8)))
    perm = rng.permutation(8)
    a = estimators.score("leep", source_probs=probs, labels=labels)
    assert estimators.score("leep", source_probs=probs[:, perm], labels=labels) == pytest.approx(a, rel=1e-12)


@pytest.mark.unit
def test_better_aligned_head_scores_higher() -> None:
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(4), 25)
    aligned = _softmax(np.eye(4)[labels] * 3 + rng.standard_normal((100, 4)))
    noisy = _softmax(np.eye(4)[labels] * 0.5 + rng.standard_normal((100, 4)))
    assert estimators.score("leep", source_probs=aligned, labels=labels) > estimators.score(
        "leep", source_probs=noisy, labels=labels
    )


@pytest.mark.unit
def test_class_sums_matches_one_hot_product() -> None:
    rng = np.random.default_rng(6)
    values = torch.from_numpy(rng.standard_normal((50, 7)))
    codes = torch.from_numpy(rng.integers(0, 4, 50))
    onehot = torch.nn.functional.one_hot(codes, 4).to(torch.float64)
    torch.testing.assert_close(class_sums(values, codes, 4), onehot.T @ values, rtol=1e-12, atol=1e-12)


@pytest.mark.unit
def test_many_classes_path_matches_matmul_path() -> None:
    """Above 256 target classes EEP uses a chunked gather instead of a GEMM; both must agree."""
    rng = np.random.default_rng(7)
    labels = np.arange(600) % 300
    probs = torch.from_numpy(_softmax(rng.standard_normal((600, 40)) * 3))
    codes = torch.from_numpy(labels)
    gathered, _ = expected_empirical_prediction(probs, codes, 300)
    joint = class_sums(probs, codes, 300)
    direct = ((probs @ (joint / joint.sum(0)).T).gather(1, codes[:, None])).squeeze(1)
    torch.testing.assert_close(gathered, direct, rtol=1e-12, atol=0.0)


@pytest.mark.unit
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 10, 500)
    probs = _softmax(rng.standard_normal((500, 100)) * 2)
    cpu = estimators.score("leep", source_probs=probs, labels=labels)
    gpu = estimators.score(
        "leep", source_probs=torch.from_numpy(probs).cuda(), labels=torch.from_numpy(labels).cuda()
    )
    assert gpu == pytest.approx(cpu, rel=1e-10)


@pytest.mark.property
@settings(max_examples=150, deadline=None, database=None, derandomize=True)
@given(case=probs_and_labels())
def test_bounded_by_label_entropy_and_zero(case: tuple[np.ndarray, np.ndarray]) -> None:
    """−H(Y) ≤ LEEP ≤ 0.

    P̂(y|z) is one EM step, started from the prior P(y|z) = π_y, on the likelihood of the model
    p(y|x) = Σ_z P(y|z) θ(x)_z; EM never decreases the likelihood, and the prior start scores −H(Y).
    """
    probs, labels = case
    value = estimators.score("leep", source_probs=probs, labels=labels)
    assert -_entropy(labels) - 1e-12 <= value <= 0.0


@pytest.mark.property
@settings(max_examples=150, deadline=None, database=None, derandomize=True)
@given(case=probs_and_labels())
def test_mean_eep_bounds_exp_mean_log(case: tuple[np.ndarray, np.ndarray]) -> None:
    """AM ≥ GM: mean EEP ≥ exp(mean log EEP), and both lie in (0, 1]."""
    probs, labels = case
    with_log = estimators.score("leep", source_probs=probs, labels=labels)
    without = estimators.score("leep", source_probs=probs, labels=labels, log=False)
    assert 0.0 < math.exp(with_log) <= without * (1 + 1e-12)
    assert without <= 1.0 + 1e-12
