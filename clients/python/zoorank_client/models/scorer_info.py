from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.scorer_kind import ScorerKind
from typing import cast

if TYPE_CHECKING:
  from ..models.scorer_info_constraints import ScorerInfoConstraints
  from ..models.scorer_info_params import ScorerInfoParams





T = TypeVar("T", bound="ScorerInfo")



@_attrs_define
class ScorerInfo:
    """ One registered scorer: inputs, default parameters and their rules, version, paper.

        Attributes:
            accepts_targets (bool):
            citation (str):
            constraints (ScorerInfoConstraints): parameter -> the rule it must satisfy
            default (bool): run when a request names no scorers
            higher_is_better (bool):
            kind (ScorerKind): What a scorer scores: one model, a candidate set, a team of models, or a model's metadata
                alone.
            min_classes (int):
            min_per_class (int):
            min_samples (int):
            name (str):
            needs (list[str]):
            optional (list[str]):
            params (ScorerInfoParams): default parameters
            summary (str):
            version (str):
     """

    accepts_targets: bool
    citation: str
    constraints: ScorerInfoConstraints
    default: bool
    higher_is_better: bool
    kind: ScorerKind
    min_classes: int
    min_per_class: int
    min_samples: int
    name: str
    needs: list[str]
    optional: list[str]
    params: ScorerInfoParams
    summary: str
    version: str





    def to_dict(self) -> dict[str, Any]:
        from ..models.scorer_info_constraints import ScorerInfoConstraints # noqa: PLC0415
        from ..models.scorer_info_params import ScorerInfoParams # noqa: PLC0415
        accepts_targets = self.accepts_targets

        citation = self.citation

        constraints = self.constraints.to_dict()

        default = self.default

        higher_is_better = self.higher_is_better

        kind = self.kind.value

        min_classes = self.min_classes

        min_per_class = self.min_per_class

        min_samples = self.min_samples

        name = self.name

        needs = self.needs



        optional = self.optional



        params = self.params.to_dict()

        summary = self.summary

        version = self.version


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "accepts_targets": accepts_targets,
            "citation": citation,
            "constraints": constraints,
            "default": default,
            "higher_is_better": higher_is_better,
            "kind": kind,
            "min_classes": min_classes,
            "min_per_class": min_per_class,
            "min_samples": min_samples,
            "name": name,
            "needs": needs,
            "optional": optional,
            "params": params,
            "summary": summary,
            "version": version,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.scorer_info_constraints import ScorerInfoConstraints # noqa: PLC0415
        from ..models.scorer_info_params import ScorerInfoParams # noqa: PLC0415
        d = dict(src_dict)
        accepts_targets = d.pop("accepts_targets")

        citation = d.pop("citation")

        constraints = ScorerInfoConstraints.from_dict(d.pop("constraints"))




        default = d.pop("default")

        higher_is_better = d.pop("higher_is_better")

        kind = ScorerKind(d.pop("kind"))




        min_classes = d.pop("min_classes")

        min_per_class = d.pop("min_per_class")

        min_samples = d.pop("min_samples")

        name = d.pop("name")

        needs = cast(list[str], d.pop("needs"))


        optional = cast(list[str], d.pop("optional"))


        params = ScorerInfoParams.from_dict(d.pop("params"))




        summary = d.pop("summary")

        version = d.pop("version")

        scorer_info = cls(
            accepts_targets=accepts_targets,
            citation=citation,
            constraints=constraints,
            default=default,
            higher_is_better=higher_is_better,
            kind=kind,
            min_classes=min_classes,
            min_per_class=min_per_class,
            min_samples=min_samples,
            name=name,
            needs=needs,
            optional=optional,
            params=params,
            summary=summary,
            version=version,
        )

        return scorer_info

