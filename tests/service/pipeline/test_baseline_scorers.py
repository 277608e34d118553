"""A ranking never runs a data-free baseline: they are guardrails graded by the benchmark."""

from __future__ import annotations

import pytest

import estimators
from estimators import InvalidParameterError
from service.pipeline.score import plan_scorers
from service.settings import Settings


@pytest.mark.parametrize("name", estimators.list_scorers("baseline"))
def test_a_ranking_refuses_a_baseline_by_name(name: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"'{name}' is a 'baseline' scorer.*guardrail") as err:
        plan_scorers(["probe_cv", name])
    assert err.value.param == "scorers"


def test_the_ensemble_refusal_keeps_its_reason() -> None:
    with pytest.raises(InvalidParameterError, match="'osborn' is an 'ensemble' scorer \\(it scores a team"):
        plan_scorers(["osborn"])


def test_no_baseline_is_in_the_default() -> None:
    defaults = Settings().default_scorers
    assert not set(defaults) & set(estimators.list_scorers("baseline"))
    assert [p.name for p in plan_scorers(defaults)] == list(defaults)
