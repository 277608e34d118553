from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.corrupt_image import CorruptImage
  from ..models.dataset_summary_class_counts import DatasetSummaryClassCounts





T = TypeVar("T", bound="DatasetSummary")



@_attrs_define
class DatasetSummary:
    """ What ``zoorank inspect`` shows: reader, classes and counts, fingerprint, corrupt images.

        Attributes:
            class_counts (DatasetSummaryClassCounts):
            classes (list[str]):
            corrupt (int | None): undecodable images (None when decode was false)
            corrupt_examples (list[CorruptImage]):
            corrupt_threshold (float):
            fingerprint (str):
            min_per_class (int):
            num_classes (int):
            num_samples (int):
            over_threshold (bool | None):
            reader (str):
            reference (str):
     """

    class_counts: DatasetSummaryClassCounts
    classes: list[str]
    corrupt: int | None
    corrupt_examples: list[CorruptImage]
    corrupt_threshold: float
    fingerprint: str
    min_per_class: int
    num_classes: int
    num_samples: int
    over_threshold: bool | None
    reader: str
    reference: str





    def to_dict(self) -> dict[str, Any]:
        from ..models.corrupt_image import CorruptImage # noqa: PLC0415
        from ..models.dataset_summary_class_counts import DatasetSummaryClassCounts # noqa: PLC0415
        class_counts = self.class_counts.to_dict()

        classes = self.classes



        corrupt: int | None
        corrupt = self.corrupt

        corrupt_examples = []
        for corrupt_examples_item_data in self.corrupt_examples:
            corrupt_examples_item = corrupt_examples_item_data.to_dict()
            corrupt_examples.append(corrupt_examples_item)



        corrupt_threshold = self.corrupt_threshold

        fingerprint = self.fingerprint

        min_per_class = self.min_per_class

        num_classes = self.num_classes

        num_samples = self.num_samples

        over_threshold: bool | None
        over_threshold = self.over_threshold

        reader = self.reader

        reference = self.reference


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "class_counts": class_counts,
            "classes": classes,
            "corrupt": corrupt,
            "corrupt_examples": corrupt_examples,
            "corrupt_threshold": corrupt_threshold,
            "fingerprint": fingerprint,
            "min_per_class": min_per_class,
            "num_classes": num_classes,
            "num_samples": num_samples,
            "over_threshold": over_threshold,
            "reader": reader,
            "reference": reference,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.corrupt_image import CorruptImage # noqa: PLC0415
        from ..models.dataset_summary_class_counts import DatasetSummaryClassCounts # noqa: PLC0415
        d = dict(src_dict)
        class_counts = DatasetSummaryClassCounts.from_dict(d.pop("class_counts"))




        classes = cast(list[str], d.pop("classes"))


        def _parse_corrupt(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        corrupt = _parse_corrupt(d.pop("corrupt"))


        corrupt_examples = []
        _corrupt_examples = d.pop("corrupt_examples")
        for corrupt_examples_item_data in (_corrupt_examples):
            corrupt_examples_item = CorruptImage.from_dict(corrupt_examples_item_data)



            corrupt_examples.append(corrupt_examples_item)


        corrupt_threshold = d.pop("corrupt_threshold")

        fingerprint = d.pop("fingerprint")

        min_per_class = d.pop("min_per_class")

        num_classes = d.pop("num_classes")

        num_samples = d.pop("num_samples")

        def _parse_over_threshold(data: object) -> bool | None:
            if data is None:
                return data
            return cast(bool | None, data)

        over_threshold = _parse_over_threshold(d.pop("over_threshold"))


        reader = d.pop("reader")

        reference = d.pop("reference")

        dataset_summary = cls(
            class_counts=class_counts,
            classes=classes,
            corrupt=corrupt,
            corrupt_examples=corrupt_examples,
            corrupt_threshold=corrupt_threshold,
            fingerprint=fingerprint,
            min_per_class=min_per_class,
            num_classes=num_classes,
            num_samples=num_samples,
            over_threshold=over_threshold,
            reader=reader,
            reference=reference,
        )

        return dataset_summary

