from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.job_progress_event_stage import JobProgressEventStage
from ..types import UNSET, Unset






T = TypeVar("T", bound="JobProgressEvent")



@_attrs_define
class JobProgressEvent:
    """ Progress of a stage or a model (event `progress`); GET the job for the totals.

        Attributes:
            model (str | Unset): the model concerned, if any
            stage (JobProgressEventStage | Unset):
            worker (str | Unset): the worker doing the work
     """

    model: str | Unset = UNSET
    stage: JobProgressEventStage | Unset = UNSET
    worker: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        model = self.model

        stage: str | Unset = UNSET
        if not isinstance(self.stage, Unset):
            stage = self.stage.value


        worker = self.worker


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
        })
        if model is not UNSET:
            field_dict["model"] = model
        if stage is not UNSET:
            field_dict["stage"] = stage
        if worker is not UNSET:
            field_dict["worker"] = worker

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        model = d.pop("model", UNSET)

        _stage = d.pop("stage", UNSET)
        stage: JobProgressEventStage | Unset
        if isinstance(_stage,  Unset):
            stage = UNSET
        else:
            stage = JobProgressEventStage(_stage)




        worker = d.pop("worker", UNSET)

        job_progress_event = cls(
            model=model,
            stage=stage,
            worker=worker,
        )


        job_progress_event.additional_properties = d
        return job_progress_event

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
