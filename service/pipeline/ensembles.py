"""The ``ensembles`` section of a ranking: which team of k models each ensemble scorer selects.

A ranking request may carry :class:`EnsembleOptions` (``rank(..., ensemble=...)``, the HTTP request's
``ensemble`` field, ``zoorank ensemble``). The per-model inputs the ranking already computes (target
features, source-head probabilities, source profiles) are then handed to
:func:`estimators.select_team` once per ensemble scorer, and the selected team(s) with their score and
per-term breakdown become the ranking's ``ensembles`` section
(:class:`service.pipeline.schema.EnsembleSection`).

Eligibility is explicit: a model without a source profile (the ImageNet entries) is listed as ineligible
for OSBORN with the reason, a model without a source head as ineligible for every ensemble scorer; both
stay in the pool of the scorers they can serve (the ImageNet entries have heads, so ``ens_eep`` and
``mean_leep`` use them). A scorer that cannot select a team (fewer eligible models than k) records its
error in its result; the ranking itself never fails because of its ensembles section.

The section recommends a team as the ranking recommends a model
(:func:`service.pipeline.recommend.recommend_team`): the teams of one ensemble scorer, the default ensemble
scorer (``Settings.default_ensemble_scorer``, chosen on the benchmark's team truth) when it ran and selected
a team, else the first requested scorer that did, with ``p_best`` and a confidence set from the same
stratified bootstrap of the target sample.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

import estimators
from estimators.errors import InvalidParameterError, ZoorankError
from service.errors import JobCancelledError
from service.pipeline.recommend import recommend_team
from service.pipeline.schema import EnsembleResult, EnsembleSection, ErrorInfo, TeamResult
from service.pipeline.types import ProgressEvent
from service.settings import DEFAULT_ENSEMBLE_SCORER
from zoo.errors import ZooError
from zoo.models import load_source_profile

if TYPE_CHECKING:
    from service.pipeline.schema import EnsembleResult, EnsembleSection, Ranking
    from service.pipeline.types import ModelInputs
    from zoo._api import ZooEntry

__all__ = [
    "DEFAULT_ENSEMBLE_SCORERS",
    "MAX_ENSEMBLE_K",
    "PARAM_LIMITS",
    "EnsembleOptions",
    "attach_section",
    "build_section",
    "ensemble_options",
    "member_arrays",
]

#: Ensemble scorers run when the request names none.
DEFAULT_ENSEMBLE_SCORERS: tuple[str, ...] = ("osborn", "ens_eep", "mean_leep")
#: Largest team size a request may ask for (the paper and Agostinelli et al. use k = 3).
MAX_ENSEMBLE_K = 8
#: Most top teams an exhaustive search reports per scorer.
MAX_ENSEMBLE_TOP = 50

#: Upper bounds a request may set on cost-driving scorer parameters (OSBORN's transport sizes and solver
#: iterations): the cost matrix of one member is at most max_source x max_target.
PARAM_LIMITS: dict[str, int] = {
    "max_source": 5000,
    "max_target": 5000,
    "sinkhorn_max_iter": 100_000,
    "emd_max_iter": 100_000_000,
}

ParamValue = str | int | float | bool | None


class EnsembleOptions(BaseModel):
    """What team search a ranking request asks for.

    Attributes:
        k: team size (1..:data:`MAX_ENSEMBLE_K`); a pool smaller than k is reported as an error of that
            scorer, not of the ranking.
        scorers: ensemble-kind scorers to run (registered names, no duplicates).
        mode: ``greedy`` (the paper's selection, one team) or ``exhaustive`` (every k-subset scored, the
            best ``top`` teams reported; refused when C(pool, k) exceeds ``max_teams``).
        top: teams reported by an exhaustive search.
        max_teams: most k-subsets an exhaustive search may score.
        params: scorer name -> parameter overrides (e.g. ``{"osborn": {"solver": "sinkhorn"}}``); checked
            against the scorer's published parameters when the section is built.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # strict: JSON ``true`` or ``2.0`` is not an integer here (lax pydantic would read them as 1 and 2)
    k: int = Field(default=3, ge=1, le=MAX_ENSEMBLE_K, strict=True)
    scorers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ENSEMBLE_SCORERS), min_length=1, max_length=8
    )
    mode: Literal["greedy", "exhaustive"] = "greedy"
    top: int = Field(default=5, ge=1, le=MAX_ENSEMBLE_TOP, strict=True)
    max_teams: int = Field(default=5000, ge=1, le=100_000, strict=True)
    params: dict[str, dict[str, ParamValue]] = Field(default_factory=dict, max_length=8)

    @field_validator("scorers")
    @classmethod
    def _known_ensemble_scorers(cls, value: list[str]) -> list[str]:

        known = estimators.list_scorers("ensemble")
        bad = [s for s in value if s not in known]
        if bad:
            raise ValueError(f"unknown ensemble scorer(s) {bad}; valid: {known}")
        if len(set(value)) != len(value):
            raise ValueError(f"duplicate scorer names in {value}")
        return value

    @model_validator(mode="after")
    def _params_for_chosen(self) -> EnsembleOptions:
        for name, overrides in self.params.items():
            if name not in self.scorers:
                raise ValueError(f"params given for {name!r}, which is not among scorers {self.scorers}")
            if len(overrides) > 32:
                raise ValueError(f"too many parameters for {name!r} (at most 32)")
            for key, limit in PARAM_LIMITS.items():
                value = overrides.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool) and value > limit:
                    raise ValueError(f"{name}.{key} = {value} exceeds the service limit {limit}")
        return self


