"""Budget mode (``service.pipeline.budget``): the nested schedule and its cost guarantee (properties), and
constructed rankings on real images with real models: a clear winner drops the others in the first
round, a tie keeps both to the end, increments are reused through the feature store, costs add up."""

from __future__ import annotations

import importlib
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators.errors import InvalidParameterError
from service.pipeline.budget import MIN_PER_CLASS, budget_rank, nested_order, per_class_need, plan_schedule
from service.pipeline.ensembles import EnsembleOptions
from service.pipeline.plan import plan
from service.pipeline.run import rank
from service.pipeline.schema import RANKING_JSON_SCHEMA, Ranking
from service.pipeline.score import plan_scorers
from service.settings import Settings
from tests.support.budget import budget_entry, write_colour_folder
from tests.support.schema import check_schema
from zoo import ZooEntry

#: The default scorers made cheap: fewer L-BFGS steps and two folds (probe_cv's cost is per fit).
SCORERS = ["probe_cv", "hscore"]
PARAMS = {"probe_cv": {"folds": 2, "num_c": 2, "max_iter": 10}}

# --- the schedule ----------------------------------------------------------------------------------


@st.composite
def _labels(draw: st.DrawFn) -> np.ndarray:
    """Class codes of 2 to 6 classes of 1 to 40 images each, in a drawn order."""
    counts = draw(st.lists(st.integers(1, 40), min_size=2, max_size=6))
    labels = np.repeat(np.arange(len(counts)), counts)
    shuffled: np.ndarray = np.random.default_rng(draw(st.integers(0, 2**16))).permutation(labels)
    return shuffled


@given(
    labels=_labels(),
    seed=st.integers(0, 2**32 - 1),
    floor=st.integers(MIN_PER_CLASS, 6),
    fractions=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=6),
)
@settings(max_examples=60, deadline=None)
def test_round_samples_are_nested_stratified_and_floored(
    labels: np.ndarray, seed: int, floor: int, fractions: list[float]
) -> None:
    sched = plan_schedule(labels, seed, 1, 1.0, floor=floor)
    counts = np.bincount(labels)
    previous = np.zeros(0, np.int64)
    for f in sorted(fractions):
        rows = sched.rows(f)
        assert set(previous.tolist()) <= set(rows.tolist())  # nested: a bigger round holds the smaller
        assert len(rows) == sched.size(f) == len(set(rows.tolist()))
        taken = np.bincount(labels[rows], minlength=len(counts))
        # every class: ceil(f * n_c), at least min(n_c, floor), at most n_c (the whole class at f = 1)
        want = np.minimum(counts, np.maximum(np.ceil(f * counts - 1e-12), np.minimum(counts, floor)))
        assert taken.tolist() == (counts if f >= 1.0 else want).astype(int).tolist()
        previous = rows
    assert sched.rows(1.0).tolist() == list(range(len(labels)))


@given(
    labels=_labels(),
    models=st.integers(1, 12),
    budget=st.floats(0.05, 1.0),
    survivors=st.lists(st.integers(1, 12), min_size=1, max_size=12),
)
@settings(max_examples=80, deadline=None)
def test_any_sequence_of_survivors_stays_within_the_budget(
    labels: np.ndarray, models: int, budget: float, survivors: list[int]
) -> None:
    try:
        sched = plan_schedule(labels, 0, models, budget)
    except InvalidParameterError as exc:  # refused only when the smallest first round does not fit
        assert exc.param == "sampling.budget"
        smallest = int(np.minimum(np.bincount(labels), MIN_PER_CLASS).sum())
        assert smallest * models > budget * len(labels) * models - 1e-6
        return
    assert 2 * sched.size(sched.first) * models <= sched.allowance or sched.first == 2.0**-20
    fraction: float | None = sched.first
    spent = sched.size(sched.first) * models
    alive = models
    for s in survivors:
        assert fraction is not None
        alive = min(alive, s)
        nxt = sched.next_fraction(fraction, alive, spent)
        if nxt is None:
            break
        assert nxt > fraction
        spent += alive * (sched.size(nxt) - sched.size(fraction))
        fraction = nxt
    assert spent <= sched.allowance <= budget * len(labels) * models + 1e-6


