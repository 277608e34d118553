from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.ranking_ensembles_results_item_ineligible_additional_property import RankingEnsemblesResultsItemIneligibleAdditionalProperty





T = TypeVar("T", bound="RankingEnsemblesResultsItemIneligible")



@_attrs_define
class RankingEnsemblesResultsItemIneligible:
    """ Model id -> why it could not take part.

     """

    additional_properties: dict[str, RankingEnsemblesResultsItemIneligibleAdditionalProperty] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.ranking_ensembles_results_item_ineligible_additional_property import RankingEnsemblesResultsItemIneligibleAdditionalProperty # noqa: PLC0415
        
        field_dict: dict[str, Any] = {}
        for prop_name, prop in self.additional_properties.items():
            field_dict[prop_name] = prop.to_dict()


        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ranking_ensembles_results_item_ineligible_additional_property import RankingEnsemblesResultsItemIneligibleAdditionalProperty # noqa: PLC0415
        d = dict(src_dict)
        ranking_ensembles_results_item_ineligible = cls(
        )


        additional_properties = {}
        for prop_name, prop_dict in d.items():
            additional_property = RankingEnsemblesResultsItemIneligibleAdditionalProperty.from_dict(prop_dict)



            additional_properties[prop_name] = additional_property

        ranking_ensembles_results_item_ineligible.additional_properties = additional_properties
        return ranking_ensembles_results_item_ineligible

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> RankingEnsemblesResultsItemIneligibleAdditionalProperty:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: RankingEnsemblesResultsItemIneligibleAdditionalProperty) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