def _profile_arrays(entry: ZooEntry | None) -> tuple[dict[str, np.ndarray], str | None]:
    """The source profile's sample of ``entry`` as scorer inputs, or why there is none."""
    if entry is None:
        return {}, None
    if not entry.has_source_task:
        return {}, (
            "it was never trained on a source task (a random-initialisation control), so it has no source "
            "domain for the source-based terms"
        )
    try:
        profile = load_source_profile(entry)
    except ZooError as exc:
        return {}, f"its source profile is unusable: {exc.message}"
    if profile is None:
        return {}, None
    return {
        "source_features": profile.features.numpy(),
        "source_predictions": profile.pred.numpy(),
        "source_labels": profile.labels.numpy(),
    }, None


def member_arrays(
    inputs: Mapping[str, ModelInputs], entries: Mapping[str, ZooEntry] | None, *, need_profiles: bool
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, str]]:
    """Per model the arrays an ensemble scorer may use, and notes on source profiles that failed to load.

    Profiles already in ``inputs`` are used as they are; otherwise, when ``need_profiles``, they are
    loaded from the model's zoo entry (its ``source_features``, ``source_predictions``, ``source_labels``).
    """
    members: dict[str, dict[str, np.ndarray]] = {}
    notes: dict[str, str] = {}
    for model_id, x in inputs.items():
        arrays = {"features": x.features}
        if x.source_probs is not None:
            arrays["source_probs"] = x.source_probs
        own = {k: getattr(x, k, None) for k in ("source_features", "source_predictions", "source_labels")}
        if own["source_features"] is not None and own["source_predictions"] is not None:
            arrays.update({k: v for k, v in own.items() if v is not None})
        elif need_profiles:
            loaded, note = _profile_arrays((entries or {}).get(model_id))
            arrays.update(loaded)
            if note is not None:
                notes[model_id] = note
        members[model_id] = arrays
    return members, notes


def _error_info(code: str, message: str) -> ErrorInfo:

    return ErrorInfo(code, message.splitlines()[0] if message else code)


