"""The ranking pipeline as stage functions, shared by the CLI (in-process) and the job workers (actors).

::

    plan ──> sample ──> extract_model (one model) ──> score_model (one model) ──> finalise
                         per model, any worker         per model, any worker       set scorers + assemble

* :func:`plan` validates everything that needs no image: scorer names and parameters, model ids (or
  patterns, or :class:`~zoo.ZooEntry` objects in-process), sampling caps against the limits.
* :func:`sample` resolves the dataset reference under the allowed roots, reads and fingerprints it, draws
  the stratified sample and checks the class limits. Its JSON-ready :class:`SampleSummary` is what a job
  stores; a worker rebuilds the identical sample from it (:func:`resample`), and refuses a dataset whose
  content changed since submission (the fingerprint is part of every key).
* :func:`extract_model` gets one model's features from the feature store or a forward pass and returns an
  :class:`Extraction`; only its JSON-ready :class:`ExtractionRecord` (the feature-store key, never the
  arrays) travels through Redis.
* :func:`score_model` runs the per-model scorers on one model's features: a :class:`~service.ranking.Cells`
  that :func:`cells_to_dict` / :func:`cells_from_dict` turn into JSON (the ``score`` actor stores them in
  Redis, and the per-(model, dataset, sampling, scorer) cell cache reuses them across requests).
* :func:`score_sets` runs the set-level scorers (``etran``, ``ncti``) over every model at once, and
  :func:`assemble` builds the :class:`~service.schema.Ranking`: the same function for the CLI and the HTTP
  API, so both emit one schema by construction.

:func:`run_in_process` chains the stages in one process; ``service.ranking.rank`` is that function with
the historical signature. The job engine (:mod:`service.jobs`, :mod:`service.actors`) runs the same stages
as Dramatiq actors.

Per-model scorers see that model's own rows. Set-level scorers and the dataset summary use the rows
every model has (the decode policy is the same for all models, so in practice these are the same rows).

Ensembles: when a request carries ``ensemble`` options and :mod:`service.ensembles` provides
``attach_section(ranking, inputs, labels, options) -> Ranking`` (``inputs``: model id ->
:class:`~service.ranking.ModelInputs` on the common rows, ``labels``: ``(N,)``), :func:`finalise` calls it
last; without that function the options are ignored.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import estimators
from estimators.errors import ZoorankError
from service.ranking import (
    Cells,
    ModelInputs,
    ProgressCallback,
    ProgressEvent,
    ScorerPlan,
    aggregate,
    load_source_stats,
    plan_scorers,
    resolve_models,
    sort_results,
    weights_digest,
)
from service.schema import (
    NOT_APPLICABLE,
    DatasetInfo,
    ErrorInfo,
    ModelResult,
    Provenance,
    Ranking,
    SamplingInfo,
    _jsonable,
)
from service.settings import LimitExceededError, Settings
from zoo.errors import DatasetError

if TYPE_CHECKING:
    from torch import nn

    from zoo._api import ZooEntry
    from zoo.datasets import Dataset, SamplingSpec
    from zoo.features import FeatureSet
    from zoo.store import FeatureKey, FeatureStore

__all__ = [
    "CancelCheck",
    "DatasetChangedError",
    "Extraction",
    "ExtractionRecord",
    "JobCancelledError",
    "ModelLoader",
    "RankPlan",
    "Sample",
    "SampleSummary",
    "TooFewClassesError",
    "aligned_rows",
    "common_inputs",
    "allowed_roots",
    "assemble",
    "cells_from_dict",
    "cells_to_dict",
    "extract_model",
    "extract_shared",
    "feature_key",
    "finalise",
    "load_extraction",
    "merge_cells",
    "open_target",
    "plan",
    "resample",
    "run_in_process",
    "sample",
    "score_model",
    "score_sets",
]

#: Returns True when the job was cancelled; checked between batches and between scorers.
CancelCheck = Callable[[], bool]
#: ``load(entry, device) -> feature model``: ``zoo.models.load_model``, or a worker's LRU of loaded models.
ModelLoader = Callable[["ZooEntry", str], "nn.Module"]


class JobCancelledError(ZoorankError):
    """The job was cancelled while this stage ran (cooperative: raised between batches or scorers)."""

    code = "cancelled"


class DatasetChangedError(DatasetError):
    """The dataset's content changed between a job's submission and a worker reading it."""

    code = "dataset-changed"


class TooFewClassesError(DatasetError):
    """The sampled dataset has fewer than two classes: no transferability score is defined."""

    code = "too-few-classes"


def _no_progress(event: ProgressEvent) -> None:  # noqa: ARG001 (the default callback ignores events)
    return None


def _check_cancel(cancel: CancelCheck | None) -> None:
    if cancel is not None and cancel():
        raise JobCancelledError("the job was cancelled")


# --- plan ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankPlan:
    """A validated ranking request: what to rank, how to sample, which scorers with which parameters.

    Attributes:
        dataset_ref: the reference as the caller gave it.
        entries: the zoo entries to rank, in request order, without duplicates.
        scorers: the scorers with their full parameter sets, in request order.
        spec: the requested sampling (before the per-job image cap, applied by :func:`sample`).
        base: directory bare relative references resolve against (CLI), None for the API.
        ensemble: the request's ensemble options (``service.ensembles.EnsembleOptions``), or None.
    """

    dataset_ref: str
    entries: tuple[ZooEntry, ...]
    scorers: tuple[ScorerPlan, ...]
    spec: SamplingSpec
    base: Path | None = None
    ensemble: Any = None

    @property
    def model_ids(self) -> list[str]:
        """The entries' ids, in order."""
        return [e.id for e in self.entries]

    def scorers_dict(self) -> list[dict[str, Any]]:
        """JSON-ready scorer list (name, version, kind, full params): part of the request fingerprint."""
        return [
            {
                "name": p.name,
                "version": p.spec.version,
                "kind": p.spec.kind,
                "params": _jsonable(dict(p.params)),
            }
            for p in self.scorers
        ]


