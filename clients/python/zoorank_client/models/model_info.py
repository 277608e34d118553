from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.model_info_meta import ModelInfoMeta
  from ..models.preprocessing_info import PreprocessingInfo
  from ..models.weights_info import WeightsInfo





T = TypeVar("T", bound="ModelInfo")



@_attrs_define
class ModelInfo:
    """ One zoo entry and its metadata.

        Attributes:
            arch (str):
            citation (str):
            feature_dim (int):
            feature_layer (str):
            head (None | str):
            id (str):
            license_ (str):
            meta (ModelInfoMeta):
            num_source_classes (int | None):
            preprocessing (PreprocessingInfo): How raw images become the network's input.
            profile (None | str):
            source (str):
            tags (list[str]):
            weights (WeightsInfo): Where an entry's weights come from and the digest they must have.
     """

    arch: str
    citation: str
    feature_dim: int
    feature_layer: str
    head: None | str
    id: str
    license_: str
    meta: ModelInfoMeta
    num_source_classes: int | None
    preprocessing: PreprocessingInfo
    profile: None | str
    source: str
    tags: list[str]
    weights: WeightsInfo





    def to_dict(self) -> dict[str, Any]:
        from ..models.model_info_meta import ModelInfoMeta # noqa: PLC0415
        from ..models.preprocessing_info import PreprocessingInfo # noqa: PLC0415
        from ..models.weights_info import WeightsInfo # noqa: PLC0415
        arch = self.arch

        citation = self.citation

        feature_dim = self.feature_dim

        feature_layer = self.feature_layer

        head: None | str
        head = self.head

        id = self.id

        license_ = self.license_

        meta = self.meta.to_dict()

        num_source_classes: int | None
        num_source_classes = self.num_source_classes

        preprocessing = self.preprocessing.to_dict()

        profile: None | str
        profile = self.profile

        source = self.source

        tags = self.tags



        weights = self.weights.to_dict()


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "arch": arch,
            "citation": citation,
            "feature_dim": feature_dim,
            "feature_layer": feature_layer,
            "head": head,
            "id": id,
            "license": license_,
            "meta": meta,
            "num_source_classes": num_source_classes,
            "preprocessing": preprocessing,
            "profile": profile,
            "source": source,
            "tags": tags,
            "weights": weights,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.model_info_meta import ModelInfoMeta # noqa: PLC0415
        from ..models.preprocessing_info import PreprocessingInfo # noqa: PLC0415
        from ..models.weights_info import WeightsInfo # noqa: PLC0415
        d = dict(src_dict)
        arch = d.pop("arch")

        citation = d.pop("citation")

        feature_dim = d.pop("feature_dim")

        feature_layer = d.pop("feature_layer")

        def _parse_head(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        head = _parse_head(d.pop("head"))


        id = d.pop("id")

        license_ = d.pop("license")

        meta = ModelInfoMeta.from_dict(d.pop("meta"))




        def _parse_num_source_classes(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        num_source_classes = _parse_num_source_classes(d.pop("num_source_classes"))


        preprocessing = PreprocessingInfo.from_dict(d.pop("preprocessing"))




        def _parse_profile(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        profile = _parse_profile(d.pop("profile"))


        source = d.pop("source")

        tags = cast(list[str], d.pop("tags"))


        weights = WeightsInfo.from_dict(d.pop("weights"))




        model_info = cls(
            arch=arch,
            citation=citation,
            feature_dim=feature_dim,
            feature_layer=feature_layer,
            head=head,
            id=id,
            license_=license_,
            meta=meta,
            num_source_classes=num_source_classes,
            preprocessing=preprocessing,
            profile=profile,
            source=source,
            tags=tags,
            weights=weights,
        )

        return model_info

