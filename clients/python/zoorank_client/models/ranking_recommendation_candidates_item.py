from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="RankingRecommendationCandidatesItem")



@_attrs_define
class RankingRecommendationCandidatesItem:
    """ 
        Attributes:
            id (str): Model id.
            p_best (float): Share of resamples in which this model ranks first.
            rank_high (int): Upper end of the model's rank interval.
            rank_low (int): Lower end of its rank interval over the resamples.
     """

    id: str
    p_best: float
    rank_high: int
    rank_low: int





    def to_dict(self) -> dict[str, Any]:
        id = self.id

        p_best = self.p_best

        rank_high = self.rank_high

        rank_low = self.rank_low


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "id": id,
            "p_best": p_best,
            "rank_high": rank_high,
            "rank_low": rank_low,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        p_best = d.pop("p_best")

        rank_high = d.pop("rank_high")

        rank_low = d.pop("rank_low")

        ranking_recommendation_candidates_item = cls(
            id=id,
            p_best=p_best,
            rank_high=rank_high,
            rank_low=rank_low,
        )

        return ranking_recommendation_candidates_item

