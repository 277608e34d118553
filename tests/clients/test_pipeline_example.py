"""The decision of ``examples/pipeline.py``: a clear winner, a tie, a saturated lead, the server's
recommendation."""

from __future__ import annotations

from typing import Any

from zoorank_client.sdk import Ranking

from examples.pipeline import choose


def _ranking(models: list[dict[str, Any]], **extra: Any) -> Ranking:
    return Ranking.from_dict({"schema_version": "1.1", "models": models, **extra})


def test_a_clear_winner_is_chosen() -> None:
    model, _ = choose(_ranking([{"id": "a", "aggregate_rank": 1.0}, {"id": "b", "aggregate_rank": 2.0}]))
    assert model == "a"


def test_a_tie_at_the_top_is_no_winner() -> None:
    model, reason = choose(_ranking([{"id": "a", "aggregate_rank": 1.5}, {"id": "b", "aggregate_rank": 1.5}]))
    assert model is None and "tie" in reason


def test_a_lead_through_saturated_ties_is_no_winner() -> None:
    ranking = _ranking(
        [{"id": "a", "aggregate_rank": 1.0, "saturated": ["hscore"]}, {"id": "b", "aggregate_rank": 2}]
    )
    assert choose(ranking)[0] is None


def test_nothing_ranked_is_no_winner() -> None:
    assert choose(_ranking([{"id": "a", "aggregate_rank": None}]))[0] is None


def test_the_servers_recommendation_decides_when_present() -> None:
    models = [{"id": "a", "aggregate_rank": 1.0}, {"id": "b", "aggregate_rank": 2.0}]
    assert choose(_ranking(models, recommendation={"model": "b", "reason": "margin"})) == ("b", "margin")
    assert choose(_ranking(models, recommendation={"model": None, "reason": "too close"}))[0] is None
