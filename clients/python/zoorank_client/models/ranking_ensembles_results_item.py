from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.ranking_ensembles_results_item_error_type_0 import RankingEnsemblesResultsItemErrorType0
  from ..models.ranking_ensembles_results_item_ineligible import RankingEnsemblesResultsItemIneligible
  from ..models.ranking_ensembles_results_item_info import RankingEnsemblesResultsItemInfo
  from ..models.ranking_ensembles_results_item_members import RankingEnsemblesResultsItemMembers
  from ..models.ranking_ensembles_results_item_params import RankingEnsemblesResultsItemParams
  from ..models.ranking_ensembles_results_item_steps_item import RankingEnsemblesResultsItemStepsItem
  from ..models.ranking_ensembles_results_item_teams_item import RankingEnsemblesResultsItemTeamsItem





T = TypeVar("T", bound="RankingEnsemblesResultsItem")



@_attrs_define
class RankingEnsemblesResultsItem:
    """ 
        Attributes:
            candidates (int): Teams scored (exhaustive) or gains evaluated (greedy).
            error (None | RankingEnsemblesResultsItemErrorType0): Why this scorer selected no team, or null.
            ineligible (RankingEnsemblesResultsItemIneligible): Model id -> why it could not take part.
            info (RankingEnsemblesResultsItemInfo): Pool-level diagnostics.
            members (RankingEnsemblesResultsItemMembers): Eligible model id -> its own terms over the pool.
            params (RankingEnsemblesResultsItemParams): Its full parameter set.
            pool (list[str]): The models eligible for this scorer, in request order.
            scorer (str): The ensemble scorer.
            seconds (float): Wall time of the search.
            steps (list[RankingEnsemblesResultsItemStepsItem]): Greedy rounds: the pick, its gain and every candidate's
                gain.
            teams (list[RankingEnsemblesResultsItemTeamsItem]): Best first (greedy: one team); empty when `error` is set.
            version (str): Its version.
     """

    candidates: int
    error: None | RankingEnsemblesResultsItemErrorType0
    ineligible: RankingEnsemblesResultsItemIneligible
    info: RankingEnsemblesResultsItemInfo
    members: RankingEnsemblesResultsItemMembers
    params: RankingEnsemblesResultsItemParams
    pool: list[str]
    scorer: str
    seconds: float
    steps: list[RankingEnsemblesResultsItemStepsItem]
    teams: list[RankingEnsemblesResultsItemTeamsItem]
    version: str





    def to_dict(self) -> dict[str, Any]:
        from ..models.ranking_ensembles_results_item_error_type_0 import RankingEnsemblesResultsItemErrorType0 # noqa: PLC0415
        from ..models.ranking_ensembles_results_item_ineligible import RankingEnsemblesResultsItemIneligible # noqa: PLC0415
        from ..models.ranking_ensembles_results_item_info import RankingEnsemblesResultsItemInfo # noqa: PLC0415
        from ..models.ranking_ensembles_results_item_members import RankingEnsemblesResultsItemMembers # noqa: PLC0415
        from ..models.ranking_ensembles_results_item_params import RankingEnsemblesResultsItemParams # noqa: PLC0415
        from ..models.ranking_ensembles_results_item_steps_item import RankingEnsemblesResultsItemStepsItem # noqa: PLC0415
        from ..models.ranking_ensembles_results_item_teams_item import RankingEnsemblesResultsItemTeamsItem # noqa: PLC0415
        candidates = self.candidates

        error: dict[str, Any] | None
        if isinstance(self.error, RankingEnsemblesResultsItemErrorType0):
            error = self.error.to_dict()
        else:
            error = self.error

        ineligible = self.ineligible.to_dict()

        info = self.info.to_dict()

        members = self.members.to_dict()

        params = self.params.to_dict()

        pool = self.pool



        scorer = self.scorer

        seconds = self.seconds

        steps = []
        for steps_item_data in self.steps:
            steps_item = steps_item_data.to_dict()
            steps.append(steps_item)



        teams = []
        for teams_item_data in self.teams:
            teams_item = teams_item_data.to_dict()
            teams.append(teams_item)



        version = self.version


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "candidates": candidates,
            "error": error,
            "ineligible": ineligible,
            "info": info,
            "members": members,
            "params": params,
            "pool": pool,
            "scorer": scorer,
            "seconds": seconds,
            "steps": steps,
            "teams": teams,
            "version": version,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ranking_ensembles_results_item_error_type_0 import RankingEnsemblesResultsItemErrorType0 # noqa: PLC0415
        from ..models.ranking_ensembles_results_item_ineligible import RankingEnsemblesResultsItemIneligible # noqa: PLC0415
        from ..models.ranking_ensembles_results_item_info import RankingEnsemblesResultsItemInfo # noqa: PLC0415
        from ..models.ranking_ensembles_results_item_members import RankingEnsemblesResultsItemMembers # noqa: PLC0415
        from ..models.ranking_ensembles_results_item_params import RankingEnsemblesResultsItemParams # noqa: PLC0415
        from ..models.ranking_ensembles_results_item_steps_item import RankingEnsemblesResultsItemStepsItem # noqa: PLC0415
        from ..models.ranking_ensembles_results_item_teams_item import RankingEnsemblesResultsItemTeamsItem # noqa: PLC0415
        d = dict(src_dict)
        candidates = d.pop("candidates")

        def _parse_error(data: object) -> None | RankingEnsemblesResultsItemErrorType0:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_0 = RankingEnsemblesResultsItemErrorType0.from_dict(data)



                return error_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RankingEnsemblesResultsItemErrorType0, data)

        error = _parse_error(d.pop("error"))


        ineligible = RankingEnsemblesResultsItemIneligible.from_dict(d.pop("ineligible"))




        info = RankingEnsemblesResultsItemInfo.from_dict(d.pop("info"))




        members = RankingEnsemblesResultsItemMembers.from_dict(d.pop("members"))




        params = RankingEnsemblesResultsItemParams.from_dict(d.pop("params"))




        pool = cast(list[str], d.pop("pool"))


        scorer = d.pop("scorer")

        seconds = d.pop("seconds")

        steps = []
        _steps = d.pop("steps")
        for steps_item_data in (_steps):
            steps_item = RankingEnsemblesResultsItemStepsItem.from_dict(steps_item_data)



            steps.append(steps_item)


        teams = []
        _teams = d.pop("teams")
        for teams_item_data in (_teams):
            teams_item = RankingEnsemblesResultsItemTeamsItem.from_dict(teams_item_data)



            teams.append(teams_item)


        version = d.pop("version")

        ranking_ensembles_results_item = cls(
            candidates=candidates,
            error=error,
            ineligible=ineligible,
            info=info,
            members=members,
            params=params,
            pool=pool,
            scorer=scorer,
            seconds=seconds,
            steps=steps,
            teams=teams,
            version=version,
        )

        return ranking_ensembles_results_item

