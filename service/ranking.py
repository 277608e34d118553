"""The ranking pipeline as a library function: dataset reference -> features per model -> scores -> ranking.

:func:`rank` is what ``zoorank rank`` runs and what the job engine of the HTTP service will run. Per model
it loads the zoo entry, takes the features from the feature store or extracts them, and runs every
requested per-model scorer with the inputs that model can supply; set-level scorers then run once over
all models. A scorer that fails with a typed error for one model costs that one cell (recorded with its
error code), never the ranking.

Aggregation (documented in the README as well):

* per-scorer rank: among the models the scorer scored, 1 = highest score; exactly equal scores share the
  mean of the positions they span (``1, 2.5, 2.5, 4``);
* aggregate rank: mean of a model's per-scorer ranks over the scorers that scored it (a headless model
  is not penalised for LEEP/NCE, which cannot score it); models that no scorer scored get ``None``;
* order: by aggregate rank, ``None`` last, ties by model id.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

import estimators
from estimators._params import check_params
from estimators._registry import ScorerSpec
from estimators.errors import InvalidParameterError, ZoorankError
from service.schema import (
    NOT_APPLICABLE,
    DatasetInfo,
    ErrorInfo,
    ModelResult,
    Provenance,
    Ranking,
    SamplingInfo,
    ScorerInfo,
)
from service.settings import LimitExceededError, Settings

if TYPE_CHECKING:
    from rich.table import Table

    from zoo._api import ZooEntry
    from zoo.datasets import Dataset, SamplingSpec
    from zoo.features import FeatureSet
    from zoo.store import FeatureStore

# --- progress ------------------------------------------------------------------------------------

Stage = Literal["dataset", "load", "extract", "cached", "score", "model-done", "done"]


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a ranking job, for progress bars (CLI) and job status (HTTP service).

    Attributes:
        stage: ``dataset`` (reading/sampling), ``load`` (model weights), ``extract`` (``done`` of
            ``total`` images through the model), ``cached`` (features reused), ``score`` (``done`` of
            ``total`` scorers), ``model-done``, ``done`` (whole ranking).
        model_id: the model concerned, or None for dataset-level stages.
        done, total: progress within the stage (``total`` 0 when unknown).
        message: a short human-readable note.
    """

    stage: Stage
    model_id: str | None = None
    done: int = 0
    total: int = 0
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


def _no_progress(event: ProgressEvent) -> None:  # noqa: ARG001 (the default callback ignores events)
    return None


# --- scorer plan ---------------------------------------------------------------------------------


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
        )


def plan_scorers(
    names: Sequence[str], params: Mapping[str, Mapping[str, Any]] | None = None
) -> list[ScorerPlan]:
    """Validate scorer names and parameters up front, before any image is read.

    Args:
        names: scorer names (``model`` or ``set`` kind), in the order the output should list them.
        params: scorer name -> parameter overrides.

    Raises:
        UnknownScorerError: a name is not registered (the message lists the valid names).
        InvalidParameterError: an ensemble scorer was named, a parameter is unknown or out of range, or
            parameters were given for a scorer that is not requested.
    """
    params = params or {}
    if not names:
        raise InvalidParameterError("at least one scorer is needed", param="scorers")
    stray = sorted(set(params) - set(names))
    if stray:
        raise InvalidParameterError(
            f"parameters given for scorer(s) {stray} that are not requested", param="scorer_params"
        )
    plans: list[ScorerPlan] = []
    for name in dict.fromkeys(names):
        spec = estimators.get_scorer(name)
        if spec.kind not in ("model", "set"):
            raise InvalidParameterError(
                f"{name!r} is an {spec.kind!r} scorer (it scores a team of models); a ranking uses "
                "'model' and 'set' scorers",
                param="scorers",
            )
        overrides = dict(params.get(name, {}))
        merged = check_params(spec.name, overrides, dict(spec.defaults), dict(spec.constraints))
        plans.append(ScorerPlan(spec=spec, params=merged))
    return plans


