from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.dataset_summary import DatasetSummary





T = TypeVar("T", bound="UploadedDataset")



@_attrs_define
class UploadedDataset:
    """ An uploaded archive, extracted and opened as a dataset.

        Attributes:
            expires_at (int): Unix time after which the upload is deleted (ZOORANK_UPLOAD_TTL_S)
            files (int): images and manifests extracted (other members are skipped)
            reference (str): the dataset reference to rank, e.g. uploads:3f2a9c0b1d4e5f60/birds
            summary (DatasetSummary): What ``zoorank inspect`` shows: reader, classes and counts, fingerprint, corrupt
                images.
            upload_id (str):
     """

    expires_at: int
    files: int
    reference: str
    summary: DatasetSummary
    upload_id: str





    def to_dict(self) -> dict[str, Any]:
        from ..models.dataset_summary import DatasetSummary # noqa: PLC0415
        expires_at = self.expires_at

        files = self.files

        reference = self.reference

        summary = self.summary.to_dict()

        upload_id = self.upload_id


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "expires_at": expires_at,
            "files": files,
            "reference": reference,
            "summary": summary,
            "upload_id": upload_id,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dataset_summary import DatasetSummary # noqa: PLC0415
        d = dict(src_dict)
        expires_at = d.pop("expires_at")

        files = d.pop("files")

        reference = d.pop("reference")

        summary = DatasetSummary.from_dict(d.pop("summary"))




        upload_id = d.pop("upload_id")

        uploaded_dataset = cls(
            expires_at=expires_at,
            files=files,
            reference=reference,
            summary=summary,
            upload_id=upload_id,
        )

        return uploaded_dataset

