from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast






T = TypeVar("T", bound="RankingEnsemblesRecommendationCandidatesItem")



@_attrs_define
class RankingEnsemblesRecommendationCandidatesItem:
    """ 
        Attributes:
            members (list[str]): Model ids of the team.
            p_best (float): Share of resamples in which this team is first.
            rank_high (int): Upper end of its rank interval.
            rank_low (int): Lower end of its rank interval.
            score (float): Its score on the whole sample.
     """

    members: list[str]
    p_best: float
    rank_high: int
    rank_low: int
    score: float





    def to_dict(self) -> dict[str, Any]:
        members = self.members



        p_best = self.p_best

        rank_high = self.rank_high

        rank_low = self.rank_low

        score = self.score


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "members": members,
            "p_best": p_best,
            "rank_high": rank_high,
            "rank_low": rank_low,
            "score": score,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        members = cast(list[str], d.pop("members"))


        p_best = d.pop("p_best")

        rank_high = d.pop("rank_high")

        rank_low = d.pop("rank_low")

        score = d.pop("score")

        ranking_ensembles_recommendation_candidates_item = cls(
            members=members,
            p_best=p_best,
            rank_high=rank_high,
            rank_low=rank_low,
            score=score,
        )

        return ranking_ensembles_recommendation_candidates_item

