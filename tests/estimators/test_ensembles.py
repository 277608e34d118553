"""Ensemble EEP and mean LEEP: their defining identities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import estimators
from estimators.errors import InvalidInputError
from estimators.teams import prepare_pool


def _softmax(logits: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    out: np.ndarray = p / p.sum(axis=1, keepdims=True)
    return out


def _team(
    seed: int, n: int = 40, sizes: tuple[int, ...] = (5, 9, 3)
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    labels[:4] = np.arange(4)
    heads = {}
    for m, c_m in enumerate(sizes):
        logits = rng.standard_normal((n, c_m)) * 2 + rng.standard_normal((4, c_m))[labels] * m
        heads[f"m{m}"] = _softmax(logits)
    return heads, labels


def _ens(name: str, heads: dict[str, np.ndarray], labels: np.ndarray) -> float:
    return estimators.score_ensemble(
        name, members={k: {"source_probs": p} for k, p in heads.items()}, labels=labels
    )


@pytest.mark.unit
def test_single_member_is_leep() -> None:
    heads, labels = _team(0, sizes=(7,))
    leep = estimators.score("leep", source_probs=heads["m0"], labels=labels)
    assert _ens("ens_eep", heads, labels) == pytest.approx(leep, rel=1e-14)
    assert _ens("mean_leep", heads, labels) == pytest.approx(leep, rel=1e-14)


@pytest.mark.unit
def test_ens_eep_is_leep_of_the_concatenated_head() -> None:
    """§3.2 A: averaging member EEPs equals LEEP on [θ_1, …, θ_K]/K (disjoint union of label spaces)."""
    heads, labels = _team(1)
    heads["m1"][:, 4] = 0.0  # a dead source class in one member
    heads["m1"] /= heads["m1"].sum(axis=1, keepdims=True)
    concatenated = np.concatenate(list(heads.values()), axis=1) / len(heads)
    want = estimators.score("leep", source_probs=concatenated, labels=labels)
    assert _ens("ens_eep", heads, labels) == pytest.approx(want, rel=1e-12)


@pytest.mark.unit
def test_mean_leep_is_the_mean_of_member_leeps() -> None:
    heads, labels = _team(2)
    each = [estimators.score("leep", source_probs=p, labels=labels) for p in heads.values()]
    assert _ens("mean_leep", heads, labels) == pytest.approx(sum(each) / len(each), rel=1e-14)


@pytest.mark.unit
def test_duplicated_member_changes_nothing_for_ens_eep_only_its_weight_for_mean_leep() -> None:
    heads, labels = _team(3, sizes=(6,))
    twice = {"a": heads["m0"], "b": heads["m0"].copy()}
    leep = estimators.score("leep", source_probs=heads["m0"], labels=labels)
    assert _ens("ens_eep", twice, labels) == pytest.approx(leep, rel=1e-14)
    assert _ens("mean_leep", twice, labels) == pytest.approx(leep, rel=1e-14)


@pytest.mark.unit
def test_complementary_members_beat_their_mean() -> None:
    """Two heads that each know half of the classes: the ensemble EEP sees both halves."""
    labels = np.repeat(np.arange(4), 20)
    first = np.where(labels[:, None] < 2, np.eye(3)[np.minimum(labels, 2)], 1 / 3)
    second = np.where(labels[:, None] >= 2, np.eye(3)[np.maximum(labels - 2, 0)], 1 / 3)
    heads = {"a": first, "b": second}
    assert _ens("ens_eep", heads, labels) > _ens("mean_leep", heads, labels) + 0.05


@pytest.mark.unit
def test_member_order_does_not_matter() -> None:
    heads, labels = _team(4)
    reordered = dict(reversed(list(heads.items())))
    for name in ("ens_eep", "mean_leep"):
        assert _ens(name, reordered, labels) == pytest.approx(_ens(name, heads, labels), rel=1e-14)


@pytest.mark.unit
def test_members_are_validated_by_name() -> None:
    heads, labels = _team(5)
    heads["m2"] = heads["m2"][:-1]
    with pytest.raises(InvalidInputError, match=r"members\['m2'\]"):
        _ens("ens_eep", heads, labels)


@pytest.mark.unit
def test_registered_as_ensemble_scorers() -> None:
    assert {"ens_eep", "mean_leep"} <= set(estimators.list_scorers("ensemble"))
    for name in ("ens_eep", "mean_leep"):
        spec = estimators.get_scorer(name)
        assert spec.needs == ("source_probs", "labels") and spec.defaults == {}


@pytest.mark.property
@settings(max_examples=100, deadline=None, database=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(1, 10), min_size=1, max_size=4),
    n=st.integers(4, 40),
)
def test_jensen_ens_eep_at_least_mean_leep(seed: int, sizes: list[int], n: int) -> None:
    heads, labels = _team(seed, n=n, sizes=tuple(sizes))
    ens, mean = _ens("ens_eep", heads, labels), _ens("mean_leep", heads, labels)
    assert mean <= ens + 1e-12
    assert ens <= 0.0


@pytest.mark.unit
@pytest.mark.parametrize("name", ["ens_eep", "mean_leep"])
def test_eep_per_sample_terms_average_to_the_team_score(name: str) -> None:
    """The team recommendation resamples these terms: their mean must be the team's score (within float64
    summation rounding over 120 samples)."""
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1, 2], 40)
    members = {m: {"source_probs": rng.dirichlet(np.ones(5), size=len(labels))} for m in "abcd"}
    objective, _, _ = prepare_pool(name, members=members, labels=labels)
    for team in [(0,), (0, 1), (1, 2, 3)]:
        terms = objective.per_sample(team)
        assert terms is not None and terms.shape == (len(labels),)
        assert float(terms.mean()) == pytest.approx(objective.team_score(team), abs=1e-12)
