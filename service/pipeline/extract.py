"""The extract stage: one model's features from the feature store or a forward pass."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from estimators.errors import ZoorankError
from service.errors import JobCancelledError
from service.pipeline.plan import load_source_stats, weights_digest
from service.pipeline.sample import Sample
from service.pipeline.schema import (
    ErrorInfo,
)
from service.pipeline.types import (
    CancelCheck,
    ModelInputs,
    ModelLoader,
    ProgressCallback,
    ProgressEvent,
    check_cancel,
    error_info,
    no_progress,
)
from service.settings import Settings
from zoo.errors import FeatureStoreError, ModelLoadError, TooManyCorruptImagesError
from zoo.features import extract_features, extract_features_many, extractor_config
from zoo.models import load_model
from zoo.store import FeatureKey, entry_digest

if TYPE_CHECKING:
    from zoo._api import ZooEntry
    from zoo.features import FeatureSet
    from zoo.store import FeatureKey, FeatureStore


@dataclass(frozen=True)
class ExtractionRecord:
    """What :func:`extract_model` produced for one model, without the arrays (JSON-ready).

    Attributes:
        model_id: the zoo entry id.
        feature_key: the feature-store key of its features, or None when extraction failed.
        cached: the features came from the store (no forward pass).
        seconds: wall time of the stage.
        error: why the model could not be used (weights missing, load failure), else None.
        notes: anything else worth knowing (e.g. an unusable source profile).
        weights_sha256, feature_dim, has_source_head, source_profile: for the ranking row.
    """

    model_id: str
    feature_key: str | None
    cached: bool
    seconds: float
    error: ErrorInfo | None
    notes: tuple[str, ...]
    weights_sha256: str | None
    feature_dim: int | None
    has_source_head: bool
    source_profile: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "model_id": self.model_id,
            "feature_key": self.feature_key,
            "cached": self.cached,
            "seconds": self.seconds,
            "error": None if self.error is None else self.error.to_dict(),
            "notes": list(self.notes),
            "weights_sha256": self.weights_sha256,
            "feature_dim": self.feature_dim,
            "has_source_head": self.has_source_head,
            "source_profile": self.source_profile,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExtractionRecord:
        """Inverse of :meth:`to_dict`."""
        err = data["error"]
        return cls(
            model_id=str(data["model_id"]),
            feature_key=None if data["feature_key"] is None else str(data["feature_key"]),
            cached=bool(data["cached"]),
            seconds=float(data["seconds"]),
            error=None if err is None else ErrorInfo.from_dict(err),
            notes=tuple(str(n) for n in data["notes"]),
            weights_sha256=None if data["weights_sha256"] is None else str(data["weights_sha256"]),
            feature_dim=None if data["feature_dim"] is None else int(data["feature_dim"]),
            has_source_head=bool(data["has_source_head"]),
            source_profile=bool(data["source_profile"]),
        )


@dataclass
class Extraction:
    """One model's features on the sample (or why there are none) and its source statistics."""

    entry: ZooEntry
    features: FeatureSet | None = None
    key: str | None = None
    cached: bool = False
    seconds: float = 0.0
    error: ErrorInfo | None = None
    notes: list[str] = field(default_factory=list)
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def record(self) -> ExtractionRecord:
        """The JSON-ready record (what a job stores in Redis)."""
        return ExtractionRecord(
            model_id=self.entry.id,
            feature_key=self.key if self.features is not None else None,
            cached=self.cached,
            seconds=self.seconds,
            error=self.error,
            notes=tuple(self.notes),
            weights_sha256=weights_digest(self.entry),
            feature_dim=None if self.features is None else int(self.features.features.shape[1]),
            has_source_head=self.features is not None and self.features.probs is not None,
            source_profile=self.mean is not None,
        )

    def inputs(self) -> ModelInputs | None:
        """Scorer inputs on this model's own rows, or None without features."""
        if self.features is None:
            return None
        return ModelInputs(
            features=np.asarray(self.features.features),
            source_probs=None if self.features.probs is None else np.asarray(self.features.probs),
            source_mean=self.mean,
            source_std=self.std,
        )


def feature_key(entry: ZooEntry, sample_: Sample, device: str) -> FeatureKey:
    """The feature-store key of ``entry`` on ``sample_`` extracted on ``device``."""

    return FeatureKey(
        model=entry_digest(entry),
        preprocessing=entry.preprocessing.to_dict(),
        dataset=sample_.digest,
        sampling=(
            sample_.spec.to_dict()
            if sample_.part is None
            else {**sample_.spec.to_dict(), "part": dict(sample_.part)}
        ),
        extractor=extractor_config(sample_.data, device),
    )