def _run_scorer(
    name: str,
    members: Mapping[str, Mapping[str, np.ndarray]],
    labels: np.ndarray,
    options: EnsembleOptions,
    notes: Mapping[str, str],
) -> EnsembleResult:

    spec = estimators.get_scorer(name)
    overrides = dict(options.params.get(name, {}))
    start = time.perf_counter()

    def reasons(ineligible: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
        out = {}
        for model_id, why in ineligible.items():
            message = why["message"]
            if model_id in notes:
                message = f"{message} ({notes[model_id]})"
            out[model_id] = _error_info(why["code"], message)
        return out

    try:
        selection = estimators.select_team(
            name,
            members=members,
            labels=labels,
            k=options.k,
            mode=options.mode,
            top=options.top,
            max_teams=options.max_teams,
            **overrides,
        )
    except ZoorankError as exc:
        ineligible = exc.context.get("ineligible", {}) if isinstance(exc.context, dict) else {}
        merged = {**dict(spec.defaults), **overrides}
        return EnsembleResult(
            scorer=name,
            version=spec.version,
            params=merged,
            teams=(),
            pool=(),
            ineligible=reasons(ineligible),
            members={},
            seconds=time.perf_counter() - start,
            error=_error_info(exc.code, exc.message),
        )
    return EnsembleResult(
        scorer=name,
        version=spec.version,
        params=dict(selection.params),
        teams=tuple(TeamResult(t.members, t.score, dict(t.terms)) for t in selection.teams),
        pool=selection.pool,
        ineligible=reasons(selection.ineligible),
        members={k: dict(v) for k, v in selection.members.items()},
        steps=tuple(dict(st) for st in selection.steps),
        candidates=selection.candidates,
        seconds=time.perf_counter() - start,
        info=dict(selection.info),
    )


def build_section(
    inputs: Mapping[str, ModelInputs],
    labels: np.ndarray,
    options: EnsembleOptions,
    *,
    entries: Mapping[str, ZooEntry] | None = None,
    progress: Callable[[Any], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    recommend_by: str = DEFAULT_ENSEMBLE_SCORER,
    seed: int = 0,
    extra_budget_seconds: float = 0.0,
) -> EnsembleSection:
    """Run every requested ensemble scorer's team search over the ranked models, and recommend a team.

    Args:
        inputs: model id -> its scorer inputs on the common rows (``features`` ``(N, D_m)``,
            ``source_probs`` ``(N, C_m)`` or None, optionally the source-profile sample), request order.
        labels: ``(N,)`` target labels of those rows.
        options: k, scorers, mode and parameter overrides.
        entries: model id -> zoo entry, to load source profiles the inputs do not carry.
        progress: receives a ``score`` :class:`~service.pipeline.types.ProgressEvent` before each scorer.
        cancel: polled before each scorer; True raises ``service.errors.JobCancelledError``.
        recommend_by: the ensemble scorer whose teams are recommended when it ran and selected a team
            (else the first scorer that did).
        seed: seeds the recommendation's resamples (the ranking's sampling seed).
        extra_budget_seconds: the team recommendation's rescoring may take the section's own search time
            plus this.

    Returns:
        The section: one :class:`~service.pipeline.schema.EnsembleResult` per scorer, in
        ``options.scorers`` order, and the team recommendation.
    """

    need_profiles = any(
        {"source_features", "source_predictions"} & set(estimators.get_scorer(n).needs)
        for n in options.scorers
    )
    members, notes = member_arrays(inputs, entries, need_profiles=need_profiles)
    results = []
    for i, name in enumerate(options.scorers):
        if cancel is not None and cancel():
            raise JobCancelledError("the job was cancelled")
        if progress is not None:
            progress(ProgressEvent("score", None, i, len(options.scorers), f"ensemble {name}"))
        results.append(_run_scorer(name, members, labels, options, notes))
    selected = [r for r in results if r.teams]
    chosen = next((r for r in selected if r.scorer == recommend_by), selected[0] if selected else None)
    recommendation = None
    if chosen is not None:
        recommendation = recommend_team(
            chosen,
            members,
            labels,
            seed=seed,
            budget_seconds=sum(r.seconds for r in results) + extra_budget_seconds,
        )
    return EnsembleSection(
        k=options.k, mode=options.mode, results=tuple(results), recommendation=recommendation
    )


def attach_section(
    ranking: Ranking,
    inputs: Mapping[str, ModelInputs],
    labels: np.ndarray,
    options: EnsembleOptions | Mapping[str, Any],
    *,
    entries: Mapping[str, ZooEntry] | None = None,
    progress: Callable[[Any], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    recommend_by: str = DEFAULT_ENSEMBLE_SCORER,
) -> Ranking:
    """``ranking`` with its ``ensembles`` section (:func:`service.pipeline.assemble.finalise` calls it).

    The team recommendation's rescoring may take what is left of the ranking's scoring time after the
    model recommendation (its method's ``budget_seconds`` minus its ``seconds``) plus the section's own
    search time, so the certainty of models and teams together adds at most the ranking's scoring time
    (its scorers and its team searches). Its resamples use the ranking's sampling seed.
    """
    chosen = options if isinstance(options, EnsembleOptions) else EnsembleOptions.model_validate(options)
    rec = ranking.recommendation
    left = 0.0
    if rec is not None:
        left = max(0.0, float(rec.method.get("budget_seconds", 0.0)) - float(rec.method.get("seconds", 0.0)))
    section = build_section(
        inputs,
        labels,
        chosen,
        entries=entries,
        progress=progress,
        cancel=cancel,
        recommend_by=recommend_by,
        seed=int(ranking.dataset.sampling.seed),
        extra_budget_seconds=left,
    )
    return dataclasses.replace(ranking, ensembles=section)


def ensemble_options(**fields: Any) -> EnsembleOptions:
    """:class:`EnsembleOptions` from keyword fields, with validation failures as a typed error.

    Raises:
        InvalidParameterError: a field is out of range or unknown (the message lists every problem).
    """

    try:
        return EnsembleOptions(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'ensemble'}: {err['msg']}" for err in exc.errors()
        )
        first = exc.errors()[0]["loc"] if exc.errors() else ()
        raise InvalidParameterError(
            f"invalid ensemble options: {problems}", param=str(first[0]) if first else "ensemble"
        ) from None
