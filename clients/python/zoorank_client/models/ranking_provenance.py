from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="RankingProvenance")



@_attrs_define
class RankingProvenance:
    """ What produced the ranking.

        Attributes:
            created_at (str): UTC timestamp, ISO 8601.
            device (str): Torch device the features were extracted on.
            extractor_version (str): Version of the feature extractor (part of feature-store keys).
            torch_version (str): Installed torch version.
            zoorank_version (str): Installed zoorank version.
     """

    created_at: str
    device: str
    extractor_version: str
    torch_version: str
    zoorank_version: str





    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at

        device = self.device

        extractor_version = self.extractor_version

        torch_version = self.torch_version

        zoorank_version = self.zoorank_version


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "created_at": created_at,
            "device": device,
            "extractor_version": extractor_version,
            "torch_version": torch_version,
            "zoorank_version": zoorank_version,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = d.pop("created_at")

        device = d.pop("device")

        extractor_version = d.pop("extractor_version")

        torch_version = d.pop("torch_version")

        zoorank_version = d.pop("zoorank_version")

        ranking_provenance = cls(
            created_at=created_at,
            device=device,
            extractor_version=extractor_version,
            torch_version=torch_version,
            zoorank_version=zoorank_version,
        )

        return ranking_provenance

