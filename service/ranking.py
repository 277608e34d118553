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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

import estimators
from estimators._params import check_params
from estimators._registry import ScorerSpec
from estimators.errors import InvalidParameterError, ZoorankError
from service.schema import (
    ErrorInfo,
    ModelResult,
    Ranking,
    ScorerInfo,
)
from service.settings import LimitExceededError, Settings

if TYPE_CHECKING:
    from rich.table import Table

    from zoo._api import ZooEntry
    from zoo.datasets import Dataset

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
            higher_is_better=self.spec.higher_is_better,
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
        source_features, source_predictions, source_labels: the profile's ``(n, D)`` feature sample and
            its ``(n,)`` predicted / true source classes (OSBORN), or None (``service.ensembles`` loads
            them from the entry when an ensemble section asks for them).
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
    """Per-model scoring outcome before ranking: scores, errors and diagnostics by scorer."""

    scores: dict[str, float] = field(default_factory=dict)
    errors: dict[str, ErrorInfo] = field(default_factory=dict)
    info: dict[str, dict[str, Any]] = field(default_factory=dict)


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
    from service.pipeline import merge_cells, score_model, score_sets

    per_model = {m: score_model(m, x, labels, plans, progress=progress) for m, x in inputs.items()}
    per_set = score_sets(inputs, labels, plans, progress=progress)
    return {m: merge_cells(per_model[m], per_set[m]) for m in inputs}


# --- aggregation ---------------------------------------------------------------------------------

#: Relative tolerance of a saturated tie: scores within ``SATURATION_RTOL * |best|`` of a scorer's best
#: score count as equal to it. Saturating scorers reach their bound up to floating-point rounding
#: (~1e-12 relative for H-score at C-1 and SFDA at 1.0), while genuine differences between models are
#: orders of magnitude above 1e-6, so the tolerance separates the two with room on both sides.
SATURATION_RTOL = 1e-6


def higher_is_better(name: str) -> bool:
    """The orientation of a registered scorer (True for names the registry does not know)."""
    try:
        spec = estimators.get_scorer(name)
    except ZoorankError:
        return True
    return spec.higher_is_better


def _best_first(values: Mapping[str, float], higher: bool) -> list[str]:
    return sorted(values, key=lambda k: -values[k] if higher else values[k])


def rank_values(values: Mapping[str, float], *, higher_is_better: bool = True) -> dict[str, float]:
    """Ranks of ``values`` (key -> score): 1 = best, exact ties share their mean rank.

    ``higher_is_better`` is the scorer's orientation: False ranks the lowest score first (``ncti_vc``).

    >>> rank_values({"a": 0.9, "b": 0.5, "c": 0.5, "d": 0.1})
    {'a': 1.0, 'b': 2.5, 'c': 2.5, 'd': 4.0}
    >>> rank_values({"a": 0.9, "b": 0.1}, higher_is_better=False)
    {'b': 1.0, 'a': 2.0}
    """
    for key, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"score of {key!r} is not finite: {value}")
    order = _best_first(values, higher_is_better)
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


def saturated_top(
    values: Mapping[str, float], *, higher_is_better: bool = True, rtol: float = SATURATION_RTOL
) -> frozenset[str]:
    """The models tied at a scorer's best score: a *saturated tie*, which orders nothing.

    Rule: the group of models whose score lies within ``rtol * |best|`` of the best score (the
    highest, or the lowest for a lower-is-better scorer) is saturated when it holds two or more models.
    With fewer samples than feature dimensions, H-score reaches exactly C-1 and SFDA exactly 1.0 for
    every wide model: the scorer then cannot order the strongest candidates, and ranking them 1, 2, 3
    by rounding noise would be a verdict made of nothing. The rule needs no per-scorer bound (any
    scorer that pins several models at one best value is caught, and so are two copies of one model,
    which the scorer cannot order either) and never fires for a single model. Ties below the top are
    ordinary ties (they share a rank, as always).

    Returns:
        The saturated keys, empty when the best score is unique.
    """
    if len(values) < 2:
        return frozenset()
    best = values[_best_first(values, higher_is_better)[0]]
    tol = rtol * abs(best)
    group = frozenset(k for k, v in values.items() if abs(v - best) <= tol)
    return group if len(group) >= 2 else frozenset()


