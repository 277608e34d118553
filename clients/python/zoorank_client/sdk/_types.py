"""Typed, forward-compatible views of the API's documents.

Every view keeps the whole document it was read from (:meth:`Record.to_dict`, ``record["field"]``), so
fields a newer server adds are never lost; the typed properties cover the fields this SDK knows. Enum-like
strings (job status, stage, model status) stay strings, so a new value on the server is not an error.
A ranking of any ``1.x`` schema version loads; another major version is refused
(:class:`~zoorank_client.sdk.UnsupportedSchemaError`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from ._exceptions import UnsupportedSchemaError

__all__ = [
    "SUPPORTED_SCHEMA_MAJOR",
    "TERMINAL_STATUSES",
    "DataRoot",
    "DatasetSummary",
    "Job",
    "JobEvent",
    "ModelInfo",
    "RankedModel",
    "Ranking",
    "Record",
    "ScorerInfo",
]

#: The ranking schema major version this SDK reads (every minor version of it: additions only).
SUPPORTED_SCHEMA_MAJOR = 1
#: Job statuses after which nothing changes.
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


class Record(Mapping[str, Any]):
    """A read-only view of one JSON object of the API, unknown members included."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data: dict[str, Any] = dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The view of ``data`` (a JSON object as the server sent it)."""
        return cls(data)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the document as received (unknown members included)."""
        return copy.deepcopy(self._data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        ident = self._data.get("id", self._data.get("name", ""))
        return f"{type(self).__name__}({ident!r})"

    def _str(self, key: str) -> str:
        return str(self._data[key])

    def _opt_str(self, key: str) -> str | None:
        value = self._data.get(key)
        return None if value is None else str(value)


class Job(Record):
    """A ranking job (``GET /v1/jobs/{id}``)."""

    @property
    def id(self) -> str:
        return self._str("id")

    @property
    def status(self) -> str:
        """``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``."""
        return self._str("status")

    @property
    def stage(self) -> str:
        """``queued``, ``extract``, ``score``, ``finalise`` or ``done``."""
        return self._str("stage")

    @property
    def done(self) -> bool:
        """Whether the job has ended (its status is final)."""
        return self.status in TERMINAL_STATUSES

    @property
    def ranking_id(self) -> str | None:
        return self._opt_str("ranking_id")

    @property
    def cache_hit(self) -> bool:
        return bool(self._data.get("cache_hit", False))

    @property
    def error(self) -> dict[str, Any] | None:
        """Why the job failed or was cancelled: ``{"code", "message", ...}``."""
        value = self._data.get("error")
        return dict(value) if isinstance(value, dict) else None

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Every error recorded: failed models, failed messages."""
        return [dict(e) for e in self._data.get("errors") or [] if isinstance(e, dict)]

    @property
    def progress(self) -> dict[str, Any]:
        """Per stage (``stages``) and per model (``models``)."""
        value = self._data.get("progress")
        return dict(value) if isinstance(value, dict) else {}


class RankedModel(Record):
    """One model of a ranking: its scores, ranks and aggregate rank (None when it failed)."""

    @property
    def id(self) -> str:
        return self._str("id")

    @property
    def aggregate_rank(self) -> float | None:
        value = self._data.get("aggregate_rank")
        return None if value is None else float(value)

    @property
    def scores(self) -> dict[str, float | None]:
        return dict(self._data.get("scores") or {})

    @property
    def ranks(self) -> dict[str, float | None]:
        return dict(self._data.get("ranks") or {})

    @property
    def error(self) -> Any:
        """Why the model could not be ranked, or None."""
        return self._data.get("error")


class Ranking(Record):
    """A ranking document (``GET /v1/rankings/{id}``; the same as ``zoorank rank --format json``).

    Raises:
        UnsupportedSchemaError: ``schema_version`` is not ``1.x``.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        version = str(data.get("schema_version", ""))
        major, _, minor = version.partition(".")
        if not (major.isdigit() and minor.isdigit() and int(major) == SUPPORTED_SCHEMA_MAJOR):
            raise UnsupportedSchemaError(
                f"ranking schema_version {version!r} is not {SUPPORTED_SCHEMA_MAJOR}.x: upgrade zoorank-client",
                param="/schema_version",
            )
        super().__init__(data)

    @property
    def schema_version(self) -> str:
        return self._str("schema_version")

    @property
    def models(self) -> list[RankedModel]:
        """Every model as the document lists it (best aggregate rank first)."""
        return [RankedModel(m) for m in self._data.get("models") or []]

    @property
    def ranked(self) -> list[RankedModel]:
        """The models that got an aggregate rank, best first."""
        ok = [m for m in self.models if m.aggregate_rank is not None]
        return sorted(ok, key=lambda m: (m.aggregate_rank, m.id))

    @property
    def best(self) -> RankedModel | None:
        """The model with the best aggregate rank (ties: by id), or None when none was ranked."""
        ranked = self.ranked
        return ranked[0] if ranked else None

    @property
    def recommendation(self) -> dict[str, Any] | None:
        """The server's recommendation, when the document carries one (schema versions that add it)."""
        value = self._data.get("recommendation")
        return dict(value) if isinstance(value, dict) else None

    @property
    def scorers(self) -> list[dict[str, Any]]:
        return [dict(s) for s in self._data.get("scorers") or []]

    @property
    def dataset(self) -> dict[str, Any]:
        return dict(self._data.get("dataset") or {})

    @property
    def provenance(self) -> dict[str, Any]:
        return dict(self._data.get("provenance") or {})


class ModelInfo(Record):
    """A zoo entry (``GET /v1/models/{id}``)."""

    @property
    def id(self) -> str:
        return self._str("id")


class ScorerInfo(Record):
    """A registered scorer (``GET /v1/scorers``)."""

    @property
    def name(self) -> str:
        return self._str("name")


class DatasetSummary(Record):
    """A dataset's classes, counts and fingerprint (``POST /v1/datasets/inspect``)."""

    @property
    def class_counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in (self._data.get("class_counts") or {}).items()}


class DataRoot(Record):
    """A named root dataset references may point into."""

    @property
    def name(self) -> str:
        return self._str("name")


EventType = Literal["status", "progress", "done"]


@dataclass(frozen=True)
class JobEvent:
    """One server-sent event of a job.

    Attributes:
        id: the stream id (resume after it with ``Last-Event-ID``).
        event: ``status``, ``progress`` or ``done`` (a newer server may send other names: kept as sent).
        data: the JSON payload.
    """

    id: str
    event: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str | None:
        value = self.data.get("status")
        return None if value is None else str(value)

    @property
    def stage(self) -> str | None:
        value = self.data.get("stage")
        return None if value is None else str(value)

    @property
    def ranking_id(self) -> str | None:
        value = self.data.get("ranking_id")
        return None if value is None else str(value)
