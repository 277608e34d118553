"""The team recommendation of the ensembles section: constructed pools (a clear winner, an exact tie, a
near tie within noise), the greedy candidates, the budget, the schema and the CLI line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pytest

from estimators import select_team
from service.cli.render import team_line
from service.pipeline.ensembles import EnsembleOptions, build_section
from service.pipeline.recommend import candidate_teams, recommend_team, standing
from service.pipeline.schema import (
    RANKING_JSON_SCHEMA,
    EnsembleResult,
    EnsembleSection,
    TeamRecommendation,
    TeamResult,
)
from service.pipeline.types import ModelInputs
from tests.support.schema import check_schema

N_PER = 150
LABELS = np.repeat([0, 1, 2], N_PER)  # 450 images, three classes


def _head(rng: np.random.Generator, skill: float, n_source: int = 6) -> np.ndarray:
    """``(N, n_source)`` source-head probabilities that put ``skill`` of their mass on a source class tied
    to the sample's label (class c -> source class c) and spread the rest over all classes at random."""
    noise = rng.dirichlet(np.ones(n_source), size=len(LABELS))
    tied = np.zeros((len(LABELS), n_source))
    tied[np.arange(len(LABELS)), LABELS] = 1.0
    return skill * tied + (1.0 - skill) * noise


def _inputs(heads: Mapping[str, np.ndarray]) -> dict[str, ModelInputs]:
    rng = np.random.default_rng(0)
    return {
        m: ModelInputs(
            features=rng.normal(size=(len(LABELS), 4)), source_probs=p, source_mean=None, source_std=None
        )
        for m, p in heads.items()
    }


def _section(
    heads: Mapping[str, np.ndarray],
    *,
    k: int = 2,
    mode: str = "greedy",
    scorers: Sequence[str] = ("mean_leep",),
) -> EnsembleSection:
    options = EnsembleOptions(k=k, mode=mode, scorers=list(scorers))  # type: ignore[arg-type]
    return build_section(_inputs(heads), LABELS, options, recommend_by="mean_leep", extra_budget_seconds=60.0)


@pytest.mark.unit
def test_a_clear_winner_is_alone_in_its_set() -> None:
    rng = np.random.default_rng(1)
    heads = {"a": _head(rng, 0.9), "b": _head(rng, 0.8), "c": _head(rng, 0.3), "d": _head(rng, 0.0)}
    rec = _section(heads).recommendation
    assert rec is not None
    assert rec.scorer == "mean_leep" and rec.team == ("a", "b") and rec.runner_up == ("a", "c")
    assert rec.clear and rec.confidence_set == (("a", "b"),)
    # LEEP of a 0.8-skilled head is far above a 0.3-skilled one on 450 images: the team wins every resample
    assert rec.p_best(("a", "b")) == 1.0
    assert rec.margin is not None and rec.margin > 0
    assert rec.method["resampled"] == {"mean_leep": "per-sample"} and rec.method["fixed"] == {}
    assert rec.headline().startswith("recommended team: a + b  p_best 1.00; a clear winner at 95%")


@pytest.mark.unit
def test_an_exact_tie_shares_p_best_and_the_set() -> None:
    rng = np.random.default_rng(2)
    strong, weak = _head(rng, 0.8), _head(rng, 0.1)
    heads = {"a": strong, "b": strong.copy(), "c": strong.copy(), "d": weak}
    rec = _section(heads).recommendation
    assert rec is not None
    # {a, b} and {a, c} have identical inputs, so they tie on every resample; {a, d} is far behind
    assert set(rec.confidence_set) == {("a", "b"), ("a", "c")} and not rec.clear
    for team in (("a", "b"), ("a", "c")):
        assert rec.p_best(team) == pytest.approx(0.5, abs=1e-12)  # a shared first place on every resample
    assert rec.p_best(("a", "d")) == 0.0
    assert "cannot be separated from: a + c (no clear winner at 95%)" in rec.headline()


@pytest.mark.unit
def test_a_near_tie_within_noise_is_no_clear_winner() -> None:
    rng = np.random.default_rng(3)
    # two independent heads of the same skill: their LEEPs differ by sampling noise alone
    heads = {"a": _head(rng, 0.9), "b": _head(rng, 0.5), "c": _head(rng, 0.5), "d": _head(rng, 0.0)}
    rec = _section(heads).recommendation
    assert rec is not None
    assert rec.team[0] == "a" and not rec.clear
    assert {t[1] for t in rec.confidence_set} == {"b", "c"}
    assert 0.0 < rec.p_best(rec.team) < 1.0
    assert sum(c.p_best for c in rec.candidates) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.unit
def test_greedy_candidates_differ_in_the_last_pick_and_carry_its_scores() -> None:
    rng = np.random.default_rng(4)
    heads = {m: _head(rng, s) for m, s in zip("abcde", (0.9, 0.7, 0.5, 0.3, 0.1), strict=True)}
    section = _section(heads, k=3)
    result = section.results[0]
    teams = candidate_teams(result)
    assert [t for t, _ in teams] == [("a", "b", "c"), ("a", "b", "d"), ("a", "b", "e")]
    # mean LEEP is modular: an alternative's score is the mean of its members' LEEP values
    leep = {m: v["leep"] for m, v in result.members.items()}
    for team, score in teams:
        assert score == pytest.approx(np.mean([leep[m] for m in team]), abs=1e-12)
    exhaustive = _section(heads, k=3, mode="exhaustive")
    assert exhaustive.recommendation is not None and exhaustive.recommendation.team == ("a", "b", "c")
    assert [c.members for c in exhaustive.recommendation.candidates] == [
        t.members for t in exhaustive.results[0].teams
    ]


