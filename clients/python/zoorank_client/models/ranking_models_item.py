from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.ranking_models_item_dropped import RankingModelsItemDropped
  from ..models.ranking_models_item_error_type_0 import RankingModelsItemErrorType0
  from ..models.ranking_models_item_errors import RankingModelsItemErrors
  from ..models.ranking_models_item_info import RankingModelsItemInfo
  from ..models.ranking_models_item_ranks import RankingModelsItemRanks
  from ..models.ranking_models_item_scores import RankingModelsItemScores





T = TypeVar("T", bound="RankingModelsItem")



@_attrs_define
class RankingModelsItem:
    """ 
        Attributes:
            aggregate_rank (float | None): Mean of `ranks` (lower is better), or null when no scorer scored it.
            cached (bool): Whether the features came from the feature store instead of a forward pass.
            error (None | RankingModelsItemErrorType0): Why the whole model could not be used (weights missing, load
                failure), or null.
            errors (RankingModelsItemErrors): scorer name -> why that scorer has no score for this model.
            extraction_seconds (float): Wall time to get the features (load + forward, or a store read).
            feature_dim (int | None): Dimension D of the extracted features (null when extraction failed).
            has_source_head (bool): Whether source-class probabilities were available (LEEP, NCE).
            id (str): Zoo entry id.
            info (RankingModelsItemInfo): scorer name -> the scorer's diagnostics, possibly empty.
            notes (list[str]): Anything else worth knowing (e.g. a profile that could not be read).
            ranks (RankingModelsItemRanks): scorer name -> rank among the models it scored (1 = best; ties share the mean).
            saturated (list[str]): Scorers whose top score here is a saturated tie: those ranks carry no order.
            scores (RankingModelsItemScores): scorer name -> finite score, for the scorers that scored this model.
            source_profile (bool): Whether a source feature profile was available (PED).
            weights_sha256 (None | str): Digest of the weights the features came from (null: random init).
            dropped (RankingModelsItemDropped | Unset): Budget rankings (schema 1.3): the round that dropped this model; its
                scores are from that round.
     """

    aggregate_rank: float | None
    cached: bool
    error: None | RankingModelsItemErrorType0
    errors: RankingModelsItemErrors
    extraction_seconds: float
    feature_dim: int | None
    has_source_head: bool
    id: str
    info: RankingModelsItemInfo
    notes: list[str]
    ranks: RankingModelsItemRanks
    saturated: list[str]
    scores: RankingModelsItemScores
    source_profile: bool
    weights_sha256: None | str
    dropped: RankingModelsItemDropped | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.ranking_models_item_dropped import RankingModelsItemDropped # noqa: PLC0415
        from ..models.ranking_models_item_error_type_0 import RankingModelsItemErrorType0 # noqa: PLC0415
        from ..models.ranking_models_item_errors import RankingModelsItemErrors # noqa: PLC0415
        from ..models.ranking_models_item_info import RankingModelsItemInfo # noqa: PLC0415
        from ..models.ranking_models_item_ranks import RankingModelsItemRanks # noqa: PLC0415
        from ..models.ranking_models_item_scores import RankingModelsItemScores # noqa: PLC0415
        aggregate_rank: float | None
        aggregate_rank = self.aggregate_rank

        cached = self.cached

        error: dict[str, Any] | None
        if isinstance(self.error, RankingModelsItemErrorType0):
            error = self.error.to_dict()
        else:
            error = self.error

        errors = self.errors.to_dict()

        extraction_seconds = self.extraction_seconds

        feature_dim: int | None
        feature_dim = self.feature_dim

        has_source_head = self.has_source_head

        id = self.id

        info = self.info.to_dict()

        notes = self.notes



        ranks = self.ranks.to_dict()

        saturated = self.saturated



        scores = self.scores.to_dict()

        source_profile = self.source_profile

        weights_sha256: None | str
        weights_sha256 = self.weights_sha256

        dropped: dict[str, Any] | Unset = UNSET
        if not isinstance(self.dropped, Unset):
            dropped = self.dropped.to_dict()


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "aggregate_rank": aggregate_rank,
            "cached": cached,
            "error": error,
            "errors": errors,
            "extraction_seconds": extraction_seconds,
            "feature_dim": feature_dim,
            "has_source_head": has_source_head,
            "id": id,
            "info": info,
            "notes": notes,
            "ranks": ranks,
            "saturated": saturated,
            "scores": scores,
            "source_profile": source_profile,
            "weights_sha256": weights_sha256,
        })
        if dropped is not UNSET:
            field_dict["dropped"] = dropped

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ranking_models_item_dropped import RankingModelsItemDropped # noqa: PLC0415
        from ..models.ranking_models_item_error_type_0 import RankingModelsItemErrorType0 # noqa: PLC0415
        from ..models.ranking_models_item_errors import RankingModelsItemErrors # noqa: PLC0415
        from ..models.ranking_models_item_info import RankingModelsItemInfo # noqa: PLC0415
        from ..models.ranking_models_item_ranks import RankingModelsItemRanks # noqa: PLC0415
        from ..models.ranking_models_item_scores import RankingModelsItemScores # noqa: PLC0415
        d = dict(src_dict)
        def _parse_aggregate_rank(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        aggregate_rank = _parse_aggregate_rank(d.pop("aggregate_rank"))


        cached = d.pop("cached")

        def _parse_error(data: object) -> None | RankingModelsItemErrorType0:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_0 = RankingModelsItemErrorType0.from_dict(data)



                return error_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RankingModelsItemErrorType0, data)

        error = _parse_error(d.pop("error"))


        errors = RankingModelsItemErrors.from_dict(d.pop("errors"))




        extraction_seconds = d.pop("extraction_seconds")

        def _parse_feature_dim(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        feature_dim = _parse_feature_dim(d.pop("feature_dim"))


        has_source_head = d.pop("has_source_head")

        id = d.pop("id")

        info = RankingModelsItemInfo.from_dict(d.pop("info"))




        notes = cast(list[str], d.pop("notes"))


        ranks = RankingModelsItemRanks.from_dict(d.pop("ranks"))




        saturated = cast(list[str], d.pop("saturated"))


        scores = RankingModelsItemScores.from_dict(d.pop("scores"))




        source_profile = d.pop("source_profile")

        def _parse_weights_sha256(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        weights_sha256 = _parse_weights_sha256(d.pop("weights_sha256"))


        _dropped = d.pop("dropped", UNSET)
        dropped: RankingModelsItemDropped | Unset
        if isinstance(_dropped,  Unset):
            dropped = UNSET
        else:
            dropped = RankingModelsItemDropped.from_dict(_dropped)




        ranking_models_item = cls(
            aggregate_rank=aggregate_rank,
            cached=cached,
            error=error,
            errors=errors,
            extraction_seconds=extraction_seconds,
            feature_dim=feature_dim,
            has_source_head=has_source_head,
            id=id,
            info=info,
            notes=notes,
            ranks=ranks,
            saturated=saturated,
            scores=scores,
            source_profile=source_profile,
            weights_sha256=weights_sha256,
            dropped=dropped,
        )

        return ranking_models_item

