from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.ranking_dataset_class_counts import RankingDatasetClassCounts
  from ..models.ranking_dataset_sampling import RankingDatasetSampling





T = TypeVar("T", bound="RankingDataset")



@_attrs_define
class RankingDataset:
    """ The target dataset as ranked.

        Attributes:
            class_counts (RankingDatasetClassCounts): Class name -> images in the sample.
            classes (list[str]): Class names in label order.
            corrupt (int): Sampled images skipped because they failed to decode.
            fingerprint (str): Content fingerprint of the whole dataset (with `sampling`: the exact sample).
            num_classes (int): Distinct classes in the sample.
            num_samples (int): Images ranked on (after sampling, minus undecodable ones).
            reader (str): The reader that read it (imagefolder, csv, parquet, npz, ...).
            reference (str): The dataset reference as the request gave it.
            sampling (RankingDatasetSampling): How the sample was drawn.
     """

    class_counts: RankingDatasetClassCounts
    classes: list[str]
    corrupt: int
    fingerprint: str
    num_classes: int
    num_samples: int
    reader: str
    reference: str
    sampling: RankingDatasetSampling





    def to_dict(self) -> dict[str, Any]:
        from ..models.ranking_dataset_class_counts import RankingDatasetClassCounts # noqa: PLC0415
        from ..models.ranking_dataset_sampling import RankingDatasetSampling # noqa: PLC0415
        class_counts = self.class_counts.to_dict()

        classes = self.classes



        corrupt = self.corrupt

        fingerprint = self.fingerprint

        num_classes = self.num_classes

        num_samples = self.num_samples

        reader = self.reader

        reference = self.reference

        sampling = self.sampling.to_dict()


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "class_counts": class_counts,
            "classes": classes,
            "corrupt": corrupt,
            "fingerprint": fingerprint,
            "num_classes": num_classes,
            "num_samples": num_samples,
            "reader": reader,
            "reference": reference,
            "sampling": sampling,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ranking_dataset_class_counts import RankingDatasetClassCounts # noqa: PLC0415
        from ..models.ranking_dataset_sampling import RankingDatasetSampling # noqa: PLC0415
        d = dict(src_dict)
        class_counts = RankingDatasetClassCounts.from_dict(d.pop("class_counts"))




        classes = cast(list[str], d.pop("classes"))


        corrupt = d.pop("corrupt")

        fingerprint = d.pop("fingerprint")

        num_classes = d.pop("num_classes")

        num_samples = d.pop("num_samples")

        reader = d.pop("reader")

        reference = d.pop("reference")

        sampling = RankingDatasetSampling.from_dict(d.pop("sampling"))




        ranking_dataset = cls(
            class_counts=class_counts,
            classes=classes,
            corrupt=corrupt,
            fingerprint=fingerprint,
            num_classes=num_classes,
            num_samples=num_samples,
            reader=reader,
            reference=reference,
            sampling=sampling,
        )

        return ranking_dataset

