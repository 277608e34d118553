"""Request and response bodies of the catalogue, dataset and health routes (pydantic v2).

Job and ranking-request models come from the engine (:mod:`service.jobs.models`,
:mod:`service.jobs.request`); the ranking document itself is
:data:`service.pipeline.schema.RANKING_JSON_SCHEMA`. Everything here forbids unknown fields and bounds
every string and list it accepts.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from zoo.datasets.refs import DEFAULT_MAX_REF_LENGTH as MAX_REFERENCE_CHARS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WeightsKind(StrEnum):
    """Where a model's weights come from."""

    hub = "hub"
    package = "package"
    file = "file"
    none = "none"


class ScorerKind(StrEnum):
    """What a scorer scores: one model, a candidate set, a team of models, or a model's metadata alone."""

    model = "model"
    set = "set"
    ensemble = "ensemble"
    baseline = "baseline"


class WeightsInfo(_Strict):
    """Where an entry's weights come from and the digest they must have."""

    kind: WeightsKind
    filename: str
    sha256: str | None
    package: str | None
    url: str | None
    key_map: str
    origin: str = Field(description="one phrase saying where the file comes from")
    present: bool | None = Field(description="whether the file exists locally (None: random init)")
    available: bool | None = Field(
        default=None,
        description="whether a ranking can use the model: the file is here or can be downloaded here (a "
        "request naming a model with false is refused with 422 weights-missing; None: random init)",
    )


class PreprocessingInfo(_Strict):
    """How raw images become the network's input."""

    input_size: int
    mean: list[float]
    std: list[float]
    channels: int
    resize: int | None
    crop: str
    interpolation: str


class ModelInfo(_Strict):
    """One zoo entry and its metadata."""

    id: str
    arch: str
    weights: WeightsInfo
    preprocessing: PreprocessingInfo
    feature_layer: str
    head: str | None
    feature_dim: int
    num_source_classes: int | None
    source: str
    license: str
    citation: str
    profile: str | None
    tags: list[str]
    meta: dict[str, Any]


class ModelList(_Strict):
    """The zoo, by id."""

    items: list[ModelInfo]


class ScorerInfo(_Strict):
    """One registered scorer: inputs, default parameters and their rules, version, paper."""

    name: str
    kind: ScorerKind
    needs: list[str]
    optional: list[str]
    params: dict[str, Any] = Field(description="default parameters")
    constraints: dict[str, str] = Field(description="parameter -> the rule it must satisfy")
    min_classes: int
    min_per_class: int
    min_samples: int
    accepts_targets: bool
    version: str
    citation: str
    summary: str
    higher_is_better: bool
    default: bool = Field(description="run when a request names no scorers")


class ScorerList(_Strict):
    """Every registered scorer, by name."""

    items: list[ScorerInfo]


class InspectRequest(_Strict):
    """A dataset to summarise (no job is created)."""

    dataset: str = Field(
        min_length=1,
        max_length=MAX_REFERENCE_CHARS,
        description="root:relative/path, or an absolute path or file:// URL inside a root",
    )
    decode: bool = Field(
        default=True,
        description="decode every image to count the corrupt ones (refused above ZOORANK_MAX_IMAGES)",
    )


class CorruptImage(_Strict):
    """One image that failed to decode."""

    key: str
    code: str
    reason: str


class DatasetSummary(_Strict):
    """What ``zoorank inspect`` shows: reader, classes and counts, fingerprint, corrupt images."""

    reference: str
    reader: str
    num_samples: int
    num_classes: int
    classes: list[str]
    class_counts: dict[str, int]
    min_per_class: int
    fingerprint: str
    corrupt: int | None = Field(description="undecodable images (None when decode was false)")
    corrupt_examples: list[CorruptImage]
    corrupt_threshold: float
    over_threshold: bool | None


class UploadedDataset(_Strict):
    """An uploaded archive, extracted and opened as a dataset."""

    reference: str = Field(description="the dataset reference to rank, e.g. uploads:3f2a9c0b1d4e5f60/birds")
    upload_id: str
    expires_at: int = Field(description="Unix time after which the upload is deleted (ZOORANK_UPLOAD_TTL_S)")
    files: int = Field(description="images and manifests extracted (other members are skipped)")
    summary: DatasetSummary


class DataRoot(_Strict):
    """A named dataset root (the server-side path is not disclosed)."""

    name: str
    example: str = Field(description="how a reference under this root looks")


class DataRootList(_Strict):
    """The roots the API may read datasets from."""

    items: list[DataRoot]


class Liveness(_Strict):
    """The process answers."""

    status: str = "ok"


class Readiness(_Strict):
    """Whether the service can take work: Redis reachable and at least one worker heartbeat."""

    status: str = Field(description="ready or not-ready")
    redis: bool
    workers: int
    queues: dict[str, int] = Field(default_factory=dict, description="messages waiting per queue")
