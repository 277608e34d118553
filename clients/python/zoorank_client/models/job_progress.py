from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.job_progress_stages import JobProgressStages
  from ..models.model_progress import ModelProgress





T = TypeVar("T", bound="JobProgress")



@_attrs_define
class JobProgress:
    """ Progress per stage (``extract``, ``score``, ``finalise``) and per model.

        Attributes:
            models (list[ModelProgress]):
            stages (JobProgressStages):
     """

    models: list[ModelProgress]
    stages: JobProgressStages





    def to_dict(self) -> dict[str, Any]:
        from ..models.job_progress_stages import JobProgressStages # noqa: PLC0415
        from ..models.model_progress import ModelProgress # noqa: PLC0415
        models = []
        for models_item_data in self.models:
            models_item = models_item_data.to_dict()
            models.append(models_item)



        stages = self.stages.to_dict()


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "models": models,
            "stages": stages,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.job_progress_stages import JobProgressStages # noqa: PLC0415
        from ..models.model_progress import ModelProgress # noqa: PLC0415
        d = dict(src_dict)
        models = []
        _models = d.pop("models")
        for models_item_data in (_models):
            models_item = ModelProgress.from_dict(models_item_data)



            models.append(models_item)


        stages = JobProgressStages.from_dict(d.pop("stages"))




        job_progress = cls(
            models=models,
            stages=stages,
        )

        return job_progress

