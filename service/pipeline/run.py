"""Every stage in one process: what ``zoorank rank`` runs and what :func:`rank` exposes as a library."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from service.pipeline.assemble import finalise
from service.pipeline.budget import budget_rank
from service.pipeline.ensembles import EnsembleOptions
from service.pipeline.extract import Extraction, extract_model, extract_shared
from service.pipeline.plan import RankPlan
from service.pipeline.sample import sample
from service.pipeline.schema import (
    Ranking,
)
from service.pipeline.score import score_model
from service.pipeline.types import CancelCheck, Cells, ProgressCallback, ProgressEvent, no_progress
from service.settings import Settings

if TYPE_CHECKING:
    from zoo._api import ZooEntry
from typing import TYPE_CHECKING

import torch

from service.pipeline.plan import plan
from zoo.features import check_device
from zoo.store import FeatureStore

if TYPE_CHECKING:
    from zoo._api import ZooEntry


@contextlib.contextmanager
def _torch_threads(settings: Settings) -> Iterator[None]:
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    yield


def run_in_process(
    request: RankPlan,
    settings: Settings,
    *,
    progress: ProgressCallback = no_progress,
    cancel: CancelCheck | None = None,
) -> Ranking:
    """Every stage in this process, in order: what ``zoorank rank`` runs (``service.pipeline.run.rank``).

    Raises:
        DeviceUnavailableError: ``settings.device`` names a device this machine lacks.
    """

    if request.budget is not None:  # successive halving over the sample: service.pipeline.budget
        with _torch_threads(settings):
            ranking = budget_rank(request, settings, progress=progress, cancel=cancel)
        progress(ProgressEvent("done", None, len(request.entries), len(request.entries)))
        return ranking
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
            ensemble_scorer=settings.default_ensemble_scorer,
        )
    progress(ProgressEvent("done", None, n, n))
    return ranking


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
    ensemble: EnsembleOptions | None = None,
    budget: float | None = None,
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
        ensemble: ``service.pipeline.ensembles.EnsembleOptions`` for the ranking's ensembles section, or None.
        budget: rank in budget mode (``service.pipeline.budget``): forward at most this fraction, in
            (0, 1], of the images x models a full ranking forwards; None ranks in full.

    Returns:
        The ranking, models sorted by aggregate rank (see the module docstring).

    Raises:
        UnknownScorerError, InvalidParameterError: bad scorer names or parameters (checked first).
        UnknownModelError, LimitExceededError: bad model ids, or too many models or images.
        PathNotAllowedError, DatasetNotFoundError, DatasetFormatError: the dataset cannot be used.
        TooManyCorruptImagesError: too many sampled images cannot be decoded.
        FeatureStoreError: the feature store is not writable.
    """

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
        budget=budget,
    )
    return run_in_process(request, settings, progress=progress if progress is not None else no_progress)
