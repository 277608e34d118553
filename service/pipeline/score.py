"""Scoring: validate scorer plans, run per-model and set-level scorers, and merge their cells.

A scorer that fails with a typed error for one model costs that one cell (recorded with its error code),
never the ranking.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

import estimators
from estimators._params import check_params
from estimators._registry import ScorerSpec
from estimators.errors import InvalidParameterError, ZoorankError
from service.pipeline.schema import NOT_APPLICABLE, ErrorInfo, _jsonable
from service.pipeline.types import (
    CancelCheck,
    Cells,
    ModelInputs,
    ProgressCallback,
    ProgressEvent,
    ScorerPlan,
    check_cancel,
    error_info,
    no_progress,
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
        InvalidParameterError: an ensemble or baseline scorer was named, a parameter is unknown or out of
            range, or parameters were given for a scorer that is not requested.
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
            what = {
                "ensemble": "it scores a team of models",
                "baseline": "a data-free guardrail graded by the benchmark, not a prediction",
            }.get(spec.kind, "not a per-model scorer")
            raise InvalidParameterError(
                f"{name!r} is {'an' if spec.kind[0] in 'aeiou' else 'a'} {spec.kind!r} scorer ({what}); "
                "a ranking uses 'model' and 'set' scorers",
                param="scorers",
            )
        overrides = dict(params.get(name, {}))
        merged = check_params(spec.name, overrides, dict(spec.defaults), dict(spec.constraints))
        plans.append(ScorerPlan(spec=spec, params=merged))
    return plans


def score_models(
    inputs: Mapping[str, ModelInputs],
    labels: np.ndarray,
    plans: Sequence[ScorerPlan],
    *,
    progress: ProgressCallback = no_progress,
) -> dict[str, Cells]:
    """Run every planned scorer on every model's inputs; typed errors become per-cell errors.

    Per-model scorers run once per model that can supply their ``needs``; a model that cannot gets a
    ``not-applicable`` cell saying what is missing. Set-level scorers run once over every model that can
    supply their needs (their values are relative to that candidate set); if the set call fails, each
    candidate records the error.

    Returns:
        model id -> :class:`Cells`, for every key of ``inputs``.
    """

    per_model = {m: score_model(m, x, labels, plans, progress=progress) for m, x in inputs.items()}
    per_set = score_sets(inputs, labels, plans, progress=progress)
    return {m: merge_cells(per_model[m], per_set[m]) for m in inputs}


def _missing_inputs(spec: ScorerSpec, inputs: ModelInputs) -> list[str]:
    return sorted(set(spec.needs) - inputs.available())


def _not_applicable(spec: ScorerSpec, missing: list[str]) -> ErrorInfo:
    why = "the model has no source classifier head" if "source_probs" in missing else "inputs missing"
    return ErrorInfo(NOT_APPLICABLE, f"{spec.name} needs {', '.join(missing)}; {why}")


def score_model(
    model_id: str,
    inputs: ModelInputs,
    labels: np.ndarray,
    plans: Sequence[ScorerPlan],
    *,
    progress: ProgressCallback = no_progress,
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
        check_cancel(cancel)
        progress(ProgressEvent("score", model_id, i, len(model_plans), p.name))
        missing = _missing_inputs(p.spec, inputs)
        if missing:
            cells.errors[p.name] = _not_applicable(p.spec, missing)
            continue
        start = time.perf_counter()
        try:
            result = estimators.score_details(
                p.name,
                labels=labels,
                progress=_fold_progress(progress, model_id, i, len(model_plans), p.name),
                **inputs.arrays_for(p.spec),
                **p.params,
            )
        except ZoorankError as exc:
            cells.errors[p.name] = error_info(exc)
            continue
        cells.seconds[p.name] = time.perf_counter() - start
        cells.scores[p.name] = result.value
        if result.info:
            cells.info[p.name] = dict(result.info)
    return cells


def _fold_progress(
    progress: ProgressCallback, model_id: str, index: int, count: int, name: str
) -> Callable[[int, int], None]:
    """The step callback of scorer ``index`` of ``count`` (:attr:`ScorerSpec.reports_progress`): each
    ``(done, total)`` becomes a ``score`` event of that scorer with its folds."""

    def report(done: int, total: int) -> None:
        progress(ProgressEvent("score", model_id, index, count, name, folds_done=done, folds_total=total))

    return report


def score_sets(
    inputs: Mapping[str, ModelInputs],
    labels: np.ndarray,
    plans: Sequence[ScorerPlan],
    *,
    progress: ProgressCallback = no_progress,
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
        check_cancel(cancel)
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
        start = time.perf_counter()
        try:
            values = estimators.score_set(p.name, candidates=candidates, labels=labels, **p.params)
        except ZoorankError as exc:
            for model_id in candidates:
                cells[model_id].errors[p.name] = error_info(exc)
            continue
        took = time.perf_counter() - start
        for model_id, value in values.items():
            cells[model_id].scores[p.name] = value
            cells[model_id].seconds[p.name] = took
    return cells


def cells_to_dict(cells: Cells) -> dict[str, Any]:
    """JSON-ready form of a model's cells (diagnostics made plain: arrays -> lists, NaN -> null)."""
    return {
        "scores": {k: float(v) for k, v in cells.scores.items()},
        "errors": {k: v.to_dict() for k, v in cells.errors.items()},
        "info": {k: _jsonable(dict(v)) for k, v in cells.info.items()},
        "seconds": {k: float(v) for k, v in cells.seconds.items()},
    }


def cells_from_dict(data: Mapping[str, Any]) -> Cells:
    """Inverse of :func:`cells_to_dict`."""
    return Cells(
        scores={str(k): float(v) for k, v in data["scores"].items()},
        errors={str(k): ErrorInfo.from_dict(v) for k, v in data["errors"].items()},
        info={str(k): dict(v) for k, v in data["info"].items()},
        seconds={str(k): float(v) for k, v in data.get("seconds", {}).items()},
    )


def merge_cells(*parts: Cells) -> Cells:
    """One model's cells from several parts (per-model scorers, set scorers, the cell cache)."""
    out = Cells()
    for part in parts:
        out.scores.update(part.scores)
        out.errors.update(part.errors)
        out.info.update(part.info)
        out.seconds.update(part.seconds)
    return out
