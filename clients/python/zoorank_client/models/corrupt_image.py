from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="CorruptImage")



@_attrs_define
class CorruptImage:
    """ One image that failed to decode.

        Attributes:
            code (str):
            key (str):
            reason (str):
     """

    code: str
    key: str
    reason: str





    def to_dict(self) -> dict[str, Any]:
        code = self.code

        key = self.key

        reason = self.reason


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "code": code,
            "key": key,
            "reason": reason,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        code = d.pop("code")

        key = d.pop("key")

        reason = d.pop("reason")

        corrupt_image = cls(
            code=code,
            key=key,
            reason=reason,
        )

        return corrupt_image

