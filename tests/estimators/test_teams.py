"""select_team: greedy and exhaustive search, eligibility, typed errors; ensemble accuracy and team tau_w."""

from __future__ import annotations

import json
import math
from itertools import combinations
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import estimators
from estimators.errors import (
    InvalidInputError,
    InvalidParameterError,
    SearchTooLargeError,
    TeamSizeError,
    ZoorankError,
)
from estimators.evaluation import ensemble_accuracy, team_weighted_tau


def _softmax(logits: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    out: np.ndarray = p / p.sum(axis=1, keepdims=True)
    return out


def _pool(seed: int, size: int = 5, n: int = 36) -> tuple[dict[str, dict[str, Any]], np.ndarray]:
    """Members with a head, target features and a source profile; member i is more label-aware as i grows."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    members = {}
    for i in range(size):
        width = 3 + i % 3
        d = 4
        target = rng.standard_normal((n, d)) + labels[:, None] * (0.2 * i)
        w = rng.standard_normal((d, width))
        source = rng.standard_normal((20, d)) + 0.3 * i
        members[f"m{i}"] = {
            "features": target,
            "source_probs": _softmax(target @ w * 2),
            "source_features": source,
            "source_predictions": (source @ w).argmax(1),
        }
    return members, labels


# --- search --------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("seed", range(4))
def test_greedy_equals_exhaustive_for_modular_objectives(seed: int) -> None:
    """mean LEEP and OSBORN with w_c = 0 are sums of per-member terms: greedy is then optimal."""
    members, labels = _pool(seed, size=6)
    cases: list[tuple[str, dict[str, Any]]] = [("mean_leep", {}), ("osborn", {"w_c": 0.0})]
    for name, params in cases:
        greedy = estimators.select_team(name, members=members, labels=labels, k=3, **params)
        full = estimators.select_team(name, members=members, labels=labels, k=3, mode="exhaustive", **params)
        assert set(greedy.best.members) == set(full.best.members)
        # the same team, summed in a different order: float64 rounding only
        assert greedy.best.score == pytest.approx(full.best.score, rel=1e-12, abs=1e-12)


@pytest.mark.unit
def test_greedy_is_exact_for_k_one_and_exhaustive_is_ordered() -> None:
    members, labels = _pool(5, size=5)
    for name in ("osborn", "ens_eep", "mean_leep"):
        greedy = estimators.select_team(name, members=members, labels=labels, k=1)
        full = estimators.select_team(name, members=members, labels=labels, k=2, mode="exhaustive", top=20)
        assert len(full.teams) == math.comb(5, 2) and full.candidates == 10
        scores = [t.score for t in full.teams]
        assert scores == sorted(scores, reverse=True)
        single = estimators.select_team(name, members=members, labels=labels, k=1, mode="exhaustive")
        assert greedy.best.members == single.best.members


@pytest.mark.unit
def test_exhaustive_scores_match_score_ensemble_for_eep_scorers() -> None:
    members, labels = _pool(6, size=4)
    for name in ("ens_eep", "mean_leep"):
        full = estimators.select_team(name, members=members, labels=labels, k=2, mode="exhaustive", top=6)
        for team in full.teams:
            direct = estimators.score_ensemble(
                name,
                members={m: {"source_probs": members[m]["source_probs"]} for m in team.members},
                labels=labels,
            )
            # same EEP vectors; numpy vs torch reductions differ by rounding only
            assert team.score == pytest.approx(direct, rel=1e-12)


@pytest.mark.unit
def test_team_of_one_is_leep_for_both_eep_readings() -> None:
    members, labels = _pool(7, size=3)
    for m, arrays in members.items():
        leep = estimators.score("leep", source_probs=arrays["source_probs"], labels=labels)
        for name in ("ens_eep", "mean_leep"):
            one = estimators.select_team(name, members={m: arrays}, labels=labels, k=1)
            assert one.best.score == pytest.approx(leep, rel=1e-12)


@pytest.mark.unit
def test_ties_go_to_the_lowest_pool_index() -> None:
    members, labels = _pool(8, size=2)
    twins = {"b": members["m0"], "a": {k: np.array(v, copy=True) for k, v in members["m0"].items()}}
    for name in ("ens_eep", "mean_leep"):
        assert estimators.select_team(name, members=twins, labels=labels, k=1).best.members == ("b",)


@pytest.mark.unit
def test_candidates_standardisation_needs_exhaustive() -> None:
    members, labels = _pool(9, size=4)
    with pytest.raises(InvalidParameterError, match="exhaustive"):
        estimators.select_team("osborn", members=members, labels=labels, standardize="candidates")
    full = estimators.select_team(
        "osborn", members=members, labels=labels, mode="exhaustive", standardize="candidates", top=4
    )
    # z-scored team sums over C(4,3) = 4 candidates: the scores are -(zD + zT + zC), which sum to 0
    assert sum(t.score for t in full.teams) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.unit
def test_typed_errors() -> None:
    members, labels = _pool(10, size=3)
    with pytest.raises(TeamSizeError):
        estimators.select_team("ens_eep", members=members, labels=labels, k=4)
    with pytest.raises(TeamSizeError):
        estimators.select_team("ens_eep", members=members, labels=labels, k=0)
    with pytest.raises(InvalidParameterError):
        estimators.select_team("ens_eep", members=members, labels=labels, mode="random")
    with pytest.raises(SearchTooLargeError):
        estimators.select_team("ens_eep", members=members, labels=labels, k=2, mode="exhaustive", max_teams=2)
    with pytest.raises(InvalidParameterError, match="'model' scorer"):
        estimators.select_team("leep", members=members, labels=labels)
    with pytest.raises(InvalidParameterError, match="unknown parameter"):
        estimators.select_team("ens_eep", members=members, labels=labels, solver="emd")
    with pytest.raises(InvalidInputError, match="unknown inputs"):
        estimators.select_team("ens_eep", members={"a": {"logits": np.ones((3, 3))}}, labels=labels)
    with pytest.raises(InvalidInputError):
        estimators.select_team("ens_eep", members={}, labels=labels)


@pytest.mark.unit
def test_ineligible_members_are_reported_not_dropped() -> None:
    members, labels = _pool(11, size=4)
    members["imagenet"] = {
        "features": members["m0"]["features"],
        "source_probs": members["m0"]["source_probs"],
    }
    members["headless"] = {"features": members["m1"]["features"]}
    osborn = estimators.select_team("osborn", members=members, labels=labels, k=2)
    assert set(osborn.ineligible) == {"imagenet", "headless"}
    assert "source profile" in osborn.ineligible["imagenet"]["message"]
    assert "source head" in osborn.ineligible["headless"]["message"]
    assert osborn.ineligible["imagenet"]["code"] == "not-applicable"
    eep = estimators.select_team("ens_eep", members=members, labels=labels, k=2)
    assert set(eep.ineligible) == {"headless"} and "imagenet" in eep.pool
    # too few eligible: the error names who was left out and why
    with pytest.raises(TeamSizeError, match="imagenet"):
        estimators.select_team("osborn", members=members, labels=labels, k=5)


@pytest.mark.unit
def test_invalid_member_is_ineligible_with_its_code_and_bad_labels_raise() -> None:
    members, labels = _pool(12, size=3)
    members["nan"] = dict(members["m0"], features=np.full_like(members["m0"]["features"], np.nan))
    selection = estimators.select_team("osborn", members=members, labels=labels, k=2)
    assert selection.ineligible["nan"]["code"] == "invalid-input"
    with pytest.raises(ZoorankError, match="distinct class"):
        estimators.select_team("osborn", members=members, labels=np.zeros_like(labels), k=2)


@pytest.mark.unit
def test_selection_is_json_ready_with_breakdown() -> None:
    members, labels = _pool(13, size=4)
    selection = estimators.select_team("osborn", members=members, labels=labels, k=3)
    doc = json.loads(json.dumps(selection.to_dict()))
    terms = doc["teams"][0]["terms"]
    assert set(terms["W_D"]) == set(terms["W_T"]) == set(terms["cohesion"]) == set(doc["teams"][0]["members"])
    assert len(terms["pairs"]) == 6 and len(doc["steps"]) == 3
    assert doc["params"]["solver"] == "emd" and set(doc["members"]) == set(members)


# --- properties ------------------------------------------------------------------------------------


@pytest.mark.unit
@settings(max_examples=500, derandomize=True, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(1, 4),
    k=st.integers(1, 5),
    width=st.integers(1, 4),
    duplicate=st.booleans(),
    one_class=st.booleans(),
    name=st.sampled_from(["ens_eep", "mean_leep"]),
    mode=st.sampled_from(["greedy", "exhaustive"]),
)
def test_eep_team_search_is_finite_or_typed(
    seed: int, size: int, k: int, width: int, duplicate: bool, one_class: bool, name: str, mode: str
) -> None:
    rng = np.random.default_rng(seed)
    labels = np.arange(10) % 2
    members = {}
    for i in range(size):
        probs = rng.dirichlet(np.ones(width), size=10)
        if one_class:
            probs = np.zeros((10, width))
            probs[:, 0] = 1.0
        members[f"m{i}"] = {"source_probs": probs}
    if duplicate:
        members["dup"] = {"source_probs": members["m0"]["source_probs"].copy()}
    try:
        selection = estimators.select_team(name, members=members, labels=labels, k=k, mode=mode)
    except ZoorankError:
        assert k > len(members)
        return
    assert all(math.isfinite(t.score) and t.score <= 0 for t in selection.teams)


# --- evaluation hooks ------------------------------------------------------------------------------


@pytest.mark.unit
def test_ensemble_accuracy_averages_probabilities() -> None:
    labels = np.array([1, 1, 2, 1])
    a = np.array([[0.6, 0.4, 0.0], [0.6, 0.4, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    b = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    assert ensemble_accuracy({"a": a, "b": b}, labels, ["a"]) == 0.25  # predicts 0, 0, 2, 0
    assert ensemble_accuracy({"a": a, "b": b}, labels, ["b"]) == 1.0
    # mean: [.3,.7,0] [.3,.7,0] [0,0,1] [.5,.5,0] -> 1,1,2,0 (tie -> lowest class): 3 of 4 right
    assert ensemble_accuracy({"a": a, "b": b}, labels, ["a", "b"]) == 0.75
    for team in ([], ["a", "a"], ["c"]):
        with pytest.raises(InvalidInputError):
            ensemble_accuracy({"a": a, "b": b}, labels, team)
    with pytest.raises(InvalidInputError):
        ensemble_accuracy({"a": a, "b": b[:, :2]}, labels, ["a", "b"])
    with pytest.raises(InvalidInputError):
        ensemble_accuracy({"a": a}, np.array([0, 1, 2, 3]), ["a"])


@pytest.mark.unit
def test_team_weighted_tau() -> None:
    teams = list(combinations("abcd", 2))
    accuracy = {t: float(i) for i, t in enumerate(teams)}
    assert team_weighted_tau(dict(accuracy), accuracy) == pytest.approx(1.0)
    reversed_order = {tuple(reversed(t)): v for t, v in accuracy.items()}  # member order is irrelevant
    assert team_weighted_tau(reversed_order, accuracy) == pytest.approx(1.0)
    assert team_weighted_tau({t: -v for t, v in accuracy.items()}, accuracy) == pytest.approx(-1.0)
    with pytest.raises(InvalidInputError):
        team_weighted_tau({("a", "b"): 1.0, ("a", "c"): 2.0}, {("a", "b"): 1.0, ("a", "d"): 2.0})


@pytest.mark.unit
@settings(max_examples=500, derandomize=True, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 20), c=st.integers(1, 4), size=st.integers(1, 4))
def test_ensemble_accuracy_properties(seed: int, n: int, c: int, size: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    probs = {f"m{i}": rng.dirichlet(np.ones(c), size=n) for i in range(size)}
    team = list(probs)
    value = ensemble_accuracy(probs, labels, team)
    assert 0.0 <= value <= 1.0 and value * n == pytest.approx(round(value * n))
    if size <= 2:  # member order is irrelevant (float addition of two terms commutes exactly)
        assert ensemble_accuracy(probs, labels, team[::-1]) == value
    single = ensemble_accuracy(probs, labels, team[:1])
    assert single == float(np.mean(probs["m0"].argmax(1) == labels))
