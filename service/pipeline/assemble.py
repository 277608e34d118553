"""The last stage: set-level scorers over all models, then the ranking document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from estimators._api import PER_SAMPLE
from service.errors import NoModelScoredError
from service.pipeline.aggregate import aggregate, sort_results
from service.pipeline.ensembles import EnsembleOptions, attach_section
from service.pipeline.extract import Extraction, ExtractionRecord
from service.pipeline.recommend import recommend
from service.pipeline.sample import SampleSummary
from service.pipeline.schema import (
    DatasetInfo,
    ModelResult,
    Provenance,
    Ranking,
    SamplingInfo,
)
from service.pipeline.score import merge_cells, score_sets
from service.pipeline.types import (
    CancelCheck,
    Cells,
    ModelInputs,
    ProgressCallback,
    ScorerPlan,
    check_cancel,
    no_progress,
)
from service.settings import DEFAULT_ENSEMBLE_SCORER
from zoo.features import EXTRACTOR_VERSION

if TYPE_CHECKING:
    from zoo.features import FeatureSet


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


def _public(info: Mapping[str, Any]) -> dict[str, Any]:
    """A cell's diagnostics for the document: the per-sample terms stay with the cells (they feed the
    recommendation's resampling and would add N numbers per model to every ranking)."""
    return {k: v for k, v in info.items() if k != PER_SAMPLE}


def _version() -> str:

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
                info={n: _public(c.info[n]) for n in names if n in c.info},
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
    ensemble: EnsembleOptions | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelCheck | None = None,
    ensemble_scorer: str = DEFAULT_ENSEMBLE_SCORER,
    recommend_seconds: float | None = None,
) -> Ranking:
    """Set-level scorers over all models, then :func:`assemble` (and the ensemble section when asked).

    Args:
        runs: one :class:`Extraction` per model in request order (features in memory or memory-mapped
            from the store).
        model_cells: model id -> its per-model cells (from :func:`score_model` or the cell cache).
        ensemble_scorer: whose teams the ensembles section recommends
            (``Settings.default_ensemble_scorer``).
        recommend_seconds: the recommendation's refit budget (``budget_seconds`` of
            :func:`~service.pipeline.recommend.recommend`); None: the ranking's own scoring time.
    """
    keys, labels, inputs = common_inputs(runs)
    _, rows = aligned_rows({r.entry.id: r.features for r in runs if r.features is not None})
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
    check_cancel(cancel)
    ranking = replace(
        ranking,
        recommendation=recommend(
            ranking,
            cells,
            plans,
            inputs,
            labels,
            rows=rows,
            seed=int(summary.sampling["seed"]),
            budget_seconds=recommend_seconds,
        ),
    )
    if ensemble is not None and inputs:
        entries = {r.entry.id: r.entry for r in runs}
        ranking = attach_section(
            ranking,
            inputs,
            labels,
            ensemble,
            entries=entries,
            progress=progress,
            cancel=cancel,
            recommend_by=ensemble_scorer,
        )
    if ranking.ensembles is None:  # a team selection stands on its own section (``zoorank ensemble``)
        check_ranked(ranking)
    return ranking


def check_ranked(ranking: Ranking) -> None:
    """Refuse a ranking in which no model was ranked: acting on its first row would act on garbage.

    Raises:
        NoModelScoredError: no model has an aggregate rank; the message gives the first reason (the
            first model in id order: its model error, else its first cell error).
    """
    if any(m.aggregate_rank is not None for m in ranking.models):
        return
    raise NoModelScoredError(f"no model could be scored; {first_reason(ranking)}", param="models")


def first_reason(ranking: Ranking) -> str:
    """Why the first model (in id order) has no score: its model error, else its first cell error."""
    for m in sorted(ranking.models, key=lambda m: m.id):
        reason = m.error or next(iter(m.errors.values()), None)
        if reason is not None:
            return f"first reason: {m.id}: {reason.message} [{reason.code}]"
    return "no scorer produced a value"
