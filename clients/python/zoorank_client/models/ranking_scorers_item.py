from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.ranking_scorers_item_kind import RankingScorersItemKind
from typing import cast

if TYPE_CHECKING:
  from ..models.ranking_scorers_item_params import RankingScorersItemParams





T = TypeVar("T", bound="RankingScorersItem")



@_attrs_define
class RankingScorersItem:
    """ 
        Attributes:
            citation (str): The paper.
            higher_is_better (bool): The scorer's orientation (ranks put the best score first either way).
            kind (RankingScorersItemKind): `model` (one score per model) or `set` (scores the models together).
            name (str): Registry name.
            params (RankingScorersItemParams): The full parameter set used (defaults merged with the overrides).
            version (str): The scorer's version (bumped whenever its numbers change).
     """

    citation: str
    higher_is_better: bool
    kind: RankingScorersItemKind
    name: str
    params: RankingScorersItemParams
    version: str





    def to_dict(self) -> dict[str, Any]:
        from ..models.ranking_scorers_item_params import RankingScorersItemParams # noqa: PLC0415
        citation = self.citation

        higher_is_better = self.higher_is_better

        kind = self.kind.value

        name = self.name

        params = self.params.to_dict()

        version = self.version


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "citation": citation,
            "higher_is_better": higher_is_better,
            "kind": kind,
            "name": name,
            "params": params,
            "version": version,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ranking_scorers_item_params import RankingScorersItemParams # noqa: PLC0415
        d = dict(src_dict)
        citation = d.pop("citation")

        higher_is_better = d.pop("higher_is_better")

        kind = RankingScorersItemKind(d.pop("kind"))




        name = d.pop("name")

        params = RankingScorersItemParams.from_dict(d.pop("params"))




        version = d.pop("version")

        ranking_scorers_item = cls(
            citation=citation,
            higher_is_better=higher_is_better,
            kind=kind,
            name=name,
            params=params,
            version=version,
        )

        return ranking_scorers_item

