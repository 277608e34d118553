"""The plan stage: validate a request before any image is read (scorers, models, sampling caps)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from estimators.errors import InvalidParameterError
from service.errors import WeightsMissingError
from service.pipeline.ensembles import EnsembleOptions
from service.settings import LimitExceededError, Settings

if TYPE_CHECKING:
    from zoo._api import ZooEntry
from typing import TYPE_CHECKING

import zoo
from service.pipeline.schema import _jsonable
from service.pipeline.score import plan_scorers
from service.pipeline.types import ScorerPlan
from service.pipeline.zoo_manifest import load_zoo
from zoo.datasets import SamplingSpec
from zoo.errors import UnknownModelError, ZooError
from zoo.models import load_source_profile
from zoo.weights import file_sha256, obtainable, resolve_path

if TYPE_CHECKING:
    from zoo._api import ZooEntry
    from zoo.datasets import SamplingSpec


def resolve_models(models: Sequence[str | ZooEntry] | None, settings: Settings) -> list[ZooEntry]:
    """Zoo entries for model ids, fnmatch patterns and entry objects, in order, without duplicates.

    ``None`` means the default zoo: every entry tagged ``builtin`` or ``trained`` (catalogue entries,
    whose weights are usually not on an offline machine, must be named). A :class:`~zoo.ZooEntry` object
    is used as it is, registered or not (rank a model of your own from Python without touching the zoo).

    Raises:
        UnknownModelError: an id is not registered, or a pattern matches nothing.
        LimitExceededError: more models than ``settings.max_models_per_job``.
    """
    load_zoo(settings)

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


def check_weights(entries: Sequence[ZooEntry]) -> None:
    """Refuse models whose weights file is absent and cannot be downloaded, before any work is queued.

    Applied to the models a request names (ids, patterns, entries); the default zoo keeps a model without
    weights as a row with its error, since nobody asked for it by name.

    Raises:
        WeightsMissingError: naming every such model and how to provide its weights.
    """
    missing = [e.id for e in entries if obtainable(e.weights) is False]
    if missing:
        raise WeightsMissingError(
            f"the weights of {', '.join(missing)} are not on this machine and cannot be downloaded here; "
            "`zoorank models` lists which models have weights (`make zoo` trains the built-in ones)",
            param="models",
        )


def weights_digest(entry: ZooEntry) -> str | None:
    """SHA-256 of the entry's weights file: the recorded digest, else the file's own (None: no file)."""
    if entry.weights.kind == "none":
        return None
    if entry.weights.sha256 is not None:
        return entry.weights.sha256

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

    try:
        profile = load_source_profile(entry)
    except ZooError as exc:
        return None, None, f"{exc.message}; PED ran without it"
    if profile is None:
        return None, None, None
    return profile.mean.double().numpy(), profile.std.double().numpy(), None


def check_budget(budget: float) -> None:
    """Refuse a budget outside ``(0, 1]`` (a share of the full ranking's extraction cost).

    Raises:
        InvalidParameterError: naming ``sampling.budget``.
    """
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not 0.0 < budget <= 1.0:
        raise InvalidParameterError(
            f"budget must be a fraction of the full ranking's extraction cost in (0, 1], got {budget!r}",
            param="sampling.budget",
        )


@dataclass(frozen=True)
class RankPlan:
    """A validated ranking request: what to rank, how to sample, which scorers with which parameters.

    Attributes:
        dataset_ref: the reference as the caller gave it.
        entries: the zoo entries to rank, in request order, without duplicates.
        scorers: the scorers with their full parameter sets, in request order.
        spec: the requested sampling (before the per-job image cap, applied by :func:`sample`).
        base: directory bare relative references resolve against (CLI), None for the API.
        ensemble: the request's ensemble options (``service.pipeline.ensembles.EnsembleOptions``), or None.
        budget: a budget ranking's share of the full ranking's extraction cost, in (0, 1]
            (``service.pipeline.budget``), or None for a full ranking.
    """

    dataset_ref: str
    entries: tuple[ZooEntry, ...]
    scorers: tuple[ScorerPlan, ...]
    spec: SamplingSpec
    base: Path | None = None
    ensemble: EnsembleOptions | None = None
    budget: float | None = None

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
    ensemble: EnsembleOptions | None = None,
    budget: float | None = None,
) -> RankPlan:
    """Validate a request before any image is read (see ``service.pipeline.run.rank`` for the arguments).

    Raises:
        UnknownScorerError, InvalidParameterError: bad scorer names or parameters; a budget outside
            (0, 1], or a budget with ensemble options (``sampling.budget``).
        UnknownModelError, LimitExceededError: bad model ids, or too many models or images.
        WeightsMissingError: named models whose weights cannot be had (:func:`check_weights`).
    """

    if budget is not None:
        check_budget(budget)
        if ensemble is not None:
            raise InvalidParameterError(
                "a budget ranking drops models on the way, so it cannot select teams from all of them; "
                "leave out either the budget or the ensemble options",
                param="sampling.budget",
            )
    plans = plan_scorers(scorers if scorers is not None else settings.default_scorers, scorer_params)
    entries = resolve_models(models, settings)
    if models is not None:
        check_weights(entries)
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
        budget=None if budget is None else float(budget),
    )
