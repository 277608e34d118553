from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="DataRoot")



@_attrs_define
class DataRoot:
    """ A named dataset root (the server-side path is not disclosed).

        Attributes:
            example (str): how a reference under this root looks
            name (str):
     """

    example: str
    name: str





    def to_dict(self) -> dict[str, Any]:
        example = self.example

        name = self.name


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "example": example,
            "name": name,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        example = d.pop("example")

        name = d.pop("name")

        data_root = cls(
            example=example,
            name=name,
        )

        return data_root

