from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.ensemble_options_mode import EnsembleOptionsMode
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.ensemble_options_params import EnsembleOptionsParams





T = TypeVar("T", bound="EnsembleOptions")



@_attrs_define
class EnsembleOptions:
    """ What team search a ranking request asks for.

    Attributes:
        k: team size (1..:data:`MAX_ENSEMBLE_K`); a pool smaller than k is reported as an error of that
            scorer, not of the ranking.
        scorers: ensemble-kind scorers to run (registered names, no duplicates).
        mode: ``greedy`` (the paper's selection, one team) or ``exhaustive`` (every k-subset scored, the
            best ``top`` teams reported; refused when C(pool, k) exceeds ``max_teams``).
        top: teams reported by an exhaustive search.
        max_teams: most k-subsets an exhaustive search may score.
        params: scorer name -> parameter overrides (e.g. ``{"osborn": {"solver": "sinkhorn"}}``); checked
            against the scorer's published parameters when the section is built.

        Attributes:
            k (int | Unset): Team size. Default: 3.
            max_teams (int | Unset): Most k-subsets an exhaustive search may score (refused above). Default: 5000.
            mode (EnsembleOptionsMode | Unset): `greedy` (one team, built a member at a time) or `exhaustive` (every
                k-subset). Default: EnsembleOptionsMode.GREEDY.
            params (EnsembleOptionsParams | Unset): scorer name -> parameter overrides of the ensemble scorers.
            scorers (list[str] | Unset): Ensemble-kind scorers to run.
            top (int | Unset): Teams reported by an exhaustive search. Default: 5.
     """

    k: int | Unset = 3
    max_teams: int | Unset = 5000
    mode: EnsembleOptionsMode | Unset = EnsembleOptionsMode.GREEDY
    params: EnsembleOptionsParams | Unset = UNSET
    scorers: list[str] | Unset = UNSET
    top: int | Unset = 5





    def to_dict(self) -> dict[str, Any]:
        from ..models.ensemble_options_params import EnsembleOptionsParams # noqa: PLC0415
        k = self.k

        max_teams = self.max_teams

        mode: str | Unset = UNSET
        if not isinstance(self.mode, Unset):
            mode = self.mode.value


        params: dict[str, Any] | Unset = UNSET
        if not isinstance(self.params, Unset):
            params = self.params.to_dict()

        scorers: list[str] | Unset = UNSET
        if not isinstance(self.scorers, Unset):
            scorers = self.scorers



        top = self.top


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if k is not UNSET:
            field_dict["k"] = k
        if max_teams is not UNSET:
            field_dict["max_teams"] = max_teams
        if mode is not UNSET:
            field_dict["mode"] = mode
        if params is not UNSET:
            field_dict["params"] = params
        if scorers is not UNSET:
            field_dict["scorers"] = scorers
        if top is not UNSET:
            field_dict["top"] = top

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ensemble_options_params import EnsembleOptionsParams # noqa: PLC0415
        d = dict(src_dict)
        k = d.pop("k", UNSET)

        max_teams = d.pop("max_teams", UNSET)

        _mode = d.pop("mode", UNSET)
        mode: EnsembleOptionsMode | Unset
        if isinstance(_mode,  Unset):
            mode = UNSET
        else:
            mode = EnsembleOptionsMode(_mode)




        _params = d.pop("params", UNSET)
        params: EnsembleOptionsParams | Unset
        if isinstance(_params,  Unset):
            params = UNSET
        else:
            params = EnsembleOptionsParams.from_dict(_params)




        scorers = cast(list[str], d.pop("scorers", UNSET))


        top = d.pop("top", UNSET)

        ensemble_options = cls(
            k=k,
            max_teams=max_teams,
            mode=mode,
            params=params,
            scorers=scorers,
            top=top,
        )

        return ensemble_options

