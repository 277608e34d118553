from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.model_progress_status import ModelProgressStatus
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.job_error import JobError





T = TypeVar("T", bound="ModelProgress")



@_attrs_define
class ModelProgress:
    """ One model of a job.

    Attributes:
        id: zoo entry id.
        status: ``queued``, ``extracting``, ``extracted``, ``scoring``, ``done`` (scored), ``cached``
            (everything came from the caches), ``failed`` (the model is unusable; see ``error``),
            ``dropped`` (a budget job's round separated it from the best; see the ranking's ``budget``).
        done, total: images through the model during extraction (both equal when features were reused).
        cached: features came from the feature store.
        error: why the model is unusable, if it is.
        scorer: while ``scoring``, the scorer that runs now.
        scorers_done, scorers_total: scorers of this model finished, and to run (0 before scoring).
        folds_done, folds_total: folds of the running scorer finished, and its folds, for scorers that
            report them (``probe_cv``); 0 otherwise.
        score_elapsed_s: seconds this model has been scoring (None before scoring).
        score_eta_s: seconds of scoring left at the pace so far (None until one scorer finished).

        Attributes:
            id (str):
            status (ModelProgressStatus): queued, extracting, extracted, scoring, done, cached, failed, dropped.
            cached (bool | Unset):  Default: False.
            done (int | Unset):  Default: 0.
            error (JobError | None | Unset):
            folds_done (int | Unset):  Default: 0.
            folds_total (int | Unset):  Default: 0.
            score_elapsed_s (float | None | Unset):
            score_eta_s (float | None | Unset):
            scorer (None | str | Unset):
            scorers_done (int | Unset):  Default: 0.
            scorers_total (int | Unset):  Default: 0.
            total (int | Unset):  Default: 0.
     """

    id: str
    status: ModelProgressStatus
    cached: bool | Unset = False
    done: int | Unset = 0
    error: JobError | None | Unset = UNSET
    folds_done: int | Unset = 0
    folds_total: int | Unset = 0
    score_elapsed_s: float | None | Unset = UNSET
    score_eta_s: float | None | Unset = UNSET
    scorer: None | str | Unset = UNSET
    scorers_done: int | Unset = 0
    scorers_total: int | Unset = 0
    total: int | Unset = 0





    def to_dict(self) -> dict[str, Any]:
        from ..models.job_error import JobError # noqa: PLC0415
        id = self.id

        status = self.status.value

        cached = self.cached

        done = self.done

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, JobError):
            error = self.error.to_dict()
        else:
            error = self.error

        folds_done = self.folds_done

        folds_total = self.folds_total

        score_elapsed_s: float | None | Unset
        if isinstance(self.score_elapsed_s, Unset):
            score_elapsed_s = UNSET
        else:
            score_elapsed_s = self.score_elapsed_s

        score_eta_s: float | None | Unset
        if isinstance(self.score_eta_s, Unset):
            score_eta_s = UNSET
        else:
            score_eta_s = self.score_eta_s

        scorer: None | str | Unset
        if isinstance(self.scorer, Unset):
            scorer = UNSET
        else:
            scorer = self.scorer

        scorers_done = self.scorers_done

        scorers_total = self.scorers_total

        total = self.total


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "id": id,
            "status": status,
        })
        if cached is not UNSET:
            field_dict["cached"] = cached
        if done is not UNSET:
            field_dict["done"] = done
        if error is not UNSET:
            field_dict["error"] = error
        if folds_done is not UNSET:
            field_dict["folds_done"] = folds_done
        if folds_total is not UNSET:
            field_dict["folds_total"] = folds_total
        if score_elapsed_s is not UNSET:
            field_dict["score_elapsed_s"] = score_elapsed_s
        if score_eta_s is not UNSET:
            field_dict["score_eta_s"] = score_eta_s
        if scorer is not UNSET:
            field_dict["scorer"] = scorer
        if scorers_done is not UNSET:
            field_dict["scorers_done"] = scorers_done
        if scorers_total is not UNSET:
            field_dict["scorers_total"] = scorers_total
        if total is not UNSET:
            field_dict["total"] = total

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.job_error import JobError # noqa: PLC0415
        d = dict(src_dict)
        id = d.pop("id")

        status = ModelProgressStatus(d.pop("status"))




        cached = d.pop("cached", UNSET)

        done = d.pop("done", UNSET)

        def _parse_error(data: object) -> JobError | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_0 = JobError.from_dict(data)



                return error_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(JobError | None | Unset, data)

        error = _parse_error(d.pop("error", UNSET))


        folds_done = d.pop("folds_done", UNSET)

        folds_total = d.pop("folds_total", UNSET)

        def _parse_score_elapsed_s(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        score_elapsed_s = _parse_score_elapsed_s(d.pop("score_elapsed_s", UNSET))


        def _parse_score_eta_s(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        score_eta_s = _parse_score_eta_s(d.pop("score_eta_s", UNSET))


        def _parse_scorer(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        scorer = _parse_scorer(d.pop("scorer", UNSET))


        scorers_done = d.pop("scorers_done", UNSET)

        scorers_total = d.pop("scorers_total", UNSET)

        total = d.pop("total", UNSET)

        model_progress = cls(
            id=id,
            status=status,
            cached=cached,
            done=done,
            error=error,
            folds_done=folds_done,
            folds_total=folds_total,
            score_elapsed_s=score_elapsed_s,
            score_eta_s=score_eta_s,
            scorer=scorer,
            scorers_done=scorers_done,
            scorers_total=scorers_total,
            total=total,
        )

        return model_progress