# --- scoring ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInputs:
    """What one model contributes to scoring.

    Attributes:
        features: ``(N, D)`` features of the sampled images, in label order of ``labels``.
        source_probs: ``(N, C_s)`` softmax of the source head, or None for headless models.
        source_mean, source_std: ``(D,)`` source-feature statistics from the model's profile, or None.
    """

    features: np.ndarray
    source_probs: np.ndarray | None = None
    source_mean: np.ndarray | None = None
    source_std: np.ndarray | None = None

    def available(self) -> set[str]:
        """Names of the scorer inputs this model can supply."""
        out = {"features", "labels"}
        if self.source_probs is not None:
            out.add("source_probs")
        if self.source_mean is not None and self.source_std is not None:
            out |= {"source_mean", "source_std"}
        return out

    def arrays_for(self, spec: ScorerSpec) -> dict[str, np.ndarray]:
        """The arrays ``spec`` needs or can use that this model has (labels excluded)."""
        wanted = (set(spec.needs) | set(spec.optional)) - {"labels"}
        given = {
            "features": self.features,
            "source_probs": self.source_probs,
            "source_mean": self.source_mean,
            "source_std": self.source_std,
        }
        if self.source_mean is None or self.source_std is None:
            given["source_mean"] = given["source_std"] = None
        return {k: v for k, v in given.items() if k in wanted and v is not None}


@dataclass
class Cells:
    """Per-model scoring outcome before ranking: scores, errors and diagnostics by scorer."""

    scores: dict[str, float] = field(default_factory=dict)
    errors: dict[str, ErrorInfo] = field(default_factory=dict)
    info: dict[str, dict[str, Any]] = field(default_factory=dict)


def _missing_inputs(spec: ScorerSpec, inputs: ModelInputs) -> list[str]:
    return sorted(set(spec.needs) - inputs.available())


def _not_applicable(spec: ScorerSpec, missing: list[str]) -> ErrorInfo:
    why = "the model has no source classifier head" if "source_probs" in missing else "inputs missing"
    return ErrorInfo(NOT_APPLICABLE, f"{spec.name} needs {', '.join(missing)}; {why}")


def _error(exc: ZoorankError) -> ErrorInfo:
    return ErrorInfo(exc.code, exc.message.splitlines()[0] if exc.message else type(exc).__name__)


def score_models(
    inputs: Mapping[str, ModelInputs],
    labels: np.ndarray,
    plans: Sequence[ScorerPlan],
    *,
    progress: ProgressCallback = _no_progress,
) -> dict[str, Cells]:
    """Run every planned scorer on every model's inputs; typed errors become per-cell errors.

    Per-model scorers run once per model that can supply their ``needs``; a model that cannot gets a
    ``not-applicable`` cell saying what is missing. Set-level scorers run once over every model that can
    supply their needs (their values are relative to that candidate set); if the set call fails, each
    candidate records the error.

    Returns:
        model id -> :class:`Cells`, for every key of ``inputs``.
    """
    cells = {model_id: Cells() for model_id in inputs}
    model_plans = [p for p in plans if p.spec.kind == "model"]
    for model_id, model_inputs in inputs.items():
        for i, plan in enumerate(model_plans):
            progress(ProgressEvent("score", model_id, i, len(model_plans), plan.name))
            missing = _missing_inputs(plan.spec, model_inputs)
            if missing:
                cells[model_id].errors[plan.name] = _not_applicable(plan.spec, missing)
                continue
            try:
                result = estimators.score_details(
                    plan.name, labels=labels, **model_inputs.arrays_for(plan.spec), **plan.params
                )
            except ZoorankError as exc:
                cells[model_id].errors[plan.name] = _error(exc)
                continue
            cells[model_id].scores[plan.name] = result.value
            if result.info:
                cells[model_id].info[plan.name] = dict(result.info)
    for plan in (p for p in plans if p.spec.kind == "set"):
        progress(ProgressEvent("score", None, 0, 1, plan.name))
        candidates: dict[str, dict[str, np.ndarray]] = {}
        for model_id, model_inputs in inputs.items():
            missing = _missing_inputs(plan.spec, model_inputs)
            if missing:
                cells[model_id].errors[plan.name] = _not_applicable(plan.spec, missing)
            else:
                candidates[model_id] = model_inputs.arrays_for(plan.spec)
        if not candidates:
            continue
        try:
            values = estimators.score_set(plan.name, candidates=candidates, labels=labels, **plan.params)
        except ZoorankError as exc:
            for model_id in candidates:
                cells[model_id].errors[plan.name] = _error(exc)
            continue
        for model_id, value in values.items():
            cells[model_id].scores[plan.name] = value
    return cells


