from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast






T = TypeVar("T", bound="RankingBudgetRoundsItem")



@_attrs_define
class RankingBudgetRoundsItem:
    """ 
        Attributes:
            cost (int): Images x models forwarded for this round (its new images only).
            dropped (list[str]): The models dropped here.
            kept (list[str]): The models that went on (the confidence set, and any not judged).
            models (list[str]): The models ranked in this round.
            note (str): Why nothing could be dropped here, when that was so.
            num_samples (int): Images of the round's sample (each holds the previous one).
            round_ (int): Round number, from 0.
     """

    cost: int
    dropped: list[str]
    kept: list[str]
    models: list[str]
    note: str
    num_samples: int
    round_: int





    def to_dict(self) -> dict[str, Any]:
        cost = self.cost

        dropped = self.dropped



        kept = self.kept



        models = self.models



        note = self.note

        num_samples = self.num_samples

        round_ = self.round_


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "cost": cost,
            "dropped": dropped,
            "kept": kept,
            "models": models,
            "note": note,
            "num_samples": num_samples,
            "round": round_,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        cost = d.pop("cost")

        dropped = cast(list[str], d.pop("dropped"))


        kept = cast(list[str], d.pop("kept"))


        models = cast(list[str], d.pop("models"))


        note = d.pop("note")

        num_samples = d.pop("num_samples")

        round_ = d.pop("round")

        ranking_budget_rounds_item = cls(
            cost=cost,
            dropped=dropped,
            kept=kept,
            models=models,
            note=note,
            num_samples=num_samples,
            round_=round_,
        )

        return ranking_budget_rounds_item

