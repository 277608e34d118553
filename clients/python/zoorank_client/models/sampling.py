from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="Sampling")



@_attrs_define
class Sampling:
    """ How the dataset is sampled; a missing field takes the server's default (``ZOORANK_MAX_PER_CLASS``...).

    Attributes:
        max_per_class: per-class cap, 0 = no cap.
        max_samples: overall cap (at most ``ZOORANK_MAX_IMAGES``).
        seed: sampling seed, 0 <= seed < 2**32.
        budget: rank in budget mode (``service.pipeline.budget``): forward at most this fraction, in
            (0, 1], of the images x models a full ranking forwards; omitted: a full ranking.

        Attributes:
            budget (float | None | Unset): Budget mode: forward at most this fraction, in (0, 1], of the images x models a
                full ranking forwards. Rounds rank nested stratified samples, doubling in size, and drop the models the round's
                confidence set separates from the best; omitted: a full ranking.
            max_per_class (int | None | Unset): At most this many images per class (0: no cap; omitted: the server default).
            max_samples (int | None | Unset): At most this many images in all (omitted: no overall cap beyond the server
                limit).
            seed (int | None | Unset): Seed of the stratified draw: the same dataset, caps and seed give the same sample.
     """

    budget: float | None | Unset = UNSET
    max_per_class: int | None | Unset = UNSET
    max_samples: int | None | Unset = UNSET
    seed: int | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        budget: float | None | Unset
        if isinstance(self.budget, Unset):
            budget = UNSET
        else:
            budget = self.budget

        max_per_class: int | None | Unset
        if isinstance(self.max_per_class, Unset):
            max_per_class = UNSET
        else:
            max_per_class = self.max_per_class

        max_samples: int | None | Unset
        if isinstance(self.max_samples, Unset):
            max_samples = UNSET
        else:
            max_samples = self.max_samples

        seed: int | None | Unset
        if isinstance(self.seed, Unset):
            seed = UNSET
        else:
            seed = self.seed


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if budget is not UNSET:
            field_dict["budget"] = budget
        if max_per_class is not UNSET:
            field_dict["max_per_class"] = max_per_class
        if max_samples is not UNSET:
            field_dict["max_samples"] = max_samples
        if seed is not UNSET:
            field_dict["seed"] = seed

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_budget(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        budget = _parse_budget(d.pop("budget", UNSET))


        def _parse_max_per_class(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_per_class = _parse_max_per_class(d.pop("max_per_class", UNSET))


        def _parse_max_samples(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_samples = _parse_max_samples(d.pop("max_samples", UNSET))


        def _parse_seed(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        seed = _parse_seed(d.pop("seed", UNSET))


        sampling = cls(
            budget=budget,
            max_per_class=max_per_class,
            max_samples=max_samples,
            seed=seed,
        )

        return sampling