# --- aggregation ---------------------------------------------------------------------------------


def rank_values(values: Mapping[str, float]) -> dict[str, float]:
    """Ranks of ``values`` (key -> score, higher is better): 1 = best, exact ties share their mean rank.

    >>> rank_values({"a": 0.9, "b": 0.5, "c": 0.5, "d": 0.1})
    {'a': 1.0, 'b': 2.5, 'c': 2.5, 'd': 4.0}
    """
    for key, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"score of {key!r} is not finite: {value}")
    order = sorted(values, key=lambda k: -values[k])
    ranks: dict[str, float] = {}
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        shared = (i + 1 + j + 1) / 2.0  # mean of positions i+1 .. j+1
        for k in order[i : j + 1]:
            ranks[k] = shared
        i = j + 1
    return ranks


def aggregate(
    cells: Mapping[str, Cells], scorer_names: Sequence[str]
) -> dict[str, tuple[dict[str, float], float | None]]:
    """Per-scorer ranks and the aggregate rank of every model.

    Returns:
        model id -> (scorer -> rank, aggregate rank or None when no scorer scored the model).
    """
    ranks: dict[str, dict[str, float]] = {m: {} for m in cells}
    for name in scorer_names:
        scored = {m: c.scores[name] for m, c in cells.items() if name in c.scores}
        for model_id, r in rank_values(scored).items():
            ranks[model_id][name] = r
    out: dict[str, tuple[dict[str, float], float | None]] = {}
    for model_id, model_ranks in ranks.items():
        agg = sum(model_ranks.values()) / len(model_ranks) if model_ranks else None
        out[model_id] = ({n: model_ranks[n] for n in scorer_names if n in model_ranks}, agg)
    return out


def sort_results(results: Sequence[ModelResult]) -> tuple[ModelResult, ...]:
    """Best first: by aggregate rank, models without one last, ties broken by id (deterministic)."""
    return tuple(
        sorted(
            results,
            key=lambda r: (r.aggregate_rank is None, r.aggregate_rank or 0.0, r.id),
        )
    )


# --- rendering -----------------------------------------------------------------------------------