def plan(
    dataset_ref: str,
    *,
    models: Sequence[str | ZooEntry] | None = None,
    scorers: Sequence[str] | None = None,
    max_per_class: int | None = None,
    max_samples: int | None = None,
    seed: int | None = None,
    settings: Settings,
    scorer_params: Mapping[str, Mapping[str, Any]] | None = None,
    base: Path | None = None,
    ensemble: Any = None,
) -> RankPlan:
    """Validate a request before any image is read (see ``service.ranking.rank`` for the arguments).

    Raises:
        UnknownScorerError, InvalidParameterError: bad scorer names or parameters.
        UnknownModelError, LimitExceededError: bad model ids, or too many models or images.
    """
    from zoo.datasets import SamplingSpec

    plans = plan_scorers(scorers if scorers is not None else settings.default_scorers, scorer_params)
    entries = resolve_models(models, settings)
    per_class = settings.default_max_per_class if max_per_class is None else (max_per_class or None)
    if max_samples is not None and max_samples > settings.max_images_per_job:
        raise LimitExceededError(
            f"max_samples={max_samples} exceeds the limit of {settings.max_images_per_job} images per job "
            "(ZOORANK_MAX_IMAGES)",
            param="max_samples",
        )
    chosen_seed = settings.seed if seed is None else seed
    if not 0 <= chosen_seed < 2**32:
        raise LimitExceededError(f"seed must be in [0, 2**32), got {chosen_seed}", param="seed")
    spec = SamplingSpec(max_per_class=per_class, max_samples=max_samples, seed=chosen_seed)
    return RankPlan(
        dataset_ref=dataset_ref,
        entries=tuple(entries),
        scorers=tuple(plans),
        spec=spec,
        base=base,
        ensemble=ensemble,
    )


# --- sample --------------------------------------------------------------------------------------


