from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast
from typing import Literal, cast

if TYPE_CHECKING:
  from ..models.ranking_budget import RankingBudget
  from ..models.ranking_dataset import RankingDataset
  from ..models.ranking_ensembles import RankingEnsembles
  from ..models.ranking_models_item import RankingModelsItem
  from ..models.ranking_provenance import RankingProvenance
  from ..models.ranking_recommendation import RankingRecommendation
  from ..models.ranking_scorers_item import RankingScorersItem





T = TypeVar("T", bound="Ranking")



@_attrs_define
class Ranking:
    """ 
        Attributes:
            dataset (RankingDataset): The target dataset as ranked.
            models (list[RankingModelsItem]): One row per model, sorted by aggregate_rank (nulls last), then id: the first
                is the pick.
            provenance (RankingProvenance): What produced the ranking.
            schema_version (Literal['1.3']): `major.minor`: additions bump the minor part; read any 1.x as 1.x.
            scorers (list[RankingScorersItem]): The scorers run, in request order.
            budget (RankingBudget | Unset): Budget rankings (schema 1.3): how the sample grew, round by round, and what it
                cost.
            ensembles (RankingEnsembles | Unset): Teams of models, when the request asked for them.
            recommendation (RankingRecommendation | Unset): The model to fine-tune and how sure that is (schema 1.2): from
                seeded, stratified resamples of the sampled images, re-ranked from the cached features.
     """

    dataset: RankingDataset
    models: list[RankingModelsItem]
    provenance: RankingProvenance
    schema_version: Literal['1.3']
    scorers: list[RankingScorersItem]
    budget: RankingBudget | Unset = UNSET
    ensembles: RankingEnsembles | Unset = UNSET
    recommendation: RankingRecommendation | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.ranking_budget import RankingBudget # noqa: PLC0415
        from ..models.ranking_dataset import RankingDataset # noqa: PLC0415
        from ..models.ranking_ensembles import RankingEnsembles # noqa: PLC0415
        from ..models.ranking_models_item import RankingModelsItem # noqa: PLC0415
        from ..models.ranking_provenance import RankingProvenance # noqa: PLC0415
        from ..models.ranking_recommendation import RankingRecommendation # noqa: PLC0415
        from ..models.ranking_scorers_item import RankingScorersItem # noqa: PLC0415
        dataset = self.dataset.to_dict()

        models = []
        for models_item_data in self.models:
            models_item = models_item_data.to_dict()
            models.append(models_item)



        provenance = self.provenance.to_dict()

        schema_version = self.schema_version

        scorers = []
        for scorers_item_data in self.scorers:
            scorers_item = scorers_item_data.to_dict()
            scorers.append(scorers_item)



        budget: dict[str, Any] | Unset = UNSET
        if not isinstance(self.budget, Unset):
            budget = self.budget.to_dict()

        ensembles: dict[str, Any] | Unset = UNSET
        if not isinstance(self.ensembles, Unset):
            ensembles = self.ensembles.to_dict()

        recommendation: dict[str, Any] | Unset = UNSET
        if not isinstance(self.recommendation, Unset):
            recommendation = self.recommendation.to_dict()


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "dataset": dataset,
            "models": models,
            "provenance": provenance,
            "schema_version": schema_version,
            "scorers": scorers,
        })
        if budget is not UNSET:
            field_dict["budget"] = budget
        if ensembles is not UNSET:
            field_dict["ensembles"] = ensembles
        if recommendation is not UNSET:
            field_dict["recommendation"] = recommendation

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ranking_budget import RankingBudget # noqa: PLC0415
        from ..models.ranking_dataset import RankingDataset # noqa: PLC0415
        from ..models.ranking_ensembles import RankingEnsembles # noqa: PLC0415
        from ..models.ranking_models_item import RankingModelsItem # noqa: PLC0415
        from ..models.ranking_provenance import RankingProvenance # noqa: PLC0415
        from ..models.ranking_recommendation import RankingRecommendation # noqa: PLC0415
        from ..models.ranking_scorers_item import RankingScorersItem # noqa: PLC0415
        d = dict(src_dict)
        dataset = RankingDataset.from_dict(d.pop("dataset"))




        models = []
        _models = d.pop("models")
        for models_item_data in (_models):
            models_item = RankingModelsItem.from_dict(models_item_data)



            models.append(models_item)


        provenance = RankingProvenance.from_dict(d.pop("provenance"))




        schema_version = cast(Literal['1.3'] , d.pop("schema_version"))
        if schema_version != '1.3':
            raise ValueError(f"schema_version must match const '1.3', got '{schema_version}'")

        scorers = []
        _scorers = d.pop("scorers")
        for scorers_item_data in (_scorers):
            scorers_item = RankingScorersItem.from_dict(scorers_item_data)



            scorers.append(scorers_item)


        _budget = d.pop("budget", UNSET)
        budget: RankingBudget | Unset
        if isinstance(_budget,  Unset):
            budget = UNSET
        else:
            budget = RankingBudget.from_dict(_budget)




        _ensembles = d.pop("ensembles", UNSET)
        ensembles: RankingEnsembles | Unset
        if isinstance(_ensembles,  Unset):
            ensembles = UNSET
        else:
            ensembles = RankingEnsembles.from_dict(_ensembles)




        _recommendation = d.pop("recommendation", UNSET)
        recommendation: RankingRecommendation | Unset
        if isinstance(_recommendation,  Unset):
            recommendation = UNSET
        else:
            recommendation = RankingRecommendation.from_dict(_recommendation)




        ranking = cls(
            dataset=dataset,
            models=models,
            provenance=provenance,
            schema_version=schema_version,
            scorers=scorers,
            budget=budget,
            ensembles=ensembles,
            recommendation=recommendation,
        )

        return ranking

