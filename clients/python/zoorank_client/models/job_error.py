from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="JobError")



@_attrs_define
class JobError:
    """ Why a job, or one model or message of it, failed.

    Attributes:
        code: the stable error code (``ZoorankError.code``, ``worker-error``, ``time-limit-exceeded``, ...).
        message: one human-readable line.
        model: the model concerned, if any.
        part: the message concerned (``extract``, ``score``, ``finalise``), if any.

        Attributes:
            code (str):
            message (str):
            model (None | str | Unset):
            part (None | str | Unset):
     """

    code: str
    message: str
    model: None | str | Unset = UNSET
    part: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        code = self.code

        message = self.message

        model: None | str | Unset
        if isinstance(self.model, Unset):
            model = UNSET
        else:
            model = self.model

        part: None | str | Unset
        if isinstance(self.part, Unset):
            part = UNSET
        else:
            part = self.part


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "code": code,
            "message": message,
        })
        if model is not UNSET:
            field_dict["model"] = model
        if part is not UNSET:
            field_dict["part"] = part

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        code = d.pop("code")

        message = d.pop("message")

        def _parse_model(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        model = _parse_model(d.pop("model", UNSET))


        def _parse_part(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        part = _parse_part(d.pop("part", UNSET))


        job_error = cls(
            code=code,
            message=message,
            model=model,
            part=part,
        )

        return job_error

