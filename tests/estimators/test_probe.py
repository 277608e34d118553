"""probe_cv: nested cross-validated linear-probe accuracy — known answers, an independent cross-check with
scikit-learn, the fold rule, typed errors and properties."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import estimators
from estimators.errors import DegenerateInputError, InvalidParameterError, NumericalError
from estimators.probe import fold_ids

PROPS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


def _blobs(seed: int, n_per: int = 20, k: int = 3, d: int = 8, sep: float = 6.0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(k), n_per)
    feats = rng.standard_normal((k, d))[labels] * sep + rng.standard_normal((len(labels), d))
    return feats, labels


@pytest.mark.unit
def test_separable_classes_score_one() -> None:
    feats, labels = _blobs(0, sep=20.0)
    assert estimators.score("probe_cv", features=feats, labels=labels) == 1.0


@pytest.mark.unit
def test_unrelated_features_score_near_chance() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(4), 60)
    feats = rng.standard_normal((240, 16))
    got = estimators.score("probe_cv", features=feats, labels=labels)
    # chance is 1/4; 240 held-out predictions give a binomial sd of 0.028, so 4 sd is 0.11
    assert abs(got - 0.25) < 0.11


@pytest.mark.unit
def test_matches_scikit_learn_on_the_same_folds() -> None:
    """With one C there is no inner choice: the score is plain k-fold CV accuracy, which scikit-learn's
    LogisticRegression computes independently on the folds of :func:`fold_ids` (same canonical keys)."""
    from sklearn.linear_model import LogisticRegression

    feats, labels = _blobs(2, n_per=30, k=3, d=6, sep=1.0)
    got = estimators.score_details(
        "probe_cv", features=feats, labels=labels, num_c=1, c_min=0.5, c_max=0.5, max_iter=500, tol=1e-9
    )
    xs = (feats - feats.mean(0)) / feats.std(0)
    keys = xs @ np.random.default_rng(0).standard_normal(xs.shape[1])
    folds = fold_ids(labels, keys, 5)
    correct = 0
    for f in range(5):
        test = folds == f
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = LogisticRegression(C=0.5, max_iter=5000, tol=1e-10).fit(xs[~test], labels[~test])
        correct += int((clf.predict(xs[test]) == labels[test]).sum())
    # both solvers converge to the same optimum (to ~1e-6), so at most a sample lying on a decision
    # boundary (margin below that) can differ: allow one sample of 90
    assert abs(got.value - correct / len(labels)) <= 1 / len(labels) + 1e-12
    assert got.info["c_chosen"] == [0.5] * 5


@pytest.mark.unit
def test_info_reports_the_choice_and_rank() -> None:
    feats, labels = _blobs(3, d=40, n_per=10)  # D > N per fold: rank is at most N - 1 after centring
    got = estimators.score_details("probe_cv", features=feats, labels=labels)
    assert len(got.info["c_chosen"]) == 5
    assert 1 <= got.info["rank"] <= len(labels)
    assert math.isfinite(got.info["log_loss"]) and got.info["log_loss"] >= 0


@pytest.mark.unit
def test_too_few_samples_per_class_is_a_typed_error() -> None:
    feats, labels = _blobs(4, n_per=4)
    with pytest.raises(DegenerateInputError, match="at least 5 samples per class"):
        estimators.score("probe_cv", features=feats, labels=labels)
    assert 0.0 <= estimators.score("probe_cv", features=feats, labels=labels, folds=2, inner_folds=2) <= 1.0


@pytest.mark.unit
def test_inner_folds_must_fit_in_the_outer_training_part() -> None:
    feats, labels = _blobs(5, n_per=5)
    with pytest.raises(DegenerateInputError, match="inner_folds"):
        estimators.score("probe_cv", features=feats, labels=labels, folds=5, inner_folds=5)


@pytest.mark.unit
@pytest.mark.parametrize(
    "params",
    [{"c_min": 2.0, "c_max": 1.0}, {"folds": 1}, {"num_c": 0}, {"device": "tpu"}, {"seed": -1}],
)
def test_bad_parameters_are_typed_errors(params: dict[str, Any]) -> None:
    feats, labels = _blobs(6)
    with pytest.raises(InvalidParameterError):
        estimators.score("probe_cv", features=feats, labels=labels, **params)


@pytest.mark.unit
def test_cuda_request_without_cuda() -> None:
    feats, labels = _blobs(7)
    if torch.cuda.is_available():
        assert 0.0 <= estimators.score("probe_cv", features=feats, labels=labels, device="cuda") <= 1.0
    else:
        with pytest.raises(InvalidParameterError, match="CUDA"):
            estimators.score("probe_cv", features=feats, labels=labels, device="cuda")


@pytest.mark.unit
def test_constant_features_predict_from_the_intercept() -> None:
    labels = np.repeat(np.arange(2), [10, 20])
    got = estimators.score("probe_cv", features=np.ones((30, 4)), labels=labels)
    # no information: the intercept predicts the majority class in every fold
    assert got == pytest.approx(20 / 30)


@pytest.mark.unit
def test_seed_changes_only_the_fold_assignment() -> None:
    feats, labels = _blobs(8, sep=0.7)
    a = estimators.score("probe_cv", features=feats, labels=labels, seed=1)
    assert a == estimators.score("probe_cv", features=feats, labels=labels, seed=1)


@pytest.mark.property
@PROPS
@given(
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=6),
    folds=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_fold_ids_are_stratified_and_order_free(sizes: list[int], folds: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = np.repeat(np.arange(len(sizes)), sizes)
    keys = rng.standard_normal(len(codes))
    ids = fold_ids(codes, keys, folds)
    for c in range(len(sizes)):
        per_fold = np.bincount(ids[codes == c], minlength=folds)
        assert per_fold.max() - per_fold.min() <= 1  # stratified: balanced within each class
    perm = rng.permutation(len(codes))
    np.testing.assert_array_equal(fold_ids(codes[perm], keys[perm], folds), ids[perm])


@st.composite
def _probe_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """Enough samples per class for the default folds, with degenerate features and extreme scales."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k = draw(st.integers(2, 4))
    sizes = draw(st.lists(st.integers(7, 12), min_size=k, max_size=k))
    labels = np.repeat(np.arange(k), sizes)
    d = draw(st.sampled_from([1, 3, 50]))
    kind = draw(st.sampled_from(["random", "constant", "zeros", "rank1", "clustered", "dead_units"]))
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
    else:
        feats = np.maximum(rng.standard_normal((n, d)), 0.0)
        feats[:, : max(1, d // 2)] = 0.0
    scale = draw(st.sampled_from([1e-30, 1e-6, 1.0, 1e6, 1e30]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return {"features": (feats * scale).astype(dtype), "labels": labels}


@pytest.mark.slow
@pytest.mark.property
@PROPS
@given(inputs=_probe_inputs())
def test_total_and_bounded(inputs: dict[str, Any]) -> None:
    try:
        value = estimators.score("probe_cv", **inputs)
    except (DegenerateInputError, NumericalError):
        return
    assert math.isfinite(value) and 0.0 <= value <= 1.0


@pytest.mark.slow
@pytest.mark.property
@PROPS
@given(inputs=_probe_inputs(), shift=st.floats(-100, 100), log_scale=st.floats(-3, 3))
def test_invariant_to_column_affine_maps(inputs: dict[str, Any], shift: float, log_scale: float) -> None:
    feats = inputs["features"].astype(np.float64)
    rng = np.random.default_rng(0)
    scales = np.exp(log_scale + rng.uniform(-1, 1, feats.shape[1]))
    spread = feats.std(axis=0)
    # an absolute shift far above a column's spread rounds its information away (1 + 1e-30 == 1):
    # shift only columns whose spread keeps them well above float64 rounding of the shifted values
    shifts = np.where(spread * scales > 1e-6 * abs(shift), shift, 0.0)
    moved = feats * scales + shifts
    a = estimators.score("probe_cv", features=feats, labels=inputs["labels"])
    b = estimators.score("probe_cv", features=moved, labels=inputs["labels"])
    # standardisation removes the map up to rounding (~1e-13 relative), far below any fitted margin
    # except samples exactly on a boundary; allow one such sample
    assert abs(a - b) <= 1 / len(inputs["labels"]) + 1e-12


@pytest.mark.slow
@pytest.mark.property
@settings(PROPS, max_examples=10)
@given(seed=st.integers(0, 2**32 - 1))
def test_informative_features_beat_noise(seed: int) -> None:
    feats, labels = _blobs(seed % 1000, n_per=15, k=3, d=6, sep=4.0)
    noise = np.random.default_rng(seed).standard_normal(feats.shape)
    good = estimators.score("probe_cv", features=feats, labels=labels)
    poor = estimators.score("probe_cv", features=noise, labels=labels)
    assert good > poor


@pytest.mark.unit
@PROPS
@given(seed=st.integers(0, 2**16))
def test_per_sample_correctness_follows_the_samples(seed: int) -> None:
    """``per_sample`` averages to the score exactly and moves with the samples under a permutation."""
    feats, labels = _blobs(seed, n_per=10, sep=1.5)
    got = estimators.score_details("probe_cv", features=feats, labels=labels)
    hits = np.asarray(got.info["per_sample"])
    assert hits.shape == (len(labels),) and set(np.unique(hits)) <= {0, 1}
    assert hits.sum() / len(labels) == got.value  # both are count / N
    perm = np.random.default_rng(seed).permutation(len(labels))
    again = estimators.score_details("probe_cv", features=feats[perm], labels=labels[perm])
    np.testing.assert_array_equal(np.asarray(again.info["per_sample"]), hits[perm])


@pytest.mark.property
@settings(PROPS, max_examples=10)  # two probe fits per example
@given(folds=st.integers(2, 6), seed=st.integers(0, 2**32 - 1), data_seed=st.integers(0, 2**16))
def test_progress_is_reported_once_per_fold_and_changes_nothing(
    folds: int, seed: int, data_seed: int
) -> None:
    """The callback sees (1, folds), (2, folds), ... (folds, folds); the result is bit-identical with and
    without it (the callback only observes: the same arithmetic runs in the same order)."""
    feats, labels = _blobs(data_seed, n_per=12, sep=1.0)
    calls: list[tuple[int, int]] = []
    watched = estimators.score_details(
        "probe_cv", features=feats, labels=labels, folds=folds, seed=seed,
        progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    plain = estimators.score_details("probe_cv", features=feats, labels=labels, folds=folds, seed=seed)
    assert calls == [(f, folds) for f in range(1, folds + 1)]
    assert watched.value == plain.value and watched.info["c_chosen"] == plain.info["c_chosen"]
    assert np.array_equal(watched.info["per_sample"], plain.info["per_sample"])


@pytest.mark.unit
def test_progress_is_no_published_parameter() -> None:
    spec = estimators.get_scorer("probe_cv")
    assert spec.reports_progress and "progress" not in spec.defaults
    assert "progress" not in spec.to_dict()["params"]
    assert not estimators.get_scorer("logme").reports_progress
    feats, labels = _blobs(9)
    calls: list[tuple[int, int]] = []
    estimators.score_details("logme", features=feats, labels=labels, progress=lambda *a: calls.append(a))
    assert calls == []  # a scorer without steps ignores the callback
    with pytest.raises(InvalidParameterError, match="callable"):
        estimators.score_details("probe_cv", features=feats, labels=labels, progress=3)
