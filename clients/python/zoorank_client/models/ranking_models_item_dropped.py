from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.ranking_models_item_dropped_ranks import RankingModelsItemDroppedRanks





T = TypeVar("T", bound="RankingModelsItemDropped")



@_attrs_define
class RankingModelsItemDropped:
    """ Budget rankings (schema 1.3): the round that dropped this model; its scores are from that round.

        Attributes:
            aggregate_rank (float | None): Its aggregate rank among that round's models.
            num_samples (int): Images of that round's sample.
            ranks (RankingModelsItemDroppedRanks): scorer name -> the model's rank among that round's models.
            round_ (int): The round (0 = the first, smallest sample).
     """

    aggregate_rank: float | None
    num_samples: int
    ranks: RankingModelsItemDroppedRanks
    round_: int





    def to_dict(self) -> dict[str, Any]:
        from ..models.ranking_models_item_dropped_ranks import RankingModelsItemDroppedRanks # noqa: PLC0415
        aggregate_rank: float | None
        aggregate_rank = self.aggregate_rank

        num_samples = self.num_samples

        ranks = self.ranks.to_dict()

        round_ = self.round_


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "aggregate_rank": aggregate_rank,
            "num_samples": num_samples,
            "ranks": ranks,
            "round": round_,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ranking_models_item_dropped_ranks import RankingModelsItemDroppedRanks # noqa: PLC0415
        d = dict(src_dict)
        def _parse_aggregate_rank(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        aggregate_rank = _parse_aggregate_rank(d.pop("aggregate_rank"))


        num_samples = d.pop("num_samples")

        ranks = RankingModelsItemDroppedRanks.from_dict(d.pop("ranks"))




        round_ = d.pop("round")

        ranking_models_item_dropped = cls(
            aggregate_rank=aggregate_rank,
            num_samples=num_samples,
            ranks=ranks,
            round_=round_,
        )

        return ranking_models_item_dropped

