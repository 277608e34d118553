"""The pipeline's own value types: progress events, scorer plans, per-model inputs and score cells.

Every stage module of :mod:`service.pipeline` and every front end passes these around; they hold no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from estimators._registry import ScorerSpec
from estimators.errors import ZoorankError
from service.errors import JobCancelledError
from service.pipeline.schema import ErrorInfo, ScorerInfo

if TYPE_CHECKING:
    from zoo._api import ZooEntry
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from zoo._api import ZooEntry


Stage = Literal["dataset", "load", "extract", "cached", "score", "model-done", "done", "round"]


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a ranking job, for progress bars (CLI) and job status (HTTP service).

    Attributes:
        stage: ``dataset`` (reading/sampling), ``load`` (model weights), ``extract`` (``done`` of
            ``total`` images through the model), ``cached`` (features reused), ``score`` (``done`` of
            ``total`` scorers), ``model-done``, ``done`` (whole ranking), ``round`` (a budget ranking's
            round ``done`` begins; ``service.pipeline.budget``).
        model_id: the model concerned, or None for dataset-level stages.
        done, total: progress within the stage (``total`` 0 when unknown).
        message: a short human-readable note (``score``: the scorer running).
        folds_done, folds_total: ``score`` only, inside a scorer that reports its steps (``probe_cv``):
            folds finished of its folds (both 0 otherwise).
    """

    stage: Stage
    model_id: str | None = None
    done: int = 0
    total: int = 0
    message: str = ""
    folds_done: int = 0
    folds_total: int = 0


ProgressCallback = Callable[[ProgressEvent], None]


def no_progress(event: ProgressEvent) -> None:  # noqa: ARG001 (the default callback ignores events)
    return None


@dataclass(frozen=True)
class ScorerPlan:
    """A scorer to run and its full parameter set (defaults merged with the caller's overrides)."""

    spec: ScorerSpec
    params: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The scorer's registry name."""
        return self.spec.name

    def info(self) -> ScorerInfo:
        """The ranking's record of this scorer."""
        return ScorerInfo(
            name=self.spec.name,
            kind=self.spec.kind,
            version=self.spec.version,
            params=dict(self.params),
            citation=self.spec.citation,
            higher_is_better=self.spec.higher_is_better,
        )


@dataclass(frozen=True)
class ModelInputs:
    """What one model contributes to scoring.

    Attributes:
        features: ``(N, D)`` features of the sampled images, in label order of ``labels``.
        source_probs: ``(N, C_s)`` softmax of the source head, or None for headless models.
        source_mean, source_std: ``(D,)`` source-feature statistics from the model's profile, or None.
        source_features, source_predictions, source_labels: the profile's ``(n, D)`` feature sample and
            its ``(n,)`` predicted / true source classes (OSBORN), or None
            (:mod:`service.pipeline.ensembles` loads them from the entry when an ensemble section asks).
    """

    features: np.ndarray
    source_probs: np.ndarray | None = None
    source_mean: np.ndarray | None = None
    source_std: np.ndarray | None = None
    source_features: np.ndarray | None = None
    source_predictions: np.ndarray | None = None
    source_labels: np.ndarray | None = None

    def available(self) -> set[str]:
        """Names of the scorer inputs this model can supply."""
        out = {"features", "labels"}
        if self.source_probs is not None:
            out.add("source_probs")
        if self.source_mean is not None and self.source_std is not None:
            out |= {"source_mean", "source_std"}
        if self.source_features is not None and self.source_predictions is not None:
            out |= {"source_features", "source_predictions"}
            if self.source_labels is not None:
                out.add("source_labels")
        return out

    def arrays_for(self, spec: ScorerSpec) -> dict[str, np.ndarray]:
        """The arrays ``spec`` needs or can use that this model has (labels excluded)."""
        wanted = (set(spec.needs) | set(spec.optional)) - {"labels"}
        given = {
            "features": self.features,
            "source_probs": self.source_probs,
            "source_mean": self.source_mean,
            "source_std": self.source_std,
            "source_features": self.source_features,
            "source_predictions": self.source_predictions,
            "source_labels": self.source_labels,
        }
        if self.source_mean is None or self.source_std is None:
            given["source_mean"] = given["source_std"] = None
        return {k: v for k, v in given.items() if k in wanted and v is not None}


@dataclass
class Cells:
    """Per-model scoring outcome before ranking: scores, errors and diagnostics by scorer.

    ``seconds`` holds each scorer's wall time on this model (a set-level scorer: its whole call), the
    cost the recommendation's resampling budget is measured against.
    """

    scores: dict[str, float] = field(default_factory=dict)
    errors: dict[str, ErrorInfo] = field(default_factory=dict)
    info: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


#: Returns True when the job was cancelled; checked between batches and between scorers.
CancelCheck = Callable[[], bool]


#: ``load(entry, device) -> feature model``: ``zoo.models.load_model``, or a worker's LRU of loaded models.
ModelLoader = Callable[["ZooEntry", str], "nn.Module"]


def check_cancel(cancel: CancelCheck | None) -> None:
    if cancel is not None and cancel():
        raise JobCancelledError("the job was cancelled")


def error_info(exc: ZoorankError) -> ErrorInfo:
    """The ranking's record of a typed error: its code and the first line of its message."""
    return ErrorInfo(exc.code, exc.message.splitlines()[0] if exc.message else type(exc).__name__)
