"""The public API contract: discovery, the validation gate, parameter checks and typed errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import estimators
from estimators._data import check_scoring_inputs
from estimators._params import AnyOf, Constraint, Interval, Options, check_params
from estimators._registry import INPUT_NAMES, Registry, ScorerSpec
from estimators.errors import (
    DegenerateInputError,
    DuplicateRegistrationError,
    InvalidInputError,
    InvalidParameterError,
    UnknownScorerError,
    ZoorankError,
)

SPEC = ScorerSpec(name="probe", kind="model", fn=lambda d: 0.0, needs=("features", "labels"), min_per_class=2)
PROBS_SPEC = ScorerSpec(name="probe_p", kind="model", fn=lambda d: 0.0, needs=("source_probs", "labels"))


def _data(n: int = 12, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), np.arange(n) % 3


def test_list_scorers_is_sorted_and_complete() -> None:
    names = estimators.list_scorers()
    assert names == sorted(names)
    expected_model = {
        "leep", "nce", "logme", "hscore", "hscore_shrinkage", "nleep", "gbc", "transrate", "sfda", "parc",
        "etran_energy", "etran_lda", "ncti_seli", "ncti_ncc", "ncti_vc", "tmi", "ped",
    }  # fmt: skip
    assert expected_model <= set(estimators.list_scorers("model"))
    assert {"etran", "ncti"} <= set(estimators.list_scorers("set"))


def test_get_scorer_metadata_is_json_ready() -> None:
    import json

    for name in estimators.list_scorers():
        spec = estimators.get_scorer(name)
        meta = json.loads(json.dumps(spec.to_dict()))
        assert meta["name"] == name and meta["kind"] in {"model", "set", "ensemble", "baseline"}
        assert meta["citation"], f"{name} has no citation"
        assert set(meta["needs"]) <= set(INPUT_NAMES)


def test_unknown_scorer_lists_valid_names() -> None:
    with pytest.raises(UnknownScorerError) as err:
        estimators.get_scorer("logmee")
    assert "logme" in str(err.value) and isinstance(err.value, LookupError)


def test_registry_refuses_duplicates() -> None:
    reg: Registry[int] = Registry("thing", UnknownScorerError)
    reg.add("a", 1)
    with pytest.raises(DuplicateRegistrationError, match="already registered"):
        reg.add("a", 2)
    assert reg.get("a") == 1 and reg.names() == ["a"]


def test_kind_mismatch_points_to_the_right_function() -> None:
    feats, labels = _data()
    with pytest.raises(InvalidParameterError, match="score_set"):
        estimators.score("etran", features=feats, labels=labels)
    with pytest.raises(InvalidParameterError, match="score\\(\\)"):
        estimators.score_set("logme", candidates={"a": {"features": feats}}, labels=labels)


def test_unknown_and_invalid_parameters_are_named() -> None:
    feats, labels = _data()
    with pytest.raises(InvalidParameterError, match="'solvr'.*valid parameters") as err:
        estimators.score("logme", features=feats, labels=labels, solvr="icml")
    assert err.value.param == "solvr"
    with pytest.raises(InvalidParameterError, match="'solver' parameter of 'logme'") as err:
        estimators.score("logme", features=feats, labels=labels, solver="newton")
    assert err.value.param == "solver"


def test_missing_input_is_named() -> None:
    _, labels = _data()
    with pytest.raises(InvalidInputError, match="needs 'source_probs'"):
        estimators.score("leep", labels=labels)
    with pytest.raises(InvalidInputError, match="needs 'features'"):
        estimators.score("logme", labels=labels)


@pytest.mark.parametrize(
    ("features", "labels", "match"),
    [
        (np.ones((4, 2)), np.array([0, 1, 0]), "4 rows but labels has 3"),
        (np.ones(4), np.array([0, 1, 0, 1]), "must be 2-D"),
        (np.array([[1.0, np.nan], [0, 1], [1, 1], [0, 0]]), np.array([0, 1, 0, 1]), "NaN or infinite"),
        (np.array([[1.0, np.inf], [0, 1], [1, 1], [0, 0]]), np.array([0, 1, 0, 1]), "NaN or infinite"),
        (np.ones((4, 0)), np.array([0, 1, 0, 1]), "empty"),
        (np.array([["a", "b"]] * 4), np.array([0, 1, 0, 1]), "real numbers"),
        (np.ones((4, 2)) * 1j, np.array([0, 1, 0, 1]), "real numbers"),
        (np.ones((4, 2)), np.array([0.5, 1, 0, 1]), "integer class ids"),
        (np.ones((4, 2)), np.array([[0, 1], [0, 1], [1, 0], [1, 0]]), "1-D"),
        (np.ones((4, 2)), np.array([]), "empty"),
    ],
)
def test_gate_rejects_malformed_inputs(features: Any, labels: Any, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        check_scoring_inputs(SPEC, features=features, labels=labels)


def test_gate_enforces_class_minimums() -> None:
    feats = np.ones((5, 2))
    with pytest.raises(DegenerateInputError, match="1 distinct class"):
        check_scoring_inputs(SPEC, features=feats, labels=np.zeros(5, dtype=int))
    with pytest.raises(DegenerateInputError, match="class 9 has 1 sample"):
        check_scoring_inputs(SPEC, features=feats, labels=np.array([4, 4, 7, 7, 9]))


def test_gate_reencodes_labels_in_sorted_id_order() -> None:
    feats, _ = _data(6)
    data = check_scoring_inputs(SPEC, features=feats, labels=np.array([30, 5, 30, 17, 5, 17]))
    assert data.classes.tolist() == [5, 17, 30]
    assert data.codes.tolist() == [2, 0, 2, 1, 0, 1]
    assert data.counts.tolist() == [2, 2, 2]
    strings = check_scoring_inputs(SPEC, features=feats, labels=np.array(list("bcabca")))
    assert strings.codes.tolist() == [1, 2, 0, 1, 2, 0]


def test_gate_copies_and_casts() -> None:
    feats = np.arange(12, dtype=np.float32).reshape(6, 2)
    data = check_scoring_inputs(SPEC, features=feats, labels=np.arange(6) % 2)
    assert data.x.dtype == torch.float64
    data.x[0, 0] = 123.0
    assert feats[0, 0] == 0.0
    t = torch.arange(12, dtype=torch.float64).reshape(6, 2)
    data_t = check_scoring_inputs(SPEC, features=t, labels=torch.arange(6) % 2)
    data_t.x[0, 0] = 123.0
    assert t[0, 0] == 0.0


def test_gate_checks_probabilities() -> None:
    labels = np.array([0, 1, 0, 1])
    good = np.full((4, 3), 1 / 3)
    check_scoring_inputs(PROBS_SPEC, source_probs=good, labels=labels)
    with pytest.raises(InvalidInputError, match="sum to 1"):
        check_scoring_inputs(PROBS_SPEC, source_probs=good * 2, labels=labels)
    neg = good.copy()
    neg[0] = [1.5, -0.5, 0.0]
    with pytest.raises(InvalidInputError, match="negative"):
        check_scoring_inputs(PROBS_SPEC, source_probs=neg, labels=labels)
    with pytest.raises(InvalidInputError, match="3 rows"):
        check_scoring_inputs(PROBS_SPEC, source_probs=good[:3], labels=labels)


def test_every_error_is_a_zoorank_error_with_a_code() -> None:
    classes = [getattr(estimators, n) for n in estimators.__all__ if n.endswith("Error")]
    assert classes
    codes = set()
    for cls in classes:
        assert issubclass(cls, ZoorankError)
        codes.add(cls.code)
    assert len(codes) == len(classes), "error codes must be unique"


def test_check_params_constraints() -> None:
    rules: dict[str, Constraint] = {
        "k": Interval(1, None, integer=True),
        "mode": Options(("a", "b")),
        "x": AnyOf((Interval(0, 1),)),
    }
    defaults = {"k": 3, "mode": "a", "x": 0.5}
    assert check_params("s", {"k": 5}, defaults, rules) == {"k": 5, "mode": "a", "x": 0.5}
    for bad in ({"k": 0}, {"k": 2.5}, {"k": True}, {"mode": "c"}, {"x": float("nan")}, {"x": 2}):
        with pytest.raises(InvalidParameterError):
            check_params("s", bad, defaults, rules)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    low=st.floats(-10, 10),
    width=st.floats(0, 10),
    value=st.floats(allow_nan=True, allow_infinity=True),
    closed=st.sampled_from(["both", "left", "right", "neither"]),
)
def test_interval_matches_its_description(low: float, width: float, value: float, closed: str) -> None:
    high = low + width
    inside = (
        math.isfinite(value)
        and (low < value or (value == low and closed in ("both", "left")))
        and (value < high or (value == high and closed in ("both", "right")))
    )
    assert Interval(low, high, closed).is_satisfied_by(value) == inside