def extract_model(
    entry: ZooEntry,
    sample_: Sample,
    settings: Settings,
    *,
    device: str,
    store: FeatureStore,
    progress: ProgressCallback = no_progress,
    cancel: CancelCheck | None = None,
    load: ModelLoader | None = None,
    on_compute: Callable[[], None] | None = None,
) -> Extraction:
    """Features of one model on the sample, from the store or a forward pass; model errors are recorded.

    Args:
        load: builds the feature model (default ``zoo.models.load_model``; a worker passes its LRU).
        on_compute: called when a forward pass really runs (not for store hits), e.g. to count them.

    Raises:
        TooManyCorruptImagesError: the sample has too many undecodable images (a dataset problem, the same
            for every model, so the ranking stops).
        JobCancelledError: ``cancel()`` turned True between two batches.
    """

    loader: ModelLoader = load if load is not None else load_model
    run = Extraction(entry)
    start = time.perf_counter()
    key = feature_key(entry, sample_, device)
    run.key = key.digest
    check_cancel(cancel)

    def on_batch(done: int, total: int) -> None:
        check_cancel(cancel)
        progress(ProgressEvent("extract", entry.id, done, total))

    def compute() -> FeatureSet:
        if on_compute is not None:
            on_compute()
        progress(ProgressEvent("load", entry.id, 0, len(sample_.data), "loading weights"))
        model = loader(entry, device)
        return extract_features(
            model,
            sample_.data,
            entry.preprocessing,
            batch_size=settings.batch_size,
            num_workers=settings.workers,
            corrupt_threshold=settings.corrupt_image_threshold,
            progress=on_batch,
        )

    try:
        run.features, run.cached = store.get_or_compute(key, compute)
        # the stored set may have been computed under another threshold
        run.features.check_corrupt(settings.corrupt_image_threshold)
    except (TooManyCorruptImagesError, JobCancelledError):
        raise
    except ZoorankError as exc:
        run.features = None
        run.error = error_info(exc)
    if run.cached and run.features is not None:
        progress(ProgressEvent("cached", entry.id, len(run.features), len(run.features), "from the store"))
    run.seconds = time.perf_counter() - start
    run.mean, run.std, note = load_source_stats(entry)
    if note:
        run.notes.append(note)
    return run


def preprocessing_group(entry: ZooEntry) -> str:
    """The key of ``entry``'s preprocessing config: models with equal keys can share one decode."""
    return repr(sorted(entry.preprocessing.to_dict().items()))


def group_by_preprocessing(entries: Sequence[ZooEntry], max_size: int) -> list[list[ZooEntry]]:
    """``entries`` in groups that share a preprocessing config, at most ``max_size`` models each.

    Groups come in the order of their first model, and models keep their order within a group, so the
    grouping of a given list is always the same. A model alone in its config is a group of one.

    Raises:
        ValueError: ``max_size`` < 1.
    """
    if max_size < 1:
        raise ValueError(f"The 'max_size' parameter must be >= 1. Got {max_size!r} instead.")
    groups: dict[str, list[list[ZooEntry]]] = {}
    for entry in entries:
        chunks = groups.setdefault(preprocessing_group(entry), [[]])
        if len(chunks[-1]) == max_size:
            chunks.append([])
        chunks[-1].append(entry)
    return [chunk for chunks in groups.values() for chunk in chunks]


