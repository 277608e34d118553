from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.ranking_ensembles_recommendation_candidates_item import RankingEnsemblesRecommendationCandidatesItem
  from ..models.ranking_ensembles_recommendation_method import RankingEnsemblesRecommendationMethod





T = TypeVar("T", bound="RankingEnsemblesRecommendation")



@_attrs_define
class RankingEnsemblesRecommendation:
    """ The recommended team and how sure the target sample lets us be (1.3), as for a model; absent when no scorer selected
    a team.

        Attributes:
            candidates (list[RankingEnsemblesRecommendationCandidatesItem]): Per candidate team: score, `p_best`, rank
                interval.
            clear (bool): True when the set holds the recommended team alone.
            confidence_set (list[list[str]]): The teams that cannot be separated from the recommended one at `level`.
            level (float): Confidence level of the set (e.g. 0.95).
            margin (float | None): Score difference to the runner-up (scorer units), or null.
            method (RankingEnsemblesRecommendationMethod): The method and its parameters (resamples, seed, budget).
            runner_up (list[str] | None): The best other candidate team, or null.
            scorer (str): The ensemble scorer whose teams are recommended.
            team (list[str]): Model ids of the recommended team.
     """

    candidates: list[RankingEnsemblesRecommendationCandidatesItem]
    clear: bool
    confidence_set: list[list[str]]
    level: float
    margin: float | None
    method: RankingEnsemblesRecommendationMethod
    runner_up: list[str] | None
    scorer: str
    team: list[str]





    def to_dict(self) -> dict[str, Any]:
        from ..models.ranking_ensembles_recommendation_candidates_item import RankingEnsemblesRecommendationCandidatesItem # noqa: PLC0415
        from ..models.ranking_ensembles_recommendation_method import RankingEnsemblesRecommendationMethod # noqa: PLC0415
        candidates = []
        for candidates_item_data in self.candidates:
            candidates_item = candidates_item_data.to_dict()
            candidates.append(candidates_item)



        clear = self.clear

        confidence_set = []
        for confidence_set_item_data in self.confidence_set:
            confidence_set_item = confidence_set_item_data


            confidence_set.append(confidence_set_item)



        level = self.level

        margin: float | None
        margin = self.margin

        method = self.method.to_dict()

        runner_up: list[str] | None
        if isinstance(self.runner_up, list):
            runner_up = self.runner_up


        else:
            runner_up = self.runner_up

        scorer = self.scorer

        team = self.team




        field_dict: dict[str, Any] = {}

        field_dict.update({
            "candidates": candidates,
            "clear": clear,
            "confidence_set": confidence_set,
            "level": level,
            "margin": margin,
            "method": method,
            "runner_up": runner_up,
            "scorer": scorer,
            "team": team,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ranking_ensembles_recommendation_candidates_item import RankingEnsemblesRecommendationCandidatesItem # noqa: PLC0415
        from ..models.ranking_ensembles_recommendation_method import RankingEnsemblesRecommendationMethod # noqa: PLC0415
        d = dict(src_dict)
        candidates = []
        _candidates = d.pop("candidates")
        for candidates_item_data in (_candidates):
            candidates_item = RankingEnsemblesRecommendationCandidatesItem.from_dict(candidates_item_data)



            candidates.append(candidates_item)


        clear = d.pop("clear")

        confidence_set = []
        _confidence_set = d.pop("confidence_set")
        for confidence_set_item_data in (_confidence_set):
            confidence_set_item = cast(list[str], confidence_set_item_data)

            confidence_set.append(confidence_set_item)


        level = d.pop("level")

        def _parse_margin(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        margin = _parse_margin(d.pop("margin"))


        method = RankingEnsemblesRecommendationMethod.from_dict(d.pop("method"))




        def _parse_runner_up(data: object) -> list[str] | None:
            if data is None:
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                runner_up_type_0 = cast(list[str], data)

                return runner_up_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None, data)

        runner_up = _parse_runner_up(d.pop("runner_up"))


        scorer = d.pop("scorer")

        team = cast(list[str], d.pop("team"))


        ranking_ensembles_recommendation = cls(
            candidates=candidates,
            clear=clear,
            confidence_set=confidence_set,
            level=level,
            margin=margin,
            method=method,
            runner_up=runner_up,
            scorer=scorer,
            team=team,
        )

        return ranking_ensembles_recommendation

