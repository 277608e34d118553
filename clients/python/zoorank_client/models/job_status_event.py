from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.job_status_event_status import JobStatusEventStatus
from ..types import UNSET, Unset






T = TypeVar("T", bound="JobStatusEvent")



@_attrs_define
class JobStatusEvent:
    """ The job's status changed (event `status`).

        Attributes:
            status (JobStatusEventStatus):
            reconciled (bool | Unset): set by the start-up reconciliation of lost jobs
     """

    status: JobStatusEventStatus
    reconciled: bool | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        status = self.status.value

        reconciled = self.reconciled


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "status": status,
        })
        if reconciled is not UNSET:
            field_dict["reconciled"] = reconciled

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        status = JobStatusEventStatus(d.pop("status"))




        reconciled = d.pop("reconciled", UNSET)

        job_status_event = cls(
            status=status,
            reconciled=reconciled,
        )


        job_status_event.additional_properties = d
        return job_status_event

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
