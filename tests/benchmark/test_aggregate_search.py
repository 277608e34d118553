"""The search for the default scorer set and its leave-one-target-out estimate."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.aggregate_search import aggregate, leave_one_target_out, search
from estimators import evaluation

MODELS = [f"m{i}" for i in range(6)]
SCORERS = ["a", "b", "c", "d"]


def _ranks(order: list[int]) -> dict[str, float]:
    """Ranks 1..n of MODELS for a scorer whose best-first order is ``order`` (indices into MODELS)."""
    return {MODELS[i]: float(pos + 1) for pos, i in enumerate(order)}


@st.composite
def benchmarks(draw: st.DrawFn) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, dict[str, float]]]:
    """2-4 targets, each with distinct accuracies and a random permutation per scorer."""
    targets = [f"t{i}" for i in range(draw(st.integers(2, 4)))]
    ranks: dict[str, dict[str, dict[str, float]]] = {}
    truth: dict[str, dict[str, float]] = {}
    for t in targets:
        per_scorer = {s: _ranks(draw(st.permutations(range(len(MODELS))))) for s in SCORERS}
        ranks[t] = {m: {s: per_scorer[s][m] for s in SCORERS} for m in MODELS}
        accs = draw(st.permutations(range(len(MODELS))))
        truth[t] = {m: 0.5 + 0.05 * a for m, a in zip(MODELS, accs, strict=True)}
    return ranks, truth


def test_aggregate_is_the_negated_mean_rank_and_skips_failed_scorers() -> None:
    ranks = {"x": {"a": 1.0, "b": 3.0}, "y": {"a": 2.0}, "z": {}}
    assert aggregate(ranks, ["a", "b"]) == {"x": -2.0, "y": -2.0}  # z was ranked by neither: left out


@settings(max_examples=40, deadline=None)
@given(benchmarks())
def test_search_covers_every_set_best_first(bench: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    ranks, truth = bench
    found = search(ranks, truth, SCORERS, max_members=3)
    expected = {c for k in (1, 2, 3) for c in combinations(SCORERS, k)}
    assert {c.members for c in found} == expected
    means = [c.mean for c in found]
    assert all(m is not None for m in means)
    assert means == sorted(means, reverse=True)  # type: ignore[type-var]
    # the best set is at least as good as every single scorer on the same targets (sets include singles)
    best_single = max(c.mean for c in found if len(c.members) == 1)  # type: ignore[type-var]
    assert found[0].mean >= best_single  # type: ignore[operator]


@settings(max_examples=40, deadline=None)
@given(benchmarks())
def test_a_single_scorer_set_grades_like_the_scorer(bench: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    ranks, truth = bench
    for c in search(ranks, truth, SCORERS, max_members=1):
        (s,) = c.members
        for t, tau in c.per_target.items():
            # minus the rank orders the models exactly as the scorer does: τ_w depends only on the order
            direct = evaluation.weighted_tau({m: -ranks[t][m][s] for m in MODELS}, truth[t])
            assert tau == pytest.approx(direct, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(benchmarks())
def test_leave_one_target_out_chooses_on_the_other_targets(bench: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    ranks, truth = bench
    found = search(ranks, truth, SCORERS, max_members=2)
    loto = leave_one_target_out(found)
    assert set(loto) == set(ranks)
    for held, (members, tau) in loto.items():
        rest = [t for t in ranks if t != held]
        chosen = next(c for c in found if c.members == members)
        # τ_w is undefined on a target where every set ties all models; such sets rank last, not first
        defined = [m for c in found if (m := c.mean_over(rest)) is not None]
        if defined:
            assert chosen.mean_over(rest) == pytest.approx(max(defined), abs=1e-12)
        else:
            assert chosen.mean_over(rest) is None
        assert tau == chosen.per_target[held]


def test_a_target_that_favours_one_scorer_shows_up_out_of_sample() -> None:
    """Scorer 'a' is perfect on t0 and t1 and reversed on t2: chosen on t0+t1, it is graded -1-ish on t2."""
    perfect = {m: float(i + 1) for i, m in enumerate(MODELS)}
    reverse = {m: float(len(MODELS) - i) for i, m in enumerate(MODELS)}
    truth = {t: {m: 1.0 - 0.1 * i for i, m in enumerate(MODELS)} for t in ("t0", "t1", "t2")}
    mid = {m: float(r) for m, r in zip(MODELS, (2, 1, 4, 3, 6, 5), strict=True)}  # mostly right
    ranks = {
        "t0": {m: {"a": perfect[m], "b": mid[m]} for m in MODELS},
        "t1": {m: {"a": perfect[m], "b": mid[m]} for m in MODELS},
        "t2": {m: {"a": reverse[m], "b": mid[m]} for m in MODELS},
    }
    found = search(ranks, truth, ["a", "b"], max_members=1)
    loto = leave_one_target_out(found)
    assert loto["t2"][0] == ("a",) and loto["t2"][1] == pytest.approx(-1.0)
    assert loto["t0"][0] == ("b",)  # on t1+t2, 'a' averages 0 and 'b' is positive everywhere


def test_targets_without_truth_are_skipped() -> None:
    ranks = {"t0": {m: {"a": float(i + 1)} for i, m in enumerate(MODELS)}, "t1": {"m0": {"a": 1.0}}}
    truth = {"t0": {m: 1.0 - 0.1 * i for i, m in enumerate(MODELS)}, "t1": {"m0": 0.9}}
    (only,) = search(ranks, truth, ["a"])
    assert list(only.per_target) == ["t0"] and only.mean == pytest.approx(1.0)