def _osborn_members(heads: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """OSBORN's inputs per member: the heads, random target features and a small random source profile."""
    rng = np.random.default_rng(9)
    return {
        m: {
            "features": rng.normal(size=(len(LABELS), 3)),
            "source_probs": p,
            "source_features": rng.normal(size=(40, 3)),
            "source_predictions": rng.integers(0, p.shape[1], 40),
        }
        for m, p in heads.items()
    }


def _osborn_result(members: Mapping[str, Mapping[str, np.ndarray]]) -> EnsembleResult:
    sel = select_team("osborn", members=members, labels=LABELS, k=2, mode="greedy")
    return EnsembleResult(
        scorer="osborn",
        version="1",
        params=dict(sel.params),
        teams=tuple(TeamResult(t.members, t.score, dict(t.terms)) for t in sel.teams),
        pool=sel.pool,
        ineligible={},
        members={},
        steps=tuple(dict(st) for st in sel.steps),
    )


@pytest.mark.unit
def test_a_scorer_without_per_sample_terms_is_refitted_on_each_resample() -> None:
    rng = np.random.default_rng(10)
    members = _osborn_members({m: _head(rng, s) for m, s in zip("abc", (0.9, 0.5, 0.2), strict=True)})
    result = _osborn_result(members)
    rec = recommend_team(result, members, LABELS, resamples=20, budget_seconds=1e9)
    assert rec is not None
    assert rec.method["resampled"] == {"osborn": "refit"} and rec.method["fixed"] == {}
    assert rec.team == result.teams[0].members and len(rec.candidates) == 2
    assert sum(c.p_best for c in rec.candidates) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.unit
def test_over_the_budget_the_teams_are_held_fixed_and_it_is_said() -> None:
    rng = np.random.default_rng(5)
    members = _osborn_members({m: _head(rng, s) for m, s in zip("abc", (0.9, 0.5, 0.5), strict=True)})
    rec = recommend_team(_osborn_result(members), members, LABELS, budget_seconds=0.0)
    assert rec is not None
    assert rec.method["resampled"] == {} and "exceed the budget" in rec.method["fixed"]["osborn"]
    assert rec.clear and rec.p_best(rec.team) == 1.0  # fixed scores: the full-sample order every time
    assert "sample noise not measured" in rec.headline()


@pytest.mark.unit
def test_the_default_ensemble_scorer_is_preferred_and_otherwise_the_first_that_selected() -> None:
    rng = np.random.default_rng(6)
    heads = {"a": _head(rng, 0.9), "b": _head(rng, 0.5), "c": _head(rng, 0.2)}
    both = _section(heads, scorers=("ens_eep", "mean_leep"))
    assert both.recommendation is not None and both.recommendation.scorer == "mean_leep"
    only = _section(heads, scorers=("ens_eep",))
    assert only.recommendation is not None and only.recommendation.scorer == "ens_eep"
    none = _section(heads, k=4)  # a pool of 3 selects no team of 4
    assert none.recommendation is None and none.results[0].error is not None


@pytest.mark.unit
def test_the_section_round_trips_and_fits_the_json_schema() -> None:
    rng = np.random.default_rng(7)
    heads = {"a": _head(rng, 0.9), "b": _head(rng, 0.5), "c": _head(rng, 0.5)}
    section = _section(heads)
    schema = RANKING_JSON_SCHEMA["properties"]["ensembles"]
    doc = section.to_dict()
    check_schema(doc, schema)
    back = EnsembleSection.from_dict(doc)  # the results' seconds are rounded on the wire
    assert back.to_dict() == doc and back.recommendation == section.recommendation
    assert isinstance(section.recommendation, TeamRecommendation)
    older = replace(section, recommendation=None).to_dict()  # a 1.1/1.2 section: no key, still valid
    assert "recommendation" not in older
    check_schema(older, schema)
    assert EnsembleSection.from_dict(older).recommendation is None


@pytest.mark.unit
def test_cli_line_names_the_team_in_the_model_recommendations_words() -> None:
    rng = np.random.default_rng(8)
    strong = _head(rng, 0.8)
    section = _section({"a": strong, "b": strong.copy(), "c": strong.copy(), "d": _head(rng, 0.0)})
    line = team_line(section)
    assert line == (
        "recommended team: a + b  p_best 0.50; cannot be separated from: a + c (no clear winner at 95%) "
        "[by mean_leep]"
    )
    assert team_line(replace(section, recommendation=None)) is None


@pytest.mark.unit
def test_standing_is_the_models_rule() -> None:
    # column 0 first in 3 of 4 resamples, column 1 once; column 2 never as good as column 0
    losses = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [2.0, 1.0, 3.0]])
    p_best, low, high, in_set = standing(losses, 0.7)
    assert p_best.tolist() == [0.75, 0.25, 0.0]
    assert in_set.tolist() == [True, False, False]  # 1/4 = 0.25 is not above 1 - 0.7 = 0.3
    assert standing(losses, 0.8)[3].tolist() == [True, True, False]  # 0.25 > 0.2
    assert low.tolist() == [1, 1, 3] and high.tolist() == [2, 2, 3]