def _scorer_ranks(values: Mapping[str, float], higher: bool) -> dict[str, float]:
    """:func:`rank_values`, with a saturated top group sharing the mean of positions 1..k."""
    ranks = rank_values(values, higher_is_better=higher)
    top = saturated_top(values, higher_is_better=higher)
    if top:  # the group holds positions 1..k: every score between two members is within tolerance too
        shared = (1 + len(top)) / 2.0
        for key in top:
            ranks[key] = shared
    return ranks


def aggregate(
    cells: Mapping[str, Cells],
    scorer_names: Sequence[str],
    *,
    orientation: Mapping[str, bool] | None = None,
) -> dict[str, tuple[dict[str, float], float | None]]:
    """Per-scorer ranks and the aggregate rank of every model.

    Each scorer ranks in its own orientation (``orientation[name]``, else the registry's
    ``higher_is_better``), and the models of a saturated tie at the top (:func:`saturated_top`) share
    one rank, so rounding noise never orders them.

    Returns:
        model id -> (scorer -> rank, aggregate rank or None when no scorer scored the model).
    """
    ranks: dict[str, dict[str, float]] = {m: {} for m in cells}
    for name in scorer_names:
        higher = orientation[name] if orientation and name in orientation else higher_is_better(name)
        scored = {m: c.scores[name] for m, c in cells.items() if name in c.scores}
        for model_id, r in _scorer_ranks(scored, higher).items():
            ranks[model_id][name] = r
    out: dict[str, tuple[dict[str, float], float | None]] = {}
    for model_id, model_ranks in ranks.items():
        agg = sum(model_ranks.values()) / len(model_ranks) if model_ranks else None
        out[model_id] = ({n: model_ranks[n] for n in scorer_names if n in model_ranks}, agg)
    return out


def mark_saturated(
    results: Sequence[ModelResult], *, orientation: Mapping[str, bool] | None = None
) -> list[ModelResult]:
    """``results`` with ``saturated`` set: per model, the scorers whose cell is in a saturated tie."""
    names = list(dict.fromkeys(n for r in results for n in r.scores))
    marked: dict[str, list[str]] = {r.id: [] for r in results}
    for name in names:
        higher = orientation[name] if orientation and name in orientation else higher_is_better(name)
        for model_id in saturated_top(
            {r.id: r.scores[name] for r in results if name in r.scores}, higher_is_better=higher
        ):
            marked[model_id].append(name)
    return [replace(r, saturated=tuple(marked[r.id])) if marked[r.id] or r.saturated else r for r in results]


def sort_results(
    results: Sequence[ModelResult], *, orientation: Mapping[str, bool] | None = None
) -> tuple[ModelResult, ...]:
    """Best first: by aggregate rank, models without one last, ties broken by id (deterministic).

    Also marks every saturated cell (:func:`mark_saturated`), so each ranking that is sorted here
    records which of its ties order nothing.
    """
    return tuple(
        sorted(
            mark_saturated(results, orientation=orientation),
            key=lambda r: (r.aggregate_rank is None, r.aggregate_rank or 0.0, r.id),
        )
    )


def saturation_notes(ranking: Ranking) -> list[str]:
    """One human-readable line per scorer with a saturated tie (for the CLI's stderr note)."""
    notes = []
    for name in ranking.scorer_names():
        tied = [m for m in ranking.models if name in m.saturated]
        if tied:
            value = _fmt_score(tied[0].scores[name])
            n = ranking.dataset.num_samples
            dims = [m.feature_dim for m in tied if m.feature_dim is not None]
            why = (
                f"{n} samples but up to {max(dims)} feature dimensions: more images per class help"
                if dims and n < max(dims)
                else "the scorer cannot separate these models on this sample"
            )
            notes.append(
                f"{name} is saturated: {len(tied)} models tie at its best score {value} (within a relative "
                f"{SATURATION_RTOL:g}), so their shared rank is no verdict ({why})"
            )
    return notes


# --- rendering -----------------------------------------------------------------------------------

#: Marks a saturated cell in the table (see :func:`saturated_top`).
SATURATED_MARK = "≈"


