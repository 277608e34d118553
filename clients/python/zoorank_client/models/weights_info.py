from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.weights_kind import WeightsKind
from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="WeightsInfo")



@_attrs_define
class WeightsInfo:
    """ Where an entry's weights come from and the digest they must have.

        Attributes:
            filename (str):
            key_map (str):
            kind (WeightsKind): Where a model's weights come from.
            origin (str): one phrase saying where the file comes from
            package (None | str):
            present (bool | None): whether the file exists locally (None: random init)
            sha256 (None | str):
            url (None | str):
            available (bool | None | Unset): whether a ranking can use the model: the file is here or can be downloaded here
                (a request naming a model with false is refused with 422 weights-missing; None: random init)
     """

    filename: str
    key_map: str
    kind: WeightsKind
    origin: str
    package: None | str
    present: bool | None
    sha256: None | str
    url: None | str
    available: bool | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        filename = self.filename

        key_map = self.key_map

        kind = self.kind.value

        origin = self.origin

        package: None | str
        package = self.package

        present: bool | None
        present = self.present

        sha256: None | str
        sha256 = self.sha256

        url: None | str
        url = self.url

        available: bool | None | Unset
        if isinstance(self.available, Unset):
            available = UNSET
        else:
            available = self.available


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "filename": filename,
            "key_map": key_map,
            "kind": kind,
            "origin": origin,
            "package": package,
            "present": present,
            "sha256": sha256,
            "url": url,
        })
        if available is not UNSET:
            field_dict["available"] = available

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        filename = d.pop("filename")

        key_map = d.pop("key_map")

        kind = WeightsKind(d.pop("kind"))




        origin = d.pop("origin")

        def _parse_package(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        package = _parse_package(d.pop("package"))


        def _parse_present(data: object) -> bool | None:
            if data is None:
                return data
            return cast(bool | None, data)

        present = _parse_present(d.pop("present"))


        def _parse_sha256(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        sha256 = _parse_sha256(d.pop("sha256"))


        def _parse_url(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        url = _parse_url(d.pop("url"))


        def _parse_available(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        available = _parse_available(d.pop("available", UNSET))


        weights_info = cls(
            filename=filename,
            key_map=key_map,
            kind=kind,
            origin=origin,
            package=package,
            present=present,
            sha256=sha256,
            url=url,
            available=available,
        )

        return weights_info

