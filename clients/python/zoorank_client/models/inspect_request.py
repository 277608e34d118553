from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset






T = TypeVar("T", bound="InspectRequest")



@_attrs_define
class InspectRequest:
    """ A dataset to summarise (no job is created).

        Attributes:
            dataset (str): root:relative/path, or an absolute path or file:// URL inside a root
            decode (bool | Unset): decode every image to count the corrupt ones (refused above ZOORANK_MAX_IMAGES) Default:
                True.
     """

    dataset: str
    decode: bool | Unset = True





    def to_dict(self) -> dict[str, Any]:
        dataset = self.dataset

        decode = self.decode


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "dataset": dataset,
        })
        if decode is not UNSET:
            field_dict["decode"] = decode

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        dataset = d.pop("dataset")

        decode = d.pop("decode", UNSET)

        inspect_request = cls(
            dataset=dataset,
            decode=decode,
        )

        return inspect_request