def _fmt_score(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"


def _fmt_rank(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def render_table(ranking: Ranking) -> Table:
    """The ranking as a rich table: one row per model, best first, ``score (rank)`` per scorer.

    Cells without a score show the error code (``not-applicable``, ``degenerate-input``, ...); a cell in
    a saturated tie carries :data:`SATURATED_MARK`; lower-is-better scorers carry ``↓`` in their
    header. The caption carries the dataset fingerprint, sample size and how the aggregate rank is
    defined. Every user-supplied string (dataset reference, model ids) is plain text, never markup.
    """
    from rich.table import Table
    from rich.text import Text

    from service.text import printable

    ds = ranking.dataset
    saturated = any(m.saturated for m in ranking.models)
    caption = (
        f"{ds.num_samples} images, {ds.num_classes} classes, fingerprint {ds.fingerprint[:12]}; "
        "cells: score (rank), rank 1 = best; agg = mean of per-scorer ranks"
    )
    if saturated:
        caption += f"; {SATURATED_MARK} = saturated tie (the scorer cannot order these models)"
    if any(not s.higher_is_better for s in ranking.scorers):
        caption += "; ↓ = lower score is better"
    table = Table(
        title=Text(f"zoorank: {printable(ds.reference)}"),
        caption=Text(caption),
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("#", justify="right")
    table.add_column("model", no_wrap=True)
    table.add_column("agg", justify="right")
    lower = {s.name for s in ranking.scorers if not s.higher_is_better}
    names = ranking.scorer_names()
    for name in names:
        table.add_column(Text(name + (" ↓" if name in lower else "")), justify="right")
    table.add_column("D", justify="right")
    table.add_column("weights", no_wrap=True)
    for pos, m in enumerate(ranking.models, start=1):
        row: list[Text] = [
            Text(str(pos)),
            Text(printable(m.id)),
            Text("-" if m.aggregate_rank is None else f"{m.aggregate_rank:.2f}"),
        ]
        for name in names:
            if name in m.scores:
                mark = SATURATED_MARK if name in m.saturated else ""
                row.append(Text(f"{_fmt_score(m.scores[name])}{mark} ({_fmt_rank(m.ranks[name])})"))
            elif name in m.errors:
                row.append(Text(m.errors[name].code, style="dim"))
            elif m.error is not None:
                row.append(Text(m.error.code, style="red"))
            else:
                row.append(Text("-"))
        row.append(Text("-" if m.feature_dim is None else str(m.feature_dim)))
        row.append(Text("-" if m.weights_sha256 is None else m.weights_sha256[:12]))
        table.add_row(*row)
    return table


# --- datasets ------------------------------------------------------------------------------------


def open_target(dataset_ref: str, settings: Settings, *, base: Path | None) -> tuple[Dataset, str]:
    """Resolve ``dataset_ref`` under the allowed roots, read it, and fingerprint its content.

    Args:
        dataset_ref: the reference as the user gave it.
        settings: data roots, pixel limit and cache location.
        base: directory bare relative references resolve against, and an extra allowed root (the CLI's
            working directory); the HTTP service passes None so that only the configured roots work.

    Returns:
        The full dataset and its content fingerprint (re-checks cost one ``stat`` per file).

    Raises:
        PathNotAllowedError, DatasetNotFoundError, DatasetFormatError.
    """
    from service.pipeline import open_target as _open_target

    return _open_target(dataset_ref, settings, base=base)


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
    ensemble: Any = None,
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
        ensemble: ``service.ensembles.EnsembleOptions`` for the ranking's ensembles section, or None.

    Returns:
        The ranking, models sorted by aggregate rank (see the module docstring).

    Raises:
        UnknownScorerError, InvalidParameterError: bad scorer names or parameters (checked first).
        UnknownModelError, LimitExceededError: bad model ids, or too many models or images.
        PathNotAllowedError, DatasetNotFoundError, DatasetFormatError: the dataset cannot be used.
        TooManyCorruptImagesError: too many sampled images cannot be decoded.
        FeatureStoreError: the feature store is not writable.
    """
    from service.pipeline import plan, run_in_process

    settings = settings if settings is not None else Settings.from_env()
    request = plan(
        dataset_ref,
        models=models,
        scorers=scorers,
        max_per_class=max_per_class,
        max_samples=max_samples,
        seed=seed,
        settings=settings,
        scorer_params=scorer_params,
        base=base,
        ensemble=ensemble,
    )
    return run_in_process(request, settings, progress=progress if progress is not None else _no_progress)
