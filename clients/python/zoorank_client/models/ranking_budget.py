from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.ranking_budget_stopped import RankingBudgetStopped
from typing import cast

if TYPE_CHECKING:
  from ..models.ranking_budget_rounds_item import RankingBudgetRoundsItem





T = TypeVar("T", bound="RankingBudget")



@_attrs_define
class RankingBudget:
    """ Budget rankings (schema 1.3): how the sample grew, round by round, and what it cost.

        Attributes:
            budget (float): The request's budget: a fraction of `full_cost`.
            cost (int): Images x models this ranking forwarded (at most budget x full_cost).
            cost_ratio (float): `cost / full_cost`.
            full_cost (int): Images x models a full ranking forwards.
            level (float): Confidence level of the sets that decided the drops.
            rounds (list[RankingBudgetRoundsItem]): The rounds, smallest sample first.
            stopped (RankingBudgetStopped): Why the rounds ended: `full-sample`, `one-model-left` or `budget-spent` (the
                last round grew the sample as far as the budget allowed).
     """

    budget: float
    cost: int
    cost_ratio: float
    full_cost: int
    level: float
    rounds: list[RankingBudgetRoundsItem]
    stopped: RankingBudgetStopped





    def to_dict(self) -> dict[str, Any]:
        from ..models.ranking_budget_rounds_item import RankingBudgetRoundsItem # noqa: PLC0415
        budget = self.budget

        cost = self.cost

        cost_ratio = self.cost_ratio

        full_cost = self.full_cost

        level = self.level

        rounds = []
        for rounds_item_data in self.rounds:
            rounds_item = rounds_item_data.to_dict()
            rounds.append(rounds_item)



        stopped = self.stopped.value


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "budget": budget,
            "cost": cost,
            "cost_ratio": cost_ratio,
            "full_cost": full_cost,
            "level": level,
            "rounds": rounds,
            "stopped": stopped,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ranking_budget_rounds_item import RankingBudgetRoundsItem # noqa: PLC0415
        d = dict(src_dict)
        budget = d.pop("budget")

        cost = d.pop("cost")

        cost_ratio = d.pop("cost_ratio")

        full_cost = d.pop("full_cost")

        level = d.pop("level")

        rounds = []
        _rounds = d.pop("rounds")
        for rounds_item_data in (_rounds):
            rounds_item = RankingBudgetRoundsItem.from_dict(rounds_item_data)



            rounds.append(rounds_item)


        stopped = RankingBudgetStopped(d.pop("stopped"))




        ranking_budget = cls(
            budget=budget,
            cost=cost,
            cost_ratio=cost_ratio,
            full_cost=full_cost,
            level=level,
            rounds=rounds,
            stopped=stopped,
        )

        return ranking_budget

