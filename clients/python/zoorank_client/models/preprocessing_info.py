from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast






T = TypeVar("T", bound="PreprocessingInfo")



@_attrs_define
class PreprocessingInfo:
    """ How raw images become the network's input.

        Attributes:
            channels (int):
            crop (str):
            input_size (int):
            interpolation (str):
            mean (list[float]):
            resize (int | None):
            std (list[float]):
     """

    channels: int
    crop: str
    input_size: int
    interpolation: str
    mean: list[float]
    resize: int | None
    std: list[float]





    def to_dict(self) -> dict[str, Any]:
        channels = self.channels

        crop = self.crop

        input_size = self.input_size

        interpolation = self.interpolation

        mean = self.mean



        resize: int | None
        resize = self.resize

        std = self.std




        field_dict: dict[str, Any] = {}

        field_dict.update({
            "channels": channels,
            "crop": crop,
            "input_size": input_size,
            "interpolation": interpolation,
            "mean": mean,
            "resize": resize,
            "std": std,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        channels = d.pop("channels")

        crop = d.pop("crop")

        input_size = d.pop("input_size")

        interpolation = d.pop("interpolation")

        mean = cast(list[float], d.pop("mean"))


        def _parse_resize(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        resize = _parse_resize(d.pop("resize"))


        std = cast(list[float], d.pop("std"))


        preprocessing_info = cls(
            channels=channels,
            crop=crop,
            input_size=input_size,
            interpolation=interpolation,
            mean=mean,
            resize=resize,
            std=std,
        )

        return preprocessing_info

