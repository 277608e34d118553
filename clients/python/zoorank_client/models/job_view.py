from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.job_status import JobStatus
from ..models.job_view_stage import JobViewStage
from ..types import UNSET, Unset
from typing import cast
import datetime

if TYPE_CHECKING:
  from ..models.job_error import JobError
  from ..models.job_progress import JobProgress
  from ..models.ranking_request import RankingRequest





T = TypeVar("T", bound="JobView")



@_attrs_define
class JobView:
    """ A job as the API shows it (``GET /v1/jobs/{id}``).

    Attributes:
        id: job id (time-sortable).
        name: the run name of the request that created the job (``RankingRequest.name``), if any.
        status: ``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``.
        stage: ``queued``, ``extract``, ``score``, ``finalise`` or ``done``.
        created_at, started_at, finished_at: UTC timestamps.
        progress: per stage and per model.
        error: why the job failed (or ``cancelled``), else None.
        errors: every error recorded: failed models, failed or dead-lettered messages.
        cache_hit: the ranking came from the cache (no worker was involved).
        fingerprint: the request fingerprint (the cache key).
        ranking_id, ranking_url: where the ranking is, once ``succeeded``.
        request: the request as submitted.
        top_model: the first model of the ranking, once ``succeeded`` (lists show it, or ``error``).
        queue_position: while the stage is ``queued``, the messages waiting ahead of the job's first one
            in the extract or score queue (0: a free worker takes it next); None otherwise.

        Attributes:
            created_at (datetime.datetime): UTC timestamp of the submission.
            fingerprint (str): The request fingerprint (the cache key): identical requests share it.
            id (str): Job id (time-sortable).
            progress (JobProgress): Progress per stage (``extract``, ``score``, ``finalise``) and per model.
            request (RankingRequest): Rank zoo models for a dataset (the body of ``POST /v1/rankings``).

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
            stage (JobViewStage): Where the job is: queued, extract, score, finalise, done.
            status (JobStatus): Where a job is: ``queued -> running -> succeeded | failed | cancelled``.
            cache_hit (bool | Unset): The ranking came from the cache (no worker was involved). Default: False.
            error (JobError | None | Unset): Why the job failed or was cancelled, or null.
            errors (list[JobError] | Unset): Every error recorded: failed models, failed or dead-lettered messages.
            finished_at (datetime.datetime | None | Unset): UTC timestamp of its end, or null.
            name (None | str | Unset): The request's run name (a label of the job, not part of its fingerprint), or null.
            queue_position (int | None | Unset): while queued: messages waiting ahead of the job's first one in its queue
                (0: next)
            ranking_id (None | str | Unset): Where the ranking is once succeeded: GET /v1/rankings/{ranking_id}.
            ranking_url (None | str | Unset): The same as a path.
            started_at (datetime.datetime | None | Unset): UTC timestamp of the first work on it, or null.
            top_model (None | str | Unset): the first model of the ranking, once the job has succeeded
     """

    created_at: datetime.datetime
    fingerprint: str
    id: str
    progress: JobProgress
    request: RankingRequest
    stage: JobViewStage
    status: JobStatus
    cache_hit: bool | Unset = False
    error: JobError | None | Unset = UNSET
    errors: list[JobError] | Unset = UNSET
    finished_at: datetime.datetime | None | Unset = UNSET
    name: None | str | Unset = UNSET
    queue_position: int | None | Unset = UNSET
    ranking_id: None | str | Unset = UNSET
    ranking_url: None | str | Unset = UNSET
    started_at: datetime.datetime | None | Unset = UNSET
    top_model: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.job_error import JobError # noqa: PLC0415
        from ..models.job_progress import JobProgress # noqa: PLC0415
        from ..models.ranking_request import RankingRequest # noqa: PLC0415
        created_at = self.created_at.isoformat()

        fingerprint = self.fingerprint

        id = self.id

        progress = self.progress.to_dict()

        request = self.request.to_dict()

        stage = self.stage.value

        status = self.status.value

        cache_hit = self.cache_hit

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, JobError):
            error = self.error.to_dict()
        else:
            error = self.error

        errors: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.errors, Unset):
            errors = []
            for errors_item_data in self.errors:
                errors_item = errors_item_data.to_dict()
                errors.append(errors_item)



        finished_at: None | str | Unset
        if isinstance(self.finished_at, Unset):
            finished_at = UNSET
        elif isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        name: None | str | Unset
        if isinstance(self.name, Unset):
            name = UNSET
        else:
            name = self.name

        queue_position: int | None | Unset
        if isinstance(self.queue_position, Unset):
            queue_position = UNSET
        else:
            queue_position = self.queue_position

        ranking_id: None | str | Unset
        if isinstance(self.ranking_id, Unset):
            ranking_id = UNSET
        else:
            ranking_id = self.ranking_id

        ranking_url: None | str | Unset
        if isinstance(self.ranking_url, Unset):
            ranking_url = UNSET
        else:
            ranking_url = self.ranking_url

        started_at: None | str | Unset
        if isinstance(self.started_at, Unset):
            started_at = UNSET
        elif isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        top_model: None | str | Unset
        if isinstance(self.top_model, Unset):
            top_model = UNSET
        else:
            top_model = self.top_model


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "created_at": created_at,
            "fingerprint": fingerprint,
            "id": id,
            "progress": progress,
            "request": request,
            "stage": stage,
            "status": status,
        })
        if cache_hit is not UNSET:
            field_dict["cache_hit"] = cache_hit
        if error is not UNSET:
            field_dict["error"] = error
        if errors is not UNSET:
            field_dict["errors"] = errors
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at
        if name is not UNSET:
            field_dict["name"] = name
        if queue_position is not UNSET:
            field_dict["queue_position"] = queue_position
        if ranking_id is not UNSET:
            field_dict["ranking_id"] = ranking_id
        if ranking_url is not UNSET:
            field_dict["ranking_url"] = ranking_url
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if top_model is not UNSET:
            field_dict["top_model"] = top_model

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.job_error import JobError # noqa: PLC0415
        from ..models.job_progress import JobProgress # noqa: PLC0415
        from ..models.ranking_request import RankingRequest # noqa: PLC0415
        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))




        fingerprint = d.pop("fingerprint")

        id = d.pop("id")

        progress = JobProgress.from_dict(d.pop("progress"))




        request = RankingRequest.from_dict(d.pop("request"))




        stage = JobViewStage(d.pop("stage"))




        status = JobStatus(d.pop("status"))




        cache_hit = d.pop("cache_hit", UNSET)

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


        _errors = d.pop("errors", UNSET)
        errors: list[JobError] | Unset = UNSET
        if _errors is not UNSET:
            errors = []
            for errors_item_data in _errors:
                errors_item = JobError.from_dict(errors_item_data)



                errors.append(errors_item)


        def _parse_finished_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = datetime.datetime.fromisoformat(data)



                return finished_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        finished_at = _parse_finished_at(d.pop("finished_at", UNSET))


        def _parse_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name = _parse_name(d.pop("name", UNSET))


        def _parse_queue_position(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        queue_position = _parse_queue_position(d.pop("queue_position", UNSET))


        def _parse_ranking_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        ranking_id = _parse_ranking_id(d.pop("ranking_id", UNSET))


        def _parse_ranking_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        ranking_url = _parse_ranking_url(d.pop("ranking_url", UNSET))


        def _parse_started_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = datetime.datetime.fromisoformat(data)



                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        started_at = _parse_started_at(d.pop("started_at", UNSET))


        def _parse_top_model(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        top_model = _parse_top_model(d.pop("top_model", UNSET))


        job_view = cls(
            created_at=created_at,
            fingerprint=fingerprint,
            id=id,
            progress=progress,
            request=request,
            stage=stage,
            status=status,
            cache_hit=cache_hit,
            error=error,
            errors=errors,
            finished_at=finished_at,
            name=name,
            queue_position=queue_position,
            ranking_id=ranking_id,
            ranking_url=ranking_url,
            started_at=started_at,
            top_model=top_model,
        )

        return job_view

