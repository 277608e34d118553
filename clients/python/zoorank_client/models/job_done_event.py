from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.job_done_event_status import JobDoneEventStatus
from ..types import UNSET, Unset






T = TypeVar("T", bound="JobDoneEvent")



@_attrs_define
class JobDoneEvent:
    """ The job ended (event `done`, the last one); `ranking_id` is set when it succeeded.

        Attributes:
            status (JobDoneEventStatus):
            ranking_id (str | Unset): GET /v1/rankings/{ranking_id}
     """

    status: JobDoneEventStatus
    ranking_id: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        status = self.status.value

        ranking_id = self.ranking_id


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "status": status,
        })
        if ranking_id is not UNSET:
            field_dict["ranking_id"] = ranking_id

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        status = JobDoneEventStatus(d.pop("status"))




        ranking_id = d.pop("ranking_id", UNSET)

        job_done_event = cls(
            status=status,
            ranking_id=ranking_id,
        )


        job_done_event.additional_properties = d
        return job_done_event

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