def _fmt_score(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"


def _fmt_rank(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def render_table(ranking: Ranking) -> Table:
    """The ranking as a rich table: one row per model, best first, ``score (rank)`` per scorer.

    Cells without a score show the error code (``not-applicable``, ``degenerate-input``, ...); the
    caption carries the dataset fingerprint, sample size and how the aggregate rank is defined.
    """
    from rich.table import Table

    ds = ranking.dataset
    table = Table(
        title=f"zoorank: {ds.reference}",
        caption=(
            f"{ds.num_samples} images, {ds.num_classes} classes, fingerprint {ds.fingerprint[:12]}; "
            "cells: score (rank), rank 1 = best; agg = mean of per-scorer ranks"
        ),
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("#", justify="right")
    table.add_column("model", no_wrap=True)
    table.add_column("agg", justify="right")
    names = ranking.scorer_names()
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("D", justify="right")
    table.add_column("weights", no_wrap=True)
    for pos, m in enumerate(ranking.models, start=1):
        row = [str(pos), m.id, "-" if m.aggregate_rank is None else f"{m.aggregate_rank:.2f}"]
        for name in names:
            if name in m.scores:
                row.append(f"{_fmt_score(m.scores[name])} ({_fmt_rank(m.ranks[name])})")
            elif name in m.errors:
                row.append(f"[dim]{m.errors[name].code}[/dim]")
            elif m.error is not None:
                row.append(f"[red]{m.error.code}[/red]")
            else:
                row.append("-")
        row.append("-" if m.feature_dim is None else str(m.feature_dim))
        row.append("-" if m.weights_sha256 is None else m.weights_sha256[:12])
        table.add_row(*row)
    return table


# --- datasets ------------------------------------------------------------------------------------


def open_target(dataset_ref: str, settings: Settings, *, base: Path | None) -> tuple[Dataset, str]:
    """Resolve ``dataset_ref`` under the allowed roots, read it, and fingerprint its content.

    Args:
        dataset_ref: the reference as the user gave it.
        settings: data roots, pixel limit and cache location.
        base: directory bare relative references resolve against (the CLI's working directory; the
            HTTP service passes None so that only root-named or absolute references work).

    Returns:
        The full dataset and its content fingerprint (re-checks cost one ``stat`` per file).

    Raises:
        PathNotAllowedError, DatasetNotFoundError, DatasetFormatError.
    """
    from zoo.datasets import fingerprint, open_dataset

    ds = open_dataset(dataset_ref, settings.data_roots, base=base, max_image_pixels=settings.max_image_pixels)
    return ds, fingerprint(ds, settings.home / "cache")


@dataclass(frozen=True)
class DecodeFailure:
    """One image that failed to decode: its key in the dataset and why."""

    key: str
    code: str
    reason: str


def find_corrupt(ds: Dataset, *, examples: int = 10) -> tuple[int, list[DecodeFailure]]:
    """Decode every image of ``ds`` (under its pixel limit and format allow-list) and count failures.

    Returns:
        (number of images that failed to decode, the first ``examples`` of them).
    """
    from zoo.errors import UnreadableImageError

    count = 0
    listed: list[DecodeFailure] = []
    for i, key in enumerate(ds.keys):
        try:
            ds.load_image(i)
        except UnreadableImageError as exc:
            count += 1
            if len(listed) < examples:
                listed.append(DecodeFailure(key, exc.code, exc.message))
    return count, listed


def describe_dataset(
    dataset_ref: str,
    settings: Settings,
    *,
    base: Path | None,
    decode: bool = True,
    examples: int = 10,
) -> dict[str, Any]:
    """What ``zoorank inspect`` shows: reader, location, classes and counts, fingerprint, corrupt images.

    Args:
        decode: decode every image to count the corrupt ones (reads the whole dataset once).
        examples: how many corrupt images to list by key.

    Returns:
        A JSON-ready dict (``corrupt`` is None when ``decode`` is False).
    """
    ds, digest = open_target(dataset_ref, settings, base=base)
    corrupt: int | None = None
    listed: list[DecodeFailure] = []
    if decode:
        corrupt, listed = find_corrupt(ds, examples=examples)
    counts = ds.class_counts()
    return {
        "reference": dataset_ref,
        "location": str(ds.location),
        "reader": ds.format,
        "num_samples": len(ds),
        "num_classes": ds.num_classes,
        "classes": list(ds.classes),
        "class_counts": counts,
        "min_per_class": min(counts.values()) if counts else 0,
        "fingerprint": digest,
        "corrupt": corrupt,
        "corrupt_examples": [{"key": c.key, "code": c.code, "reason": c.reason} for c in listed],
        "corrupt_threshold": settings.corrupt_image_threshold,
        "over_threshold": None if corrupt is None else corrupt > settings.corrupt_image_threshold * len(ds),
    }


# --- the pipeline --------------------------------------------------------------------------------


def resolve_models(models: Sequence[str | ZooEntry] | None, settings: Settings) -> list[ZooEntry]:
    """Zoo entries for model ids, fnmatch patterns and entry objects, in order, without duplicates.

    ``None`` means the default zoo: every entry tagged ``builtin`` or ``trained`` (catalogue entries,
    whose weights are usually not on an offline machine, must be named). A :class:`~zoo.ZooEntry` object
    is used as it is, registered or not (rank a model of your own from Python without touching the zoo).

    Raises:
        UnknownModelError: an id is not registered, or a pattern matches nothing.
        LimitExceededError: more models than ``settings.max_models_per_job``.
    """
    import zoo
    from zoo.errors import UnknownModelError

    if models is None:
        chosen = [e for e in zoo.list_entries() if {"builtin", "trained"} & set(e.tags)]
    else:
        chosen = []
        for item in models:
            if not isinstance(item, str):
                chosen.append(item)
            elif any(ch in item for ch in "*?["):
                matched = zoo.list_entries(item)
                if not matched:
                    raise UnknownModelError(
                        f"no zoo entry matches {item!r}; see `zoorank models`", param="models"
                    )
                chosen.extend(matched)
            else:
                chosen.append(zoo.get_entry(item))
    unique = list({e.id: e for e in chosen}.values())
    if not unique:
        raise UnknownModelError("no models to rank", param="models")
    if len(unique) > settings.max_models_per_job:
        raise LimitExceededError(
            f"{len(unique)} models requested; the limit is {settings.max_models_per_job} per job "
            "(ZOORANK_MAX_MODELS)",
            param="models",
        )
    return unique


def weights_digest(entry: ZooEntry) -> str | None:
    """SHA-256 of the entry's weights file: the recorded digest, else the file's own (None: no file)."""
    if entry.weights.kind == "none":
        return None
    if entry.weights.sha256 is not None:
        return entry.weights.sha256
    from zoo.errors import ZooError
    from zoo.weights import file_sha256, resolve_path

    try:
        path = resolve_path(entry.weights)
    except ZooError:
        return None
    return file_sha256(path) if path.is_file() else None


def load_source_stats(entry: ZooEntry) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    """The entry's source-profile feature mean and std (for PED), or why they are unavailable.

    Returns:
        ``(mean, std, None)`` as float64 arrays, or ``(None, None, note)`` when the entry has a profile
        that cannot be used (an entry without a profile gives ``(None, None, None)``).
    """
    from zoo.errors import ZooError
    from zoo.models import load_source_profile

    try:
        profile = load_source_profile(entry)
    except ZooError as exc:
        return None, None, f"{exc.message}; PED ran without it"
    if profile is None:
        return None, None, None
    return profile.mean.double().numpy(), profile.std.double().numpy(), None


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("zoorank")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


@dataclass
class _ModelRun:
    """What the extraction stage produced for one model."""

    entry: ZooEntry
    features: FeatureSet | None = None
    cached: bool = False
    seconds: float = 0.0
    error: ErrorInfo | None = None
    notes: list[str] = field(default_factory=list)
    mean: np.ndarray | None = None
    std: np.ndarray | None = None


def _extract_one(
    entry: ZooEntry,
    sample: Dataset,
    fingerprint: str,
    spec: SamplingSpec,
    settings: Settings,
    device: str,
    store: FeatureStore,
    progress: ProgressCallback,
) -> _ModelRun:
    """Features of one model on the sample, from the store or a forward pass; model errors are recorded.

    Raises:
        TooManyCorruptImagesError: the sample has too many undecodable images (a dataset problem, the same
            for every model, so the ranking stops).
    """
    from zoo.errors import TooManyCorruptImagesError
    from zoo.features import extract_features, extractor_config
    from zoo.models import load_model
    from zoo.store import FeatureKey, entry_digest

    run = _ModelRun(entry)
    start = time.perf_counter()
    key = FeatureKey(
        model=entry_digest(entry),
        preprocessing=entry.preprocessing.to_dict(),
        dataset=fingerprint,
        sampling=spec.to_dict(),
        extractor=extractor_config(sample, device),
    )

    def compute() -> FeatureSet:
        progress(ProgressEvent("load", entry.id, 0, len(sample), "loading weights"))
        model = load_model(entry, device)
        return extract_features(
            model,
            sample,
            entry.preprocessing,
            batch_size=settings.batch_size,
            num_workers=settings.workers,
            corrupt_threshold=settings.corrupt_image_threshold,
            progress=lambda done, total: progress(ProgressEvent("extract", entry.id, done, total)),
        )

    try:
        run.features, run.cached = store.get_or_compute(key, compute)
        # the stored set may have been computed under another threshold
        run.features.check_corrupt(settings.corrupt_image_threshold)
    except TooManyCorruptImagesError:
        raise
    except ZoorankError as exc:
        run.error = _error(exc)
    if run.cached and run.features is not None:
        progress(ProgressEvent("cached", entry.id, len(run.features), len(run.features), "from the store"))
    run.seconds = time.perf_counter() - start
    run.mean, run.std, note = load_source_stats(entry)
    if note:
        run.notes.append(note)
    return run


def _common_rows(runs: Sequence[_ModelRun]) -> tuple[str, ...]:
    """Sample keys every successful model has features for (normally all of them, in dataset order)."""
    sets = [r.features for r in runs if r.features is not None]
    if not sets:
        return ()
    common = set(sets[0].keys)
    for fs in sets[1:]:
        common &= set(fs.keys)
    return tuple(k for k in sets[0].keys if k in common)


def _rows_of(fs: FeatureSet, keys: tuple[str, ...]) -> np.ndarray:
    if fs.keys == keys:
        return np.arange(len(keys))
    index = {k: i for i, k in enumerate(fs.keys)}
    return np.array([index[k] for k in keys], dtype=np.int64)


def rank(
    dataset_ref: str,
    *,
    models: Sequence[str | ZooEntry] | None = None,
    scorers: Sequence[str] | None = None,
    max_per_class: int | None = None,
    max_samples: int | None = None,
    seed: int | None = None,
    settings: Settings | None = None,
    progress: ProgressCallback | None = None,
    scorer_params: Mapping[str, Mapping[str, Any]] | None = None,
    base: Path | None = None,
) -> Ranking:
    """Rank zoo models for a labelled dataset.

    Args:
        dataset_ref: dataset reference (folder, ``.csv``/``.parquet`` manifest, ``.npz``) under an allowed
            root.
        models: zoo ids, fnmatch patterns or :class:`~zoo.ZooEntry` objects; None ranks the default zoo
            (``builtin`` + ``trained``).
        scorers: ``model``/``set`` scorer names; None uses ``settings.default_scorers``.
        max_per_class: per-class cap of the stratified sample; None uses
            ``settings.default_max_per_class``, 0 means no cap.
        max_samples: overall cap; a value above ``settings.max_images_per_job`` is refused, and None
            applies that limit only when the sample would exceed it.
        seed: sampling seed; None uses ``settings.seed``.
        settings: limits and locations; None reads ``ZOORANK_*`` from the environment.
        progress: receives :class:`ProgressEvent` objects (model loading, images extracted, scoring).
        scorer_params: scorer name -> parameter overrides.
        base: directory bare relative references resolve against (the CLI passes the working
            directory; None accepts only root-named and absolute references).

    Returns:
        The ranking, models sorted by aggregate rank (see the module docstring).

    Raises:
        UnknownScorerError, InvalidParameterError: bad scorer names or parameters (checked first).
        UnknownModelError, LimitExceededError: bad model ids, or too many models or images.
        PathNotAllowedError, DatasetNotFoundError, DatasetFormatError: the dataset cannot be used.
        TooManyCorruptImagesError: too many sampled images cannot be decoded.
        FeatureStoreError: the feature store is not writable.
    """
    import torch

    from zoo.datasets import SamplingSpec, subsample
    from zoo.features import EXTRACTOR_VERSION
    from zoo.store import FeatureStore

    settings = settings if settings is not None else Settings.from_env()
    emit = progress if progress is not None else _no_progress
    plans = plan_scorers(scorers if scorers is not None else settings.default_scorers, scorer_params)
    entries = resolve_models(models, settings)
    per_class = settings.default_max_per_class if max_per_class is None else (max_per_class or None)
    if max_samples is not None and max_samples > settings.max_images_per_job:
        raise LimitExceededError(
            f"max_samples={max_samples} exceeds the limit of {settings.max_images_per_job} images per job "
            "(ZOORANK_MAX_IMAGES)",
            param="max_samples",
        )
    spec = SamplingSpec(
        max_per_class=per_class, max_samples=max_samples, seed=settings.seed if seed is None else seed
    )

    emit(ProgressEvent("dataset", None, 0, 0, "reading and fingerprinting"))
    full, digest = open_target(dataset_ref, settings, base=base)
    sample = subsample(full, spec)
    if len(sample) > settings.max_images_per_job:
        # Cap only when needed, so that the limit's value is not part of every feature-store key.
        spec = replace(spec, max_samples=settings.max_images_per_job)
        sample = subsample(full, spec)
    emit(ProgressEvent("dataset", None, len(sample), len(full), f"{len(sample)} of {len(full)} images"))

    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    device = settings.resolve_device()
    store = FeatureStore(settings.store_dir)
    runs: list[_ModelRun] = []
    for i, entry in enumerate(entries):
        emit(ProgressEvent("load", entry.id, i, len(entries), "starting"))
        runs.append(_extract_one(entry, sample, digest, spec, settings, device, store, emit))
        emit(ProgressEvent("model-done", entry.id, i + 1, len(entries)))

    keys = _common_rows(runs)
    labels = np.zeros(0, dtype=np.int64)
    inputs: dict[str, ModelInputs] = {}
    for run in runs:
        if run.features is None:
            continue
        rows = _rows_of(run.features, keys)
        labels = np.asarray(run.features.labels)[rows]
        probs = run.features.probs
        inputs[run.entry.id] = ModelInputs(
            features=np.asarray(run.features.features)[rows],
            source_probs=None if probs is None else np.asarray(probs)[rows],
            source_mean=run.mean,
            source_std=run.std,
        )
    cells = score_models(inputs, labels, plans, progress=emit) if inputs else {}
    ranked = aggregate(cells, [p.name for p in plans])

    results = []
    for run in runs:
        c = cells.get(run.entry.id, Cells())
        model_ranks, agg = ranked.get(run.entry.id, ({}, None))
        results.append(
            ModelResult(
                id=run.entry.id,
                scores={p.name: c.scores[p.name] for p in plans if p.name in c.scores},
                ranks=model_ranks,
                aggregate_rank=agg,
                errors={p.name: c.errors[p.name] for p in plans if p.name in c.errors},
                error=run.error,
                weights_sha256=weights_digest(run.entry),
                feature_dim=None if run.features is None else int(run.features.features.shape[1]),
                has_source_head=run.features is not None and run.features.probs is not None,
                source_profile=run.mean is not None,
                cached=run.cached,
                extraction_seconds=run.seconds,
                info=c.info,
                notes=tuple(run.notes),
            )
        )

    if keys:
        label_counts = np.bincount(labels, minlength=len(full.classes))
        counts = {name: int(n) for name, n in zip(full.classes, label_counts, strict=True)}
    else:
        counts = sample.class_counts()
    corrupt = max((len(r.features.corrupt) for r in runs if r.features is not None), default=0)
    dataset = DatasetInfo(
        reference=dataset_ref,
        fingerprint=digest,
        reader=full.format,
        num_samples=len(keys) if keys else len(sample),
        num_classes=sum(1 for n in counts.values() if n > 0),
        classes=tuple(full.classes),
        class_counts=counts,
        corrupt=corrupt,
        sampling=SamplingInfo(
            strategy=str(spec.to_dict()["algorithm"]),
            max_per_class=spec.max_per_class,
            max_samples=spec.max_samples,
            seed=spec.seed,
            available=len(full),
        ),
    )
    provenance = Provenance(
        zoorank_version=_version(),
        extractor_version=EXTRACTOR_VERSION,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        device=device,
        torch_version=str(torch.__version__),
    )
    emit(ProgressEvent("done", None, len(entries), len(entries)))
    return Ranking(
        dataset=dataset,
        models=sort_results(results),
        scorers=tuple(p.info() for p in plans),
        provenance=provenance,
    )
