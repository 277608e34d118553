from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.ranking_recommendation_candidates_item import RankingRecommendationCandidatesItem
  from ..models.ranking_recommendation_method import RankingRecommendationMethod





T = TypeVar("T", bound="RankingRecommendation")



@_attrs_define
class RankingRecommendation:
    """ The model to fine-tune and how sure that is (schema 1.2): from seeded, stratified resamples of the sampled images,
    re-ranked from the cached features.

        Attributes:
            candidates (list[RankingRecommendationCandidatesItem]): Per ranked model: `p_best` and a rank interval.
            clear (bool): True when the confidence set holds the recommended model alone.
            confidence_set (list[str]): The models that cannot be separated from the best at `level`.
            level (float): Confidence level of the set (e.g. 0.95).
            margin (float | None): Aggregate-rank difference to the runner-up, or null.
            method (RankingRecommendationMethod): The method and its parameters (resamples, seed, refitted scorers).
            model (str): The recommended model: the most often best over the resamples.
            runner_up (None | str): The next model, or null with a single ranked model.
     """

    candidates: list[RankingRecommendationCandidatesItem]
    clear: bool
    confidence_set: list[str]
    level: float
    margin: float | None
    method: RankingRecommendationMethod
    model: str
    runner_up: None | str





    def to_dict(self) -> dict[str, Any]:
        from ..models.ranking_recommendation_candidates_item import RankingRecommendationCandidatesItem # noqa: PLC0415
        from ..models.ranking_recommendation_method import RankingRecommendationMethod # noqa: PLC0415
        candidates = []
        for candidates_item_data in self.candidates:
            candidates_item = candidates_item_data.to_dict()
            candidates.append(candidates_item)



        clear = self.clear

        confidence_set = self.confidence_set



        level = self.level

        margin: float | None
        margin = self.margin

        method = self.method.to_dict()

        model = self.model

        runner_up: None | str
        runner_up = self.runner_up


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "candidates": candidates,
            "clear": clear,
            "confidence_set": confidence_set,
            "level": level,
            "margin": margin,
            "method": method,
            "model": model,
            "runner_up": runner_up,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ranking_recommendation_candidates_item import RankingRecommendationCandidatesItem # noqa: PLC0415
        from ..models.ranking_recommendation_method import RankingRecommendationMethod # noqa: PLC0415
        d = dict(src_dict)
        candidates = []
        _candidates = d.pop("candidates")
        for candidates_item_data in (_candidates):
            candidates_item = RankingRecommendationCandidatesItem.from_dict(candidates_item_data)



            candidates.append(candidates_item)


        clear = d.pop("clear")

        confidence_set = cast(list[str], d.pop("confidence_set"))


        level = d.pop("level")

        def _parse_margin(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        margin = _parse_margin(d.pop("margin"))


        method = RankingRecommendationMethod.from_dict(d.pop("method"))




        model = d.pop("model")

        def _parse_runner_up(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        runner_up = _parse_runner_up(d.pop("runner_up"))


        ranking_recommendation = cls(
            candidates=candidates,
            clear=clear,
            confidence_set=confidence_set,
            level=level,
            margin=margin,
            method=method,
            model=model,
            runner_up=runner_up,
        )

        return ranking_recommendation

