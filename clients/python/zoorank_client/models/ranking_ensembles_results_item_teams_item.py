from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.ranking_ensembles_results_item_teams_item_terms import RankingEnsemblesResultsItemTeamsItemTerms





T = TypeVar("T", bound="RankingEnsemblesResultsItemTeamsItem")



@_attrs_define
class RankingEnsemblesResultsItemTeamsItem:
    """ 
        Attributes:
            members (list[str]): Model ids of the team.
            score (float): The team's score (higher is better).
            terms (RankingEnsemblesResultsItemTeamsItemTerms): The terms the score is made of.
     """

    members: list[str]
    score: float
    terms: RankingEnsemblesResultsItemTeamsItemTerms





    def to_dict(self) -> dict[str, Any]:
        from ..models.ranking_ensembles_results_item_teams_item_terms import RankingEnsemblesResultsItemTeamsItemTerms # noqa: PLC0415
        members = self.members



        score = self.score

        terms = self.terms.to_dict()


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "members": members,
            "score": score,
            "terms": terms,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ranking_ensembles_results_item_teams_item_terms import RankingEnsemblesResultsItemTeamsItemTerms # noqa: PLC0415
        d = dict(src_dict)
        members = cast(list[str], d.pop("members"))


        score = d.pop("score")

        terms = RankingEnsemblesResultsItemTeamsItemTerms.from_dict(d.pop("terms"))




        ranking_ensembles_results_item_teams_item = cls(
            members=members,
            score=score,
            terms=terms,
        )

        return ranking_ensembles_results_item_teams_item