def test_nested_order_is_seeded_and_stratified() -> None:
    labels = np.array([0, 1, 0, 1, 2, 2, 0])
    a, b = nested_order(labels, 3), nested_order(labels, 3)
    assert [x.tolist() for x in a] == [x.tolist() for x in b]
    assert [sorted(x.tolist()) for x in a] == [[0, 2, 6], [1, 3], [4, 5]]


def test_a_budget_too_small_for_the_first_round_is_refused_with_the_smallest_that_fits() -> None:
    labels = np.repeat(np.arange(4), 10)  # 40 images; at least 5 per class: 20 images in round one
    with pytest.raises(InvalidParameterError, match="at least 0.5") as exc:
        plan_schedule(labels, 0, 3, 0.3, floor=5)
    assert exc.value.param == "sampling.budget"
    assert plan_schedule(labels, 0, 3, 0.5, floor=5).first > 0


def test_the_scorers_need_sets_the_floor() -> None:
    assert per_class_need(plan_scorers(["hscore"])) == MIN_PER_CLASS
    assert per_class_need(plan_scorers(["probe_cv"])) == 5  # its 5 folds each need every class
    assert per_class_need(plan_scorers(["probe_cv"], {"probe_cv": {"folds": 3}})) == 3


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan")])
def test_plan_refuses_a_budget_outside_0_1(bad: float, tmp_path: Path) -> None:
    s = Settings(home=tmp_path / "home", data_roots=(tmp_path,), device="cpu")
    with pytest.raises(InvalidParameterError) as exc:
        plan("x", models=[], scorers=["hscore"], settings=s, budget=bad)
    assert exc.value.param == "sampling.budget"


# --- constructed rankings --------------------------------------------------------------------------


