"""The job's wire models: status, error, per-stage and per-model progress, and the job view of the API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from service.jobs.request import RankingRequest

if TYPE_CHECKING:
    pass


class JobStatus(StrEnum):
    """Where a job is: ``queued -> running -> succeeded | failed | cancelled``."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether the status is final."""
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")


ACTIVE_STATUSES = ("queued", "running")


class JobError(BaseModel):
    """Why a job, or one model or message of it, failed.

    Attributes:
        code: the stable error code (``ZoorankError.code``, ``worker-error``, ``time-limit-exceeded``, ...).
        message: one human-readable line.
        model: the model concerned, if any.
        part: the message concerned (``extract``, ``score``, ``finalise``), if any.
    """

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    model: str | None = None
    part: str | None = None


class StageProgress(BaseModel):
    """Models (or, for ``finalise``, steps) done out of total in one stage."""

    model_config = ConfigDict(extra="forbid")

    done: int = Field(ge=0)
    total: int = Field(ge=0)


class ModelProgress(BaseModel):
    """One model of a job.

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
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    status: str
    done: int = 0
    total: int = 0
    cached: bool = False
    error: JobError | None = None
    scorer: str | None = None
    scorers_done: int = 0
    scorers_total: int = 0
    folds_done: int = 0
    folds_total: int = 0
    score_elapsed_s: float | None = None
    score_eta_s: float | None = None


def part_started(progress: ModelProgress) -> bool:
    """Whether a worker has taken this model's part: anything past ``queued`` but what submission
    itself writes for a model whose features (``extracted``, cached) or cells (``cached``) were warm."""
    if progress.status in ("queued", "cached"):
        return False
    return not (progress.status == "extracted" and progress.cached)


class JobProgress(BaseModel):
    """Progress per stage (``extract``, ``score``, ``finalise``) and per model."""

    model_config = ConfigDict(extra="forbid")

    stages: dict[str, StageProgress]
    models: list[ModelProgress]


class JobView(BaseModel):
    """A job as the API shows it (``GET /v1/jobs/{id}``).

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
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str | None = None
    status: JobStatus
    stage: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: JobProgress
    error: JobError | None = None
    errors: list[JobError] = Field(default_factory=list)
    cache_hit: bool = False
    fingerprint: str
    ranking_id: str | None = None
    ranking_url: str | None = None
    request: RankingRequest
    top_model: str | None = Field(
        default=None, description="the first model of the ranking, once the job has succeeded"
    )
    queue_position: int | None = Field(
        default=None,
        description="while queued: messages waiting ahead of the job's first one in its queue (0: next)",
    )


def top_model(ranking_json: str) -> str | None:
    """The ranking's best model: the first of its ``models`` (ordered by aggregate rank) that has an
    aggregate rank, so a model every scorer failed on is never shown as the top; None if there is none.

    Computed once, when the ranking is stored on the job (field ``top_model``), not on every view."""
    try:
        models = json.loads(ranking_json).get("models") or []
    except (ValueError, AttributeError):
        return None
    for model in models:
        if (
            isinstance(model, dict)
            and model.get("aggregate_rank") is not None
            and isinstance(model.get("id"), str)
        ):
            return str(model["id"])
    return None


def stored_top_model(state: Mapping[str, str]) -> str | None:
    """A succeeded job's top model from its hash: the stored field (empty: none), else computed from the
    stored ranking (jobs that ended before the field existed)."""
    if "top_model" in state:
        return state["top_model"] or None
    return top_model(state["ranking"]) if "ranking" in state else None
