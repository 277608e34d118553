from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.ranking_ensembles_mode import RankingEnsemblesMode
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.ranking_ensembles_recommendation import RankingEnsemblesRecommendation
  from ..models.ranking_ensembles_results_item import RankingEnsemblesResultsItem





T = TypeVar("T", bound="RankingEnsembles")



@_attrs_define
class RankingEnsembles:
    """ Teams of models, when the request asked for them.

        Attributes:
            k (int): Team size.
            mode (RankingEnsemblesMode): `greedy` or `exhaustive`.
            results (list[RankingEnsemblesResultsItem]): One per ensemble scorer, in request order.
            recommendation (RankingEnsemblesRecommendation | Unset): The recommended team and how sure the target sample
                lets us be (1.3), as for a model; absent when no scorer selected a team.
     """

    k: int
    mode: RankingEnsemblesMode
    results: list[RankingEnsemblesResultsItem]
    recommendation: RankingEnsemblesRecommendation | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.ranking_ensembles_recommendation import RankingEnsemblesRecommendation # noqa: PLC0415
        from ..models.ranking_ensembles_results_item import RankingEnsemblesResultsItem # noqa: PLC0415
        k = self.k

        mode = self.mode.value

        results = []
        for results_item_data in self.results:
            results_item = results_item_data.to_dict()
            results.append(results_item)



        recommendation: dict[str, Any] | Unset = UNSET
        if not isinstance(self.recommendation, Unset):
            recommendation = self.recommendation.to_dict()


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "k": k,
            "mode": mode,
            "results": results,
        })
        if recommendation is not UNSET:
            field_dict["recommendation"] = recommendation

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ranking_ensembles_recommendation import RankingEnsemblesRecommendation # noqa: PLC0415
        from ..models.ranking_ensembles_results_item import RankingEnsemblesResultsItem # noqa: PLC0415
        d = dict(src_dict)
        k = d.pop("k")

        mode = RankingEnsemblesMode(d.pop("mode"))




        results = []
        _results = d.pop("results")
        for results_item_data in (_results):
            results_item = RankingEnsemblesResultsItem.from_dict(results_item_data)



            results.append(results_item)


        _recommendation = d.pop("recommendation", UNSET)
        recommendation: RankingEnsemblesRecommendation | Unset
        if isinstance(_recommendation,  Unset):
            recommendation = UNSET
        else:
            recommendation = RankingEnsemblesRecommendation.from_dict(_recommendation)




        ranking_ensembles = cls(
            k=k,
            mode=mode,
            results=results,
            recommendation=recommendation,
        )

        return ranking_ensembles