@pytest.fixture
def zoo_pkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    package = f"zoorank_budget_weights_{uuid.uuid4().hex[:10]}"
    pkg_dir = tmp_path / "site" / package
    pkg_dir.mkdir(parents=True)
    (pkg_dir / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    return pkg_dir, package


@pytest.fixture
def entries(zoo_pkg: tuple[Path, str]) -> dict[str, ZooEntry]:
    """``win`` and ``twin`` see the colour (the same weights: a tie); ``noise1``, ``noise2`` see noise."""
    return {
        "win": budget_entry("win", "colour", *zoo_pkg),
        "twin": budget_entry("twin", "colour", *zoo_pkg),
        "noise1": budget_entry("noise1", "noise", *zoo_pkg, offset=0),
        "noise2": budget_entry("noise2", "noise", *zoo_pkg, offset=8),
    }


@pytest.fixture
def colours(tmp_path: Path) -> Path:
    return write_colour_folder(tmp_path / "data" / "colours", per_class=16)


def _settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", data_roots=(tmp_path,), device="cpu", batch_size=16)


def _budget(
    colours: Path, entries: dict[str, ZooEntry], s: Settings, budget: float, **kw: Any
) -> tuple[Ranking, int]:
    request = plan(
        str(colours),
        models=list(entries.values()),
        scorers=SCORERS,
        scorer_params=PARAMS,
        seed=0,
        settings=s,
        budget=budget,
    )
    forwarded = [0]

    def count() -> None:
        forwarded[0] += 1

    return budget_rank(request, s, on_compute=count, **kw), forwarded[0]


def test_a_clear_winner_drops_the_rest_early_a_tie_goes_to_the_end_and_increments_are_reused(
    colours: Path, entries: dict[str, ZooEntry], tmp_path: Path
) -> None:
    s = _settings(tmp_path)
    # 48 images, 4 models: 2 per class is the floor (two folds); the allowance is 0.8 * 192 = 153
    ranking, forwarded = _budget(colours, entries, s, 0.8)
    check_schema(ranking.to_dict(), RANKING_JSON_SCHEMA)
    section = ranking.budget
    assert section is not None
    # the noise models leave in the first or second round; the tie is never separated
    gone = {m: r.round for r in section.rounds for m in r.dropped}
    assert set(gone) == {"noise1", "noise2"} and max(gone.values()) <= 1
    assert all(set(r.kept) >= {"win", "twin"} for r in section.rounds)
    assert section.stopped == "full-sample" and section.rounds[-1].num_samples == 48
    assert [r.num_samples for r in section.rounds] == sorted({r.num_samples for r in section.rounds})
    # the order: survivors (the tie broken by id), then the dropped, marked with their round
    assert [m.id for m in ranking.models[:2]] == ["twin", "win"]
    assert ranking.recommendation is not None and ranking.recommendation.model == ranking.models[0].id
    assert set(ranking.recommendation.confidence_set) == {"twin", "win"}
    dropped = ranking.models[2:]
    assert {m.id for m in dropped} == {"noise1", "noise2"}
    for m in dropped:
        assert m.dropped is not None and m.dropped.round == gone[m.id]
        assert m.dropped.num_samples == section.rounds[gone[m.id]].num_samples
        assert m.aggregate_rank is None and m.ranks == {}
        assert set(m.scores) == set(SCORERS) and m.dropped.aggregate_rank is not None
    # cost: each round's new images times the models it extracted; within the allowance
    sizes = [0, *(r.num_samples for r in section.rounds)]
    expected = [(sizes[i + 1] - sizes[i]) * len(r.models) for i, r in enumerate(section.rounds)]
    assert [r.cost for r in section.rounds] == expected
    assert section.cost == sum(expected) <= 0.8 * section.full_cost and section.full_cost == 48 * 4
    assert forwarded == sum(len(r.models) for r in section.rounds)  # one forward pass per increment
    assert ranking.dataset.num_samples == 48
    # nested samples: the same request again finds every increment in the store
    again, forwarded_again = _budget(colours, entries, s, 0.8)
    assert forwarded_again == 0
    assert _stable(again) == _stable(ranking)


def test_a_budget_ranking_after_a_full_one_forwards_nothing(
    colours: Path, entries: dict[str, ZooEntry], tmp_path: Path
) -> None:
    s = _settings(tmp_path)
    full = rank(
        str(colours), models=list(entries.values()), scorers=SCORERS, scorer_params=PARAMS, seed=0, settings=s
    )
    assert full.budget is None and "budget" not in full.to_dict()
    ranking, forwarded = _budget(colours, entries, s, 0.8)
    assert forwarded == 0  # every increment is a slice of the stored whole-sample features
    assert ranking.budget is not None and ranking.budget.cost > 0  # counted as if forwarded
    assert ranking.budget.stopped == "full-sample"
    # the last round is the whole sample: the survivors' scores are the full ranking's
    by_id = {m.id: m for m in full.models}
    for m in ranking.models[:2]:
        for name, value in m.scores.items():
            assert value == pytest.approx(by_id[m.id].scores[name], rel=1e-9)


def test_a_small_budget_stops_where_it_runs_out(
    colours: Path, entries: dict[str, ZooEntry], tmp_path: Path
) -> None:
    s = _settings(tmp_path)
    ranking, _ = _budget(colours, entries, s, 0.45)
    section = ranking.budget
    assert section is not None and section.stopped == "budget-spent"
    assert section.cost <= 0.45 * section.full_cost
    assert ranking.dataset.num_samples == section.rounds[-1].num_samples < 48
    assert ranking.models[0].id in {"win", "twin"}


def test_rank_refuses_a_budget_with_ensembles(
    colours: Path, entries: dict[str, ZooEntry], tmp_path: Path
) -> None:
    with pytest.raises(InvalidParameterError) as exc:
        rank(
            str(colours),
            models=list(entries.values()),
            settings=_settings(tmp_path),
            budget=0.5,
            ensemble=EnsembleOptions(),
        )
    assert exc.value.param == "sampling.budget"


def _stable(ranking: Ranking) -> dict[str, Any]:
    doc = ranking.to_dict()
    doc.pop("provenance")
    for m in doc["models"]:
        m.pop("cached")
        m.pop("extraction_seconds")
    assert "recommendation" in doc
    doc["recommendation"]["method"].pop("seconds")
    doc["recommendation"]["method"].pop("budget_seconds")
    return doc