def allowed_roots(settings: Settings, base: Path | None) -> dict[str, Path] | list[Path]:
    """The roots a reference may resolve under: the named roots, plus ``base`` itself when given.

    The CLI passes its working directory as ``base``: its user may rank what is under it (they already
    have that access). The API passes None and is bounded by the configured roots alone.
    """
    if base is None:
        return dict(settings.named_roots)
    roots = dict(settings.named_roots)
    resolved = Path(base).absolute()
    if resolved not in roots.values():
        return [*roots.values(), resolved]
    return roots


@dataclass(frozen=True)
class SampleSummary:
    """What a job stores about its sample (JSON-ready); enough to rebuild it and to fill ``dataset``.

    Attributes:
        reference: the reference as given.
        fingerprint: content fingerprint of the whole dataset.
        reader: the reader that read it.
        classes: (K,) class names in label order.
        available: images in the dataset before sampling.
        sampling: the effective ``SamplingSpec.to_dict()`` (after the per-job image cap).
        num_sampled: images in the sample.
        class_counts: class name -> images in the sample.
    """

    reference: str
    fingerprint: str
    reader: str
    classes: tuple[str, ...]
    available: int
    sampling: Mapping[str, Any]
    num_sampled: int
    class_counts: Mapping[str, int]

    def spec(self) -> SamplingSpec:
        """The effective sampling spec."""
        from zoo.datasets import SamplingSpec

        return SamplingSpec(
            max_per_class=self.sampling["max_per_class"],
            max_samples=self.sampling["max_samples"],
            seed=int(self.sampling["seed"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "reference": self.reference,
            "fingerprint": self.fingerprint,
            "reader": self.reader,
            "classes": list(self.classes),
            "available": self.available,
            "sampling": dict(self.sampling),
            "num_sampled": self.num_sampled,
            "class_counts": dict(self.class_counts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SampleSummary:
        """Inverse of :meth:`to_dict`."""
        return cls(
            reference=str(data["reference"]),
            fingerprint=str(data["fingerprint"]),
            reader=str(data["reader"]),
            classes=tuple(str(c) for c in data["classes"]),
            available=int(data["available"]),
            sampling=dict(data["sampling"]),
            num_sampled=int(data["num_sampled"]),
            class_counts={str(k): int(v) for k, v in data["class_counts"].items()},
        )


@dataclass(frozen=True)
class Sample:
    """The dataset and its sample. ``data`` is what every model sees; ``digest`` the content fingerprint."""

    full: Dataset
    digest: str
    spec: SamplingSpec
    data: Dataset
    reference: str

    def summary(self) -> SampleSummary:
        """The JSON-ready record of this sample."""
        return SampleSummary(
            reference=self.reference,
            fingerprint=self.digest,
            reader=self.full.format,
            classes=tuple(self.full.classes),
            available=len(self.full),
            sampling=self.spec.to_dict(),
            num_sampled=len(self.data),
            class_counts=self.data.class_counts(),
        )


def open_target(dataset_ref: str, settings: Settings, *, base: Path | None) -> tuple[Dataset, str]:
    """Resolve ``dataset_ref`` under :func:`allowed_roots`, read it, and fingerprint its content.

    Raises:
        PathNotAllowedError, DatasetNotFoundError, DatasetFormatError.
    """
    from zoo.datasets import fingerprint, open_dataset
    from zoo.datasets.readers import DEFAULT_MAX_CLASSES

    ds = open_dataset(
        dataset_ref,
        allowed_roots(settings, base),
        base=base,
        max_image_pixels=settings.max_image_pixels,
        # the reader's own cap bounds the listing; ZOORANK_MAX_CLASSES is checked by :func:`sample`
        max_classes=max(settings.max_classes, DEFAULT_MAX_CLASSES),
    )
    return ds, fingerprint(ds, settings.home / "cache")


def sample(dataset_ref: str, spec: SamplingSpec, settings: Settings, *, base: Path | None) -> Sample:
    """Read, fingerprint and sample the dataset; apply the per-job image cap only when it bites.

    Raises:
        PathNotAllowedError, DatasetNotFoundError, DatasetFormatError: the dataset cannot be used.
        TooFewClassesError: the sample has fewer than two classes.
        LimitExceededError: more classes than ``settings.max_classes``.
    """
    from zoo.datasets import subsample

    full, digest = open_target(dataset_ref, settings, base=base)
    if full.num_classes > settings.max_classes:
        raise LimitExceededError(
            f"the dataset has {full.num_classes} classes; the limit is {settings.max_classes} "
            "(ZOORANK_MAX_CLASSES)",
            param="dataset",
        )
    data = subsample(full, spec)
    if len(data) > settings.max_images_per_job:
        # Cap only when needed, so that the limit's value is not part of every feature-store key.
        spec = replace(spec, max_samples=settings.max_images_per_job)
        data = subsample(full, spec)
    present = sum(1 for n in data.class_counts().values() if n > 0)
    if present < 2:
        raise TooFewClassesError(
            f"the sample of {dataset_ref!r} has {present} class(es) with images; ranking needs at least 2",
            param="dataset",
        )
    return Sample(full=full, digest=digest, spec=spec, data=data, reference=dataset_ref)


def resample(summary: SampleSummary, settings: Settings) -> Sample:
    """Rebuild a job's sample in a worker from its summary (API references: no ``base``).

    Raises:
        DatasetError: the dataset cannot be read any more, or its content changed since the job was
            submitted (code ``dataset-changed``).
    """
    from zoo.datasets import subsample

    full, digest = open_target(summary.reference, settings, base=None)
    if digest != summary.fingerprint:
        raise DatasetChangedError(
            f"the content of {summary.reference!r} changed since the job was submitted; submit it again",
            param="dataset",
        )
    spec = summary.spec()
    return Sample(
        full=full, digest=digest, spec=spec, data=subsample(full, spec), reference=summary.reference
    )


# --- extract -------------------------------------------------------------------------------------


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


def _error(exc: ZoorankError) -> ErrorInfo:
    return ErrorInfo(exc.code, exc.message.splitlines()[0] if exc.message else type(exc).__name__)


def feature_key(entry: ZooEntry, sample_: Sample, device: str) -> FeatureKey:
    """The feature-store key of ``entry`` on ``sample_`` extracted on ``device``."""
    from zoo.features import extractor_config
    from zoo.store import FeatureKey, entry_digest

    return FeatureKey(
        model=entry_digest(entry),
        preprocessing=entry.preprocessing.to_dict(),
        dataset=sample_.digest,
        sampling=sample_.spec.to_dict(),
        extractor=extractor_config(sample_.data, device),
    )


def extract_model(
    entry: ZooEntry,
    sample_: Sample,
    settings: Settings,
    *,
    device: str,
    store: FeatureStore,
    progress: ProgressCallback = _no_progress,
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
    from zoo.errors import TooManyCorruptImagesError
    from zoo.features import extract_features
    from zoo.models import load_model

    loader: ModelLoader = load if load is not None else load_model
    run = Extraction(entry)
    start = time.perf_counter()
    key = feature_key(entry, sample_, device)
    run.key = key.digest
    _check_cancel(cancel)

    def on_batch(done: int, total: int) -> None:
        _check_cancel(cancel)
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
        run.error = _error(exc)
    if run.cached and run.features is not None:
        progress(ProgressEvent("cached", entry.id, len(run.features), len(run.features), "from the store"))
    run.seconds = time.perf_counter() - start
    run.mean, run.std, note = load_source_stats(entry)
    if note:
        run.notes.append(note)
    return run


#: Most parameter bytes of the models one shared decode keeps loaded at once (larger groups are split).
SHARED_DECODE_BYTES = 1 << 30


def extract_shared(
    entries: Sequence[ZooEntry],
    sample_: Sample,
    settings: Settings,
    *,
    device: str,
    store: FeatureStore,
    progress: ProgressCallback = _no_progress,
    cancel: CancelCheck | None = None,
) -> dict[str, Extraction]:
    """Extract the uncached models that share a preprocessing config together, decoding each image once.

    Models whose features are already stored, and models alone in their preprocessing group, are left
    out (``extract_model`` handles them). A group is split so that its loaded models hold at most
    :data:`SHARED_DECODE_BYTES` of parameters. If a model of a group cannot be loaded or breaks the
    feature contract, the group's models are left out as well, so that ``extract_model`` records each
    model's own outcome. The features and the store entries are exactly those ``extract_model`` would
    produce (:func:`zoo.features.extract_features_many` runs the same batches).

    Returns:
        model id -> :class:`Extraction` (``cached`` False) for every model extracted here.

    Raises:
        TooManyCorruptImagesError: the sample has too many undecodable images (concerns every model).
        JobCancelledError: ``cancel()`` turned True between two batches.
    """
    from zoo.errors import ModelLoadError
    from zoo.models import load_model

    groups: dict[str, list[tuple[ZooEntry, FeatureKey]]] = {}
    for entry in entries:
        key = feature_key(entry, sample_, device)
        if key in store:
            continue
        groups.setdefault(repr(sorted(entry.preprocessing.to_dict().items())), []).append((entry, key))
    out: dict[str, Extraction] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        loaded: list[tuple[ZooEntry, FeatureKey, Any]] = []
        for entry, key in members:
            _check_cancel(cancel)
            progress(ProgressEvent("load", entry.id, 0, len(sample_.data), "loading weights"))
            try:
                loaded.append((entry, key, load_model(entry, device)))
            except ZoorankError:
                continue  # extract_model records this model's error
        chunks: list[list[tuple[ZooEntry, FeatureKey, Any]]] = [[]]
        size = 0
        for item in loaded:
            nbytes = sum(p.numel() * p.element_size() for p in item[2].parameters())
            if chunks[-1] and size + nbytes > SHARED_DECODE_BYTES:
                chunks.append([])
                size = 0
            chunks[-1].append(item)
            size += nbytes
        del loaded
        for chunk in chunks:
            if len(chunk) < 2:
                continue  # a lone model gains nothing here; extract_model handles it
            # on a broken model, each model is extracted on its own by extract_model (recording errors)
            with contextlib.suppress(ModelLoadError):
                out.update(_extract_chunk(chunk, sample_, settings, store, progress, cancel))
            chunk.clear()  # release the models before the next chunk
    return out


def _extract_chunk(
    chunk: Sequence[tuple[ZooEntry, FeatureKey, Any]],
    sample_: Sample,
    settings: Settings,
    store: FeatureStore,
    progress: ProgressCallback,
    cancel: CancelCheck | None,
) -> dict[str, Extraction]:
    from zoo.features import extract_features_many

    start = time.perf_counter()

    def on_batch(done: int, total: int) -> None:
        _check_cancel(cancel)
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
            run.error = _error(exc)
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
    from zoo.errors import FeatureStoreError

    run = Extraction(entry, key=record.feature_key, cached=record.cached, seconds=record.seconds)
    run.error, run.notes = record.error, list(record.notes)
    if record.feature_key is not None:
        run.features = store.get(record.feature_key)
        if run.features is None:
            raise FeatureStoreError(
                f"features of {entry.id} ({record.feature_key[:12]}) vanished from the store", param="key"
            )
        run.mean, run.std, _ = load_source_stats(entry)
    return run


# --- score ---------------------------------------------------------------------------------------


def _missing_inputs(spec: Any, inputs: ModelInputs) -> list[str]:
    return sorted(set(spec.needs) - inputs.available())


def _not_applicable(spec: Any, missing: list[str]) -> ErrorInfo:
    why = "the model has no source classifier head" if "source_probs" in missing else "inputs missing"
    return ErrorInfo(NOT_APPLICABLE, f"{spec.name} needs {', '.join(missing)}; {why}")


def score_model(
    model_id: str,
    inputs: ModelInputs,
    labels: np.ndarray,
    plans: Sequence[ScorerPlan],
    *,
    progress: ProgressCallback = _no_progress,
    cancel: CancelCheck | None = None,
    only: Sequence[str] | None = None,
) -> Cells:
    """Run the per-model scorers of ``plans`` on one model; typed errors become per-cell errors.

    Args:
        inputs: the model's arrays on its rows; ``labels`` (N,) are those rows' labels.
        only: run just these scorer names (the others are left out of the result; the cell cache
            supplies them).

    Raises:
        JobCancelledError: ``cancel()`` turned True between two scorers.
    """
    cells = Cells()
    model_plans = [p for p in plans if p.spec.kind == "model" and (only is None or p.name in only)]
    for i, p in enumerate(model_plans):
        _check_cancel(cancel)
        progress(ProgressEvent("score", model_id, i, len(model_plans), p.name))
        missing = _missing_inputs(p.spec, inputs)
        if missing:
            cells.errors[p.name] = _not_applicable(p.spec, missing)
            continue
        try:
            result = estimators.score_details(p.name, labels=labels, **inputs.arrays_for(p.spec), **p.params)
        except ZoorankError as exc:
            cells.errors[p.name] = _error(exc)
            continue
        cells.scores[p.name] = result.value
        if result.info:
            cells.info[p.name] = dict(result.info)
    return cells


def score_sets(
    inputs: Mapping[str, ModelInputs],
    labels: np.ndarray,
    plans: Sequence[ScorerPlan],
    *,
    progress: ProgressCallback = _no_progress,
    cancel: CancelCheck | None = None,
) -> dict[str, Cells]:
    """Run the set-level scorers of ``plans`` once over every model that can supply their inputs.

    Their values are relative to that candidate set; if the set call fails, each candidate records the
    error. ``inputs`` must be on common rows with labels ``labels`` (N,).

    Returns:
        model id -> :class:`Cells` with the set-level cells only, for every key of ``inputs``.
    """
    cells = {model_id: Cells() for model_id in inputs}
    for p in (p for p in plans if p.spec.kind == "set"):
        _check_cancel(cancel)
        progress(ProgressEvent("score", None, 0, 1, p.name))
        candidates: dict[str, dict[str, np.ndarray]] = {}
        for model_id, model_inputs in inputs.items():
            missing = _missing_inputs(p.spec, model_inputs)
            if missing:
                cells[model_id].errors[p.name] = _not_applicable(p.spec, missing)
            else:
                candidates[model_id] = model_inputs.arrays_for(p.spec)
        if not candidates:
            continue
        try:
            values = estimators.score_set(p.name, candidates=candidates, labels=labels, **p.params)
        except ZoorankError as exc:
            for model_id in candidates:
                cells[model_id].errors[p.name] = _error(exc)
            continue
        for model_id, value in values.items():
            cells[model_id].scores[p.name] = value
    return cells


def cells_to_dict(cells: Cells) -> dict[str, Any]:
    """JSON-ready form of a model's cells (diagnostics made plain: arrays -> lists, NaN -> null)."""
    return {
        "scores": {k: float(v) for k, v in cells.scores.items()},
        "errors": {k: v.to_dict() for k, v in cells.errors.items()},
        "info": {k: _jsonable(dict(v)) for k, v in cells.info.items()},
    }


def cells_from_dict(data: Mapping[str, Any]) -> Cells:
    """Inverse of :func:`cells_to_dict`."""
    return Cells(
        scores={str(k): float(v) for k, v in data["scores"].items()},
        errors={str(k): ErrorInfo.from_dict(v) for k, v in data["errors"].items()},
        info={str(k): dict(v) for k, v in data["info"].items()},
    )


def merge_cells(*parts: Cells) -> Cells:
    """One model's cells from several parts (per-model scorers, set scorers, the cell cache)."""
    out = Cells()
    for part in parts:
        out.scores.update(part.scores)
        out.errors.update(part.errors)
        out.info.update(part.info)
    return out


# --- assemble ------------------------------------------------------------------------------------


def aligned_rows(features: Mapping[str, FeatureSet]) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    """Sample keys every model has features for (in dataset order), and each model's row indices.

    Returns:
        ``(keys, rows)`` where ``rows[model_id]`` (len(keys),) indexes that model's feature rows.
    """
    sets = list(features.items())
    if not sets:
        return (), {}
    common = set(sets[0][1].keys)
    for _, fs in sets[1:]:
        common &= set(fs.keys)
    keys = tuple(k for k in sets[0][1].keys if k in common)
    rows: dict[str, np.ndarray] = {}
    for model_id, fs in sets:
        if fs.keys == keys:
            rows[model_id] = np.arange(len(keys))
        else:
            index = {k: i for i, k in enumerate(fs.keys)}
            rows[model_id] = np.array([index[k] for k in keys], dtype=np.int64)
    return keys, rows


def common_inputs(
    runs: Sequence[Extraction],
) -> tuple[tuple[str, ...], np.ndarray, dict[str, ModelInputs]]:
    """Every usable model's inputs on the common rows, with those rows' keys and labels ``(N,)``."""
    usable = {r.entry.id: r for r in runs if r.features is not None}
    keys, rows = aligned_rows({m: r.features for m, r in usable.items() if r.features is not None})
    labels = np.zeros(0, dtype=np.int64)
    inputs: dict[str, ModelInputs] = {}
    for model_id, r in usable.items():
        assert r.features is not None
        idx = rows[model_id]
        labels = np.asarray(r.features.labels)[idx]
        probs = r.features.probs
        inputs[model_id] = ModelInputs(
            features=np.asarray(r.features.features)[idx],
            source_probs=None if probs is None else np.asarray(probs)[idx],
            source_mean=r.mean,
            source_std=r.std,
        )
    return keys, labels, inputs


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("zoorank")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def assemble(
    summary: SampleSummary,
    plans: Sequence[ScorerPlan],
    records: Sequence[ExtractionRecord],
    cells: Mapping[str, Cells],
    *,
    keys: Sequence[str],
    labels: np.ndarray,
    corrupt: int,
    device: str,
) -> Ranking:
    """The ranking document: rows in request order are ranked, aggregated and sorted (best first).

    Args:
        summary: the sample.
        plans: the scorers, in request order.
        records: one per model, in request order.
        cells: model id -> all its cells (per-model and set-level).
        keys, labels: the common rows and their labels ``(N,)`` (empty when no model has features).
        corrupt: sampled images skipped because they failed to decode.
        device: where features were extracted (provenance).
    """
    import torch

    from zoo.features import EXTRACTOR_VERSION

    names = [p.name for p in plans]
    ranked = aggregate(cells, names)
    results = []
    for rec in records:
        c = cells.get(rec.model_id, Cells())
        model_ranks, agg = ranked.get(rec.model_id, ({}, None))
        results.append(
            ModelResult(
                id=rec.model_id,
                scores={n: c.scores[n] for n in names if n in c.scores},
                ranks=model_ranks,
                aggregate_rank=agg,
                errors={n: c.errors[n] for n in names if n in c.errors},
                error=rec.error,
                weights_sha256=rec.weights_sha256,
                feature_dim=rec.feature_dim,
                has_source_head=rec.has_source_head,
                source_profile=rec.source_profile,
                cached=rec.cached,
                extraction_seconds=rec.seconds,
                info={n: c.info[n] for n in names if n in c.info},
                notes=rec.notes,
            )
        )
    if len(keys):
        label_counts = np.bincount(labels, minlength=len(summary.classes))
        counts = {name: int(n) for name, n in zip(summary.classes, label_counts, strict=True)}
        num_samples = len(keys)
    else:
        counts, num_samples = dict(summary.class_counts), summary.num_sampled
    spec = summary.sampling
    dataset = DatasetInfo(
        reference=summary.reference,
        fingerprint=summary.fingerprint,
        reader=summary.reader,
        num_samples=num_samples,
        num_classes=sum(1 for n in counts.values() if n > 0),
        classes=summary.classes,
        class_counts=counts,
        corrupt=corrupt,
        sampling=SamplingInfo(
            strategy=str(spec["algorithm"]),
            max_per_class=spec["max_per_class"],
            max_samples=spec["max_samples"],
            seed=int(spec["seed"]),
            available=summary.available,
        ),
    )
    provenance = Provenance(
        zoorank_version=_version(),
        extractor_version=EXTRACTOR_VERSION,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        device=device,
        torch_version=str(torch.__version__),
    )
    return Ranking(
        dataset=dataset,
        models=sort_results(results),
        scorers=tuple(p.info() for p in plans),
        provenance=provenance,
    )


def finalise(
    summary: SampleSummary,
    plans: Sequence[ScorerPlan],
    runs: Sequence[Extraction],
    model_cells: Mapping[str, Cells],
    *,
    device: str,
    ensemble: Any = None,
    progress: ProgressCallback = _no_progress,
    cancel: CancelCheck | None = None,
) -> Ranking:
    """Set-level scorers over all models, then :func:`assemble` (and the ensemble section when asked).

    Args:
        runs: one :class:`Extraction` per model in request order (features in memory or memory-mapped
            from the store).
        model_cells: model id -> its per-model cells (from :func:`score_model` or the cell cache).
    """
    keys, labels, inputs = common_inputs(runs)
    set_cells = score_sets(inputs, labels, plans, progress=progress, cancel=cancel) if inputs else {}
    cells = {
        r.entry.id: merge_cells(model_cells.get(r.entry.id, Cells()), set_cells.get(r.entry.id, Cells()))
        for r in runs
        if r.features is not None
    }
    corrupt = max((len(r.features.corrupt) for r in runs if r.features is not None), default=0)
    ranking = assemble(
        summary,
        plans,
        [r.record() for r in runs],
        cells,
        keys=keys,
        labels=labels,
        corrupt=corrupt,
        device=device,
    )
    if ensemble is not None and inputs:
        from service import ensembles

        attach = getattr(ensembles, "attach_section", None)
        if callable(attach):
            entries = {r.entry.id: r.entry for r in runs}
            ranking = attach(
                ranking, inputs, labels, ensemble, entries=entries, progress=progress, cancel=cancel
            )
    return ranking


# --- in process ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _torch_threads(settings: Settings) -> Iterator[None]:
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    yield


def run_in_process(
    request: RankPlan,
    settings: Settings,
    *,
    progress: ProgressCallback = _no_progress,
    cancel: CancelCheck | None = None,
) -> Ranking:
    """Every stage in this process, in order: what ``zoorank rank`` runs (``service.ranking.rank``).

    Raises:
        DeviceUnavailableError: ``settings.device`` names a device this machine lacks.
    """
    from zoo.features import check_device
    from zoo.store import FeatureStore

    progress(ProgressEvent("dataset", None, 0, 0, "reading and fingerprinting"))
    smp = sample(request.dataset_ref, request.spec, settings, base=request.base)
    progress(
        ProgressEvent(
            "dataset", None, len(smp.data), len(smp.full), f"{len(smp.data)} of {len(smp.full)} images"
        )
    )
    with _torch_threads(settings):
        device = check_device(settings.resolve_device())  # a missing GPU: one typed error, not per model
        store = FeatureStore(settings.store_dir)
        runs: list[Extraction] = []
        n = len(request.entries)
        # uncached models that share a preprocessing config: each image decoded once for all of them
        shared = extract_shared(
            request.entries, smp, settings, device=device, store=store, progress=progress, cancel=cancel
        )
        for i, entry in enumerate(request.entries):
            progress(ProgressEvent("load", entry.id, i, n, "starting"))
            runs.append(
                shared.get(entry.id)
                or extract_model(
                    entry, smp, settings, device=device, store=store, progress=progress, cancel=cancel
                )
            )
            progress(ProgressEvent("model-done", entry.id, i + 1, n))
        model_cells: dict[str, Cells] = {}
        for run in runs:
            inputs = run.inputs()
            if inputs is not None and run.features is not None:
                labels = np.asarray(run.features.labels)
                model_cells[run.entry.id] = score_model(
                    run.entry.id, inputs, labels, request.scorers, progress=progress, cancel=cancel
                )
        ranking = finalise(
            smp.summary(),
            request.scorers,
            runs,
            model_cells,
            device=device,
            ensemble=request.ensemble,
            progress=progress,
            cancel=cancel,
        )
    progress(ProgressEvent("done", None, n, n))
    return ranking
