from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.ensemble_options import EnsembleOptions
  from ..models.ranking_request_params_type_0 import RankingRequestParamsType0
  from ..models.sampling import Sampling





T = TypeVar("T", bound="RankingRequest")



@_attrs_define
class RankingRequest:
    """ Rank zoo models for a dataset (the body of ``POST /v1/rankings``).

    Attributes:
        dataset: a reference under an allowed root: ``name:relative/path``, or an absolute path or
            ``file://`` URL inside a root (``GET /v1/datasets/roots`` lists the names).
        models: zoo ids or fnmatch patterns; none ranks the default zoo (``builtin`` and ``trained``).
        scorers: ``model``/``set`` scorers; none uses the server's defaults.
        params: scorer name -> parameter overrides.
        sampling: sample caps and seed.
        ensemble: also select teams of models (the ranking's ``ensembles`` section).
        name: an optional label for the run (the job lists show it). It is not part of the request
            fingerprint: an identical request under another name joins the running job, or is answered
            from the cache by the job that computed it, which keeps the name it was created with.

        Attributes:
            dataset (str): The target dataset: `root:relative/path` under a named root (GET /v1/datasets/roots), or an
                absolute path or file:// URL inside a root.
            ensemble (EnsembleOptions | None | Unset): Also select teams of models (the ranking's `ensembles` section).
            models (list[str] | None | Unset): Zoo ids or fnmatch patterns (GET /v1/models); omitted: the default zoo.
            name (None | str | Unset): a label for the run, shown in job lists (not part of the request fingerprint: an
                identical request under another name shares the job that computed it, which keeps its own name)
            params (None | RankingRequestParamsType0 | Unset): scorer name -> parameter overrides, checked against the
                scorer's parameters.
            sampling (None | Sampling | Unset): Per-class and overall caps on the images ranked, and the seed of the draw.
            scorers (list[str] | None | Unset): `model`/`set` scorers to run (GET /v1/scorers); omitted: the server's
                defaults.
     """

    dataset: str
    ensemble: EnsembleOptions | None | Unset = UNSET
    models: list[str] | None | Unset = UNSET
    name: None | str | Unset = UNSET
    params: None | RankingRequestParamsType0 | Unset = UNSET
    sampling: None | Sampling | Unset = UNSET
    scorers: list[str] | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.ensemble_options import EnsembleOptions # noqa: PLC0415
        from ..models.ranking_request_params_type_0 import RankingRequestParamsType0 # noqa: PLC0415
        from ..models.sampling import Sampling # noqa: PLC0415
        dataset = self.dataset

        ensemble: dict[str, Any] | None | Unset
        if isinstance(self.ensemble, Unset):
            ensemble = UNSET
        elif isinstance(self.ensemble, EnsembleOptions):
            ensemble = self.ensemble.to_dict()
        else:
            ensemble = self.ensemble

        models: list[str] | None | Unset
        if isinstance(self.models, Unset):
            models = UNSET
        elif isinstance(self.models, list):
            models = self.models


        else:
            models = self.models

        name: None | str | Unset
        if isinstance(self.name, Unset):
            name = UNSET
        else:
            name = self.name

        params: dict[str, Any] | None | Unset
        if isinstance(self.params, Unset):
            params = UNSET
        elif isinstance(self.params, RankingRequestParamsType0):
            params = self.params.to_dict()
        else:
            params = self.params

        sampling: dict[str, Any] | None | Unset
        if isinstance(self.sampling, Unset):
            sampling = UNSET
        elif isinstance(self.sampling, Sampling):
            sampling = self.sampling.to_dict()
        else:
            sampling = self.sampling

        scorers: list[str] | None | Unset
        if isinstance(self.scorers, Unset):
            scorers = UNSET
        elif isinstance(self.scorers, list):
            scorers = self.scorers


        else:
            scorers = self.scorers


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "dataset": dataset,
        })
        if ensemble is not UNSET:
            field_dict["ensemble"] = ensemble
        if models is not UNSET:
            field_dict["models"] = models
        if name is not UNSET:
            field_dict["name"] = name
        if params is not UNSET:
            field_dict["params"] = params
        if sampling is not UNSET:
            field_dict["sampling"] = sampling
        if scorers is not UNSET:
            field_dict["scorers"] = scorers

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ensemble_options import EnsembleOptions # noqa: PLC0415
        from ..models.ranking_request_params_type_0 import RankingRequestParamsType0 # noqa: PLC0415
        from ..models.sampling import Sampling # noqa: PLC0415
        d = dict(src_dict)
        dataset = d.pop("dataset")

        def _parse_ensemble(data: object) -> EnsembleOptions | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                ensemble_type_0 = EnsembleOptions.from_dict(data)



                return ensemble_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(EnsembleOptions | None | Unset, data)

        ensemble = _parse_ensemble(d.pop("ensemble", UNSET))


        def _parse_models(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                models_type_0 = cast(list[str], data)

                return models_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        models = _parse_models(d.pop("models", UNSET))


        def _parse_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name = _parse_name(d.pop("name", UNSET))


        def _parse_params(data: object) -> None | RankingRequestParamsType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                params_type_0 = RankingRequestParamsType0.from_dict(data)



                return params_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RankingRequestParamsType0 | Unset, data)

        params = _parse_params(d.pop("params", UNSET))


        def _parse_sampling(data: object) -> None | Sampling | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                sampling_type_0 = Sampling.from_dict(data)



                return sampling_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Sampling | Unset, data)

        sampling = _parse_sampling(d.pop("sampling", UNSET))


        def _parse_scorers(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                scorers_type_0 = cast(list[str], data)

                return scorers_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        scorers = _parse_scorers(d.pop("scorers", UNSET))


        ranking_request = cls(
            dataset=dataset,
            ensemble=ensemble,
            models=models,
            name=name,
            params=params,
            sampling=sampling,
            scorers=scorers,
        )

        return ranking_request

