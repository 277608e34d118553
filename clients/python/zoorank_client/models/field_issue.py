from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="FieldIssue")



@_attrs_define
class FieldIssue:
    """ One failed field of a request that did not validate.

        Attributes:
            kind (str): pydantic's error type, e.g. missing, too_long, extra_forbidden
            loc (str): where: body.models.0, query.limit, header.idempotency-key, ...
            message (str):
     """

    kind: str
    loc: str
    message: str





    def to_dict(self) -> dict[str, Any]:
        kind = self.kind

        loc = self.loc

        message = self.message


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "kind": kind,
            "loc": loc,
            "message": message,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        kind = d.pop("kind")

        loc = d.pop("loc")

        message = d.pop("message")

        field_issue = cls(
            kind=kind,
            loc=loc,
            message=message,
        )

        return field_issue