def extract_shared(
    entries: Sequence[ZooEntry],
    sample_: Sample,
    settings: Settings,
    *,
    device: str,
    store: FeatureStore,
    progress: ProgressCallback = no_progress,
    cancel: CancelCheck | None = None,
    load: ModelLoader | None = None,
    on_compute: Callable[[], None] | None = None,
) -> dict[str, Extraction]:
    """Extract the uncached models that share a preprocessing config together, decoding each image once.

    Models whose features are already stored, and models alone in their preprocessing group, are left
    out (``extract_model`` handles them). A group is split so that the models one decode holds loaded
    have at most ``settings.shared_decode_mib`` MiB of parameters: a chunk is extracted (and let go)
    before the model that would overflow it is added. If a model of a group cannot be loaded or breaks the
    feature contract, the group's models are left out as well, so that ``extract_model`` records each
    model's own outcome. The features and the store entries are exactly those ``extract_model`` would
    produce (:func:`zoo.features.extract_features_many` runs the same batches).

    Args:
        load: builds a feature model (default ``zoo.models.load_model``; a worker passes its LRU).
        on_compute: called once per model whose forward pass really runs here (e.g. to count them).

    Returns:
        model id -> :class:`Extraction` (``cached`` False) for every model extracted here.

    Raises:
        TooManyCorruptImagesError: the sample has too many undecodable images (concerns every model).
        JobCancelledError: ``cancel()`` turned True between two batches.
    """

    loader: ModelLoader = load if load is not None else load_model
    groups: dict[str, list[tuple[ZooEntry, FeatureKey]]] = {}
    for entry in entries:
        key = feature_key(entry, sample_, device)
        if key in store:
            continue
        groups.setdefault(preprocessing_group(entry), []).append((entry, key))
    out: dict[str, Extraction] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        cap = settings.shared_decode_mib << 20
        chunk: list[tuple[ZooEntry, FeatureKey, Any]] = []
        size = 0
        for entry, key in members:
            check_cancel(cancel)
            progress(ProgressEvent("load", entry.id, 0, len(sample_.data), "loading weights"))
            try:
                model = loader(entry, device)
            except ZoorankError:
                continue  # extract_model records this model's error
            nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
            if chunk and size + nbytes > cap:
                out.update(_extract_loaded(chunk, sample_, settings, store, progress, cancel, on_compute))
                chunk, size = [], 0
            chunk.append((entry, key, model))
            size += nbytes
        out.update(_extract_loaded(chunk, sample_, settings, store, progress, cancel, on_compute))
    return out


def _extract_loaded(
    chunk: list[tuple[ZooEntry, FeatureKey, Any]],
    sample_: Sample,
    settings: Settings,
    store: FeatureStore,
    progress: ProgressCallback,
    cancel: CancelCheck | None,
    on_compute: Callable[[], None] | None,
) -> dict[str, Extraction]:
    """Extract a chunk of loaded models of one group together, then let the models go (clears ``chunk``).

    A lone model gains nothing from a shared decode and is left to ``extract_model``, as is every model
    of a chunk in which one model breaks the feature contract (each then records its own outcome).
    """
    out: dict[str, Extraction] = {}
    if len(chunk) >= 2:
        with contextlib.suppress(ModelLoadError):
            out = _extract_chunk(chunk, sample_, settings, store, progress, cancel)
            if on_compute is not None:
                for _ in chunk:
                    on_compute()
    chunk.clear()
    return out


def _extract_chunk(
    chunk: Sequence[tuple[ZooEntry, FeatureKey, Any]],
    sample_: Sample,
    settings: Settings,
    store: FeatureStore,
    progress: ProgressCallback,
    cancel: CancelCheck | None,
) -> dict[str, Extraction]:

    start = time.perf_counter()

    def on_batch(done: int, total: int) -> None:
        check_cancel(cancel)
        for entry, _, _ in chunk:
            progress(ProgressEvent("extract", entry.id, done, total))

    sets = extract_features_many(
        [model for _, _, model in chunk],
        sample_.data,
        chunk[0][0].preprocessing,
        batch_size=settings.batch_size,
        num_workers=settings.workers,
        corrupt_threshold=settings.corrupt_image_threshold,
        progress=on_batch,
    )
    seconds = (time.perf_counter() - start) / len(chunk)
    out: dict[str, Extraction] = {}
    for (entry, key, _), fs in zip(chunk, sets, strict=True):
        run = Extraction(entry, key=key.digest, seconds=seconds)
        try:
            store.put(key, fs)
            run.features = store.get(key)  # the read-only stored copy, as extract_model returns it
        except ZoorankError as exc:
            run.error = error_info(exc)
        if run.features is None and run.error is None:
            run.features = fs
        run.mean, run.std, note = load_source_stats(entry)
        if note:
            run.notes.append(note)
        out[entry.id] = run
    return out


def load_extraction(entry: ZooEntry, record: ExtractionRecord, store: FeatureStore) -> Extraction:
    """Rebuild an :class:`Extraction` from its record: features from the store, statistics from the entry.

    Raises:
        FeatureStoreError: the record names features that are no longer in the store.
    """

    run = Extraction(entry, key=record.feature_key, cached=record.cached, seconds=record.seconds)
    run.error, run.notes = record.error, list(record.notes)
    if record.feature_key is not None:
        run.features = store.get(record.feature_key)
        if run.features is None:
            raise FeatureStoreError(
                f"features of {entry.id} ({record.feature_key[:12]}) vanished from the store", param="key"
            )
    # as extract_model does, with or without features: a failed model's row says whether it has a profile
    run.mean, run.std, _ = load_source_stats(entry)
    return run
