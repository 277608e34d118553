from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.readiness_queues import ReadinessQueues





T = TypeVar("T", bound="Readiness")



@_attrs_define
class Readiness:
    """ Whether the service can take work: Redis reachable and at least one worker heartbeat.

        Attributes:
            redis (bool):
            status (str): ready or not-ready
            workers (int):
            queues (ReadinessQueues | Unset): messages waiting per queue
     """

    redis: bool
    status: str
    workers: int
    queues: ReadinessQueues | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.readiness_queues import ReadinessQueues # noqa: PLC0415
        redis = self.redis

        status = self.status

        workers = self.workers

        queues: dict[str, Any] | Unset = UNSET
        if not isinstance(self.queues, Unset):
            queues = self.queues.to_dict()


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "redis": redis,
            "status": status,
            "workers": workers,
        })
        if queues is not UNSET:
            field_dict["queues"] = queues

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.readiness_queues import ReadinessQueues # noqa: PLC0415
        d = dict(src_dict)
        redis = d.pop("redis")

        status = d.pop("status")

        workers = d.pop("workers")

        _queues = d.pop("queues", UNSET)
        queues: ReadinessQueues | Unset
        if isinstance(_queues,  Unset):
            queues = UNSET
        else:
            queues = ReadinessQueues.from_dict(_queues)




        readiness = cls(
            redis=redis,
            status=status,
            workers=workers,
            queues=queues,
        )

        return readiness

