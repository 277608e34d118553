from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="StageProgress")



@_attrs_define
class StageProgress:
    """ Models (or, for ``finalise``, steps) done out of total in one stage.

        Attributes:
            done (int):
            total (int):
     """

    done: int
    total: int





    def to_dict(self) -> dict[str, Any]:
        done = self.done

        total = self.total


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "done": done,
            "total": total,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        done = d.pop("done")

        total = d.pop("total")

        stage_progress = cls(
            done=done,
            total=total,
        )

        return stage_progress

