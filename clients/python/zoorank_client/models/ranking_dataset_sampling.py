from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast






T = TypeVar("T", bound="RankingDatasetSampling")



@_attrs_define
class RankingDatasetSampling:
    """ How the sample was drawn.

        Attributes:
            available (int): Images in the dataset before sampling.
            max_per_class (int | None): Per-class cap applied, or null.
            max_samples (int | None): Overall cap applied, or null.
            seed (int): Seed of the draw.
            strategy (str): `stratified`: per-class caps, then a seeded draw.
     """

    available: int
    max_per_class: int | None
    max_samples: int | None
    seed: int
    strategy: str





    def to_dict(self) -> dict[str, Any]:
        available = self.available

        max_per_class: int | None
        max_per_class = self.max_per_class

        max_samples: int | None
        max_samples = self.max_samples

        seed = self.seed

        strategy = self.strategy


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "available": available,
            "max_per_class": max_per_class,
            "max_samples": max_samples,
            "seed": seed,
            "strategy": strategy,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        available = d.pop("available")

        def _parse_max_per_class(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        max_per_class = _parse_max_per_class(d.pop("max_per_class"))


        def _parse_max_samples(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        max_samples = _parse_max_samples(d.pop("max_samples"))


        seed = d.pop("seed")

        strategy = d.pop("strategy")

        ranking_dataset_sampling = cls(
            available=available,
            max_per_class=max_per_class,
            max_samples=max_samples,
            seed=seed,
            strategy=strategy,
        )

        return ranking_dataset_sampling

