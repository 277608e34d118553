"""The data-free baseline scorers (kind ``baseline``): a model's metadata in, that number out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import estimators
from estimators import InvalidInputError, InvalidParameterError, NotApplicableError
from estimators._registry import INPUT_NAMES

BASELINES = {
    "param_count": "param_count",
    "source_accuracy": "source_accuracy",
    "feature_width": "feature_dim",
}


def test_the_baselines_are_registered_as_their_own_kind() -> None:
    assert estimators.list_scorers("baseline") == sorted(BASELINES)
    assert not set(BASELINES) & set(estimators.list_scorers("model") + estimators.list_scorers("set"))
    for name, needs in BASELINES.items():
        spec = estimators.get_scorer(name)
        assert spec.kind == "baseline" and spec.needs == (needs,) and spec.citation
        assert set(spec.needs) <= set(INPUT_NAMES) and spec.defaults == {}


def test_each_entry_point_refuses_the_other_kind_and_names_the_right_one() -> None:
    with pytest.raises(InvalidParameterError, match="score_baseline"):
        estimators.score("param_count", features=np.ones((4, 2)), labels=[0, 0, 1, 1])
    with pytest.raises(InvalidParameterError, match=r"score\(\)"):
        estimators.score_baseline("logme", param_count=10)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    counts=st.lists(st.integers(1, 10**11), min_size=2, max_size=8),
    accs=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=8),
    dims=st.lists(st.integers(1, 100_000), min_size=2, max_size=8),
)
def test_a_baseline_ranks_models_exactly_as_their_metadata(
    counts: list[int], accs: list[float], dims: list[int]
) -> None:
    """The score is the number itself (exactly: integers below 2**53 and floats pass through float64), so
    the ranking by a baseline is the ranking by the metadata, ties included."""
    got_counts = [estimators.score_baseline("param_count", param_count=c) for c in counts]
    got_accs = [estimators.score_baseline("source_accuracy", source_accuracy=a) for a in accs]
    got_dims = [estimators.score_baseline("feature_width", feature_dim=d) for d in dims]
    assert got_counts == [float(c) for c in counts]
    assert got_accs == accs
    assert got_dims == [float(d) for d in dims]
    assert np.argsort(got_counts, kind="stable").tolist() == np.argsort(counts, kind="stable").tolist()


@settings(max_examples=30, deadline=None, derandomize=True)
@given(n=st.integers(0, 5), d=st.integers(1, 64))
def test_feature_width_reads_the_width_of_the_features(n: int, d: int) -> None:
    feats = np.zeros((n, d), dtype=np.float32)
    assert estimators.score_baseline("feature_width", features=feats) == float(d)
    assert estimators.score_baseline("feature_width", features=torch.zeros(n, d)) == float(d)
    # an explicit width wins over the features (the zoo entry's declared D)
    assert estimators.score_baseline("feature_width", feature_dim=d + 1, features=feats) == float(d + 1)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_a_missing_input_is_not_applicable_and_named(name: str) -> None:
    with pytest.raises(NotApplicableError) as err:
        estimators.score_baseline(name)
    assert err.value.code == "not-applicable" and err.value.param == BASELINES[name]
    other = {"param_count": 5, "source_accuracy": 0.5, "feature_dim": 3}
    del other[BASELINES[name]]
    with pytest.raises(NotApplicableError):  # the other inputs do not stand in for the missing one
        estimators.score_baseline(name, **other)


@pytest.mark.parametrize(
    ("name", "inputs", "param"),
    [
        ("param_count", {"param_count": 0}, "param_count"),
        ("param_count", {"param_count": -3.0}, "param_count"),
        ("param_count", {"param_count": float("inf")}, "param_count"),
        ("param_count", {"param_count": "big"}, "param_count"),
        ("param_count", {"param_count": True}, "param_count"),
        ("param_count", {"param_count": [1, 2]}, "param_count"),
        ("source_accuracy", {"source_accuracy": 71.9}, "source_accuracy"),  # a percentage, not a fraction
        ("source_accuracy", {"source_accuracy": -0.1}, "source_accuracy"),
        ("source_accuracy", {"source_accuracy": float("nan")}, "source_accuracy"),
        ("feature_width", {"feature_dim": 0}, "feature_dim"),
        ("feature_width", {"feature_dim": 2.5}, "feature_dim"),
        ("feature_width", {"features": np.zeros(5)}, "features"),
    ],
)
def test_bad_metadata_is_a_typed_error_naming_the_input(
    name: str, inputs: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidInputError) as err:
        estimators.score_baseline(name, **inputs)
    assert err.value.param == param


def test_numpy_and_torch_scalars_are_numbers() -> None:
    assert estimators.score_baseline("param_count", param_count=np.int64(7)) == 7.0
    assert estimators.score_baseline("source_accuracy", source_accuracy=np.array([0.25])) == 0.25
    assert estimators.score_baseline("feature_width", feature_dim=torch.tensor(9)) == 9.0


def test_baselines_take_no_parameters() -> None:
    with pytest.raises(InvalidParameterError) as err:
        estimators.score_baseline("param_count", param_count=3, log=True)
    assert err.value.param == "log"
