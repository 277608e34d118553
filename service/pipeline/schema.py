"""The ranking's wire format: plain dataclasses, their ``to_dict``/``from_dict``, CSV, and a JSON Schema.

This is the single definition of what ``zoorank rank --format json`` prints and what the HTTP API (a later
issue) returns for a ranking job, so both stay the same schema by construction. Changes that add fields
bump the minor part of :data:`SCHEMA_VERSION`; removing or renaming a field bumps the major part.

Conventions (also in the README's "Output schema" section):

* ``scores`` maps scorer name -> finite float, higher is better, for the scorers that scored the model.
  A scorer that did not (not applicable, or failed with a typed error) appears in ``errors`` instead,
  with the error's stable ``code`` and a message; never as NaN or null in ``scores``.
* ``ranks`` maps scorer name -> rank among the models that scorer scored: 1 is best; tied scores share
  the mean of the ranks they span (1, 2.5, 2.5, 4).
* ``aggregate_rank`` is the mean of the model's per-scorer ranks (over the scorers that scored it), or
  null when no scorer scored it. ``models`` is sorted by ``aggregate_rank`` (nulls last), then id.
* ``scorers[].higher_is_better`` records each scorer's orientation; ranks always put the best score
  first, whichever way that is (1.1).
* ``saturated`` lists the scorers whose cell for this model is part of a *saturated tie*: two or more
  models share the scorer's best score within a relative tolerance (e.g. H-score at exactly C-1 or SFDA
  at 1.0 when there are fewer samples than feature dimensions), so the scorer cannot order them. Such
  cells share one rank; their order is no verdict (1.1; ``service.pipeline.aggregate.saturated_top``).
* A budget ranking (1.3, ``sampling.budget``; ``service.pipeline.budget``) ranks the models that survive
  every round on the last round's sample; the models dropped in an earlier round follow them, each with
  ``dropped`` (the round, its sample size, its ranks there) and its scores at that size, with a null
  ``aggregate_rank``; the ``budget`` section lists the rounds. ``models[0]`` is the recommended model.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = "1.3"

#: Error code recorded for a scorer whose inputs the model cannot supply (e.g. LEEP for a headless model).
NOT_APPLICABLE = "not-applicable"


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class ErrorInfo:
    """Why one cell (model x scorer), or a whole model, has no score.

    Attributes:
        code: stable machine-readable reason (a ``ZoorankError.code``, or ``not-applicable``).
        message: one human-readable line.
    """

    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorInfo:
        """Inverse of :meth:`to_dict`."""
        return cls(code=str(data["code"]), message=str(data["message"]))


@dataclass(frozen=True)
class SamplingInfo:
    """How the ranked sample was drawn from the dataset.

    Attributes:
        strategy: ``"stratified"`` (per-class caps, then a seeded draw) — the only one so far.
        max_per_class: per-class cap applied, or None.
        max_samples: overall cap applied, or None.
        seed: seed of the draw; the same dataset, caps and seed give the same sample.
        available: images in the dataset before sampling.
    """

    strategy: str
    max_per_class: int | None
    max_samples: int | None
    seed: int
    available: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "strategy": self.strategy,
            "max_per_class": self.max_per_class,
            "max_samples": self.max_samples,
            "seed": self.seed,
            "available": self.available,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SamplingInfo:
        """Inverse of :meth:`to_dict`."""
        return cls(
            strategy=str(data["strategy"]),
            max_per_class=_opt_int(data["max_per_class"]),
            max_samples=_opt_int(data["max_samples"]),
            seed=int(data["seed"]),
            available=int(data["available"]),
        )


@dataclass(frozen=True)
class DatasetInfo:
    """The target dataset as ranked.

    Attributes:
        reference: the reference as the caller gave it.
        fingerprint: content fingerprint of the whole dataset (file digests, keys, labels, classes); with
            ``sampling`` it identifies the ranked sample exactly, and both are part of every feature-store
            key, so a changed file means new features.
        reader: the reader that read it (``imagefolder``, ``csv``, ``parquet``, ``npz``, ...).
        num_samples: images ranked on (after sampling, minus undecodable ones).
        num_classes: distinct classes in the sample.
        classes: class names in label order.
        class_counts: class name -> images in the sample.
        corrupt: sampled images skipped because they failed to decode.
        sampling: how the sample was drawn.
    """

    reference: str
    fingerprint: str
    reader: str
    num_samples: int
    num_classes: int
    classes: tuple[str, ...]
    class_counts: Mapping[str, int]
    corrupt: int
    sampling: SamplingInfo

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "reference": self.reference,
            "fingerprint": self.fingerprint,
            "reader": self.reader,
            "num_samples": self.num_samples,
            "num_classes": self.num_classes,
            "classes": list(self.classes),
            "class_counts": dict(self.class_counts),
            "corrupt": self.corrupt,
            "sampling": self.sampling.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetInfo:
        """Inverse of :meth:`to_dict`."""
        return cls(
            reference=str(data["reference"]),
            fingerprint=str(data["fingerprint"]),
            reader=str(data["reader"]),
            num_samples=int(data["num_samples"]),
            num_classes=int(data["num_classes"]),
            classes=tuple(str(c) for c in data["classes"]),
            class_counts={str(k): int(v) for k, v in data["class_counts"].items()},
            corrupt=int(data["corrupt"]),
            sampling=SamplingInfo.from_dict(data["sampling"]),
        )


@dataclass(frozen=True)
class Dropped:
    """Where a budget ranking (1.3) dropped a model: it was separated from the best at that round.

    Attributes:
        round: the round (0 = the first, smallest sample).
        num_samples: images of that round's sample.
        ranks: scorer -> the model's rank among that round's models.
        aggregate_rank: its aggregate rank among that round's models.
    """

    round: int
    num_samples: int
    ranks: Mapping[str, float] = field(default_factory=dict)
    aggregate_rank: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "round": self.round,
            "num_samples": self.num_samples,
            "ranks": dict(self.ranks),
            "aggregate_rank": self.aggregate_rank,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Dropped:
        """Inverse of :meth:`to_dict`."""
        return cls(
            round=int(data["round"]),
            num_samples=int(data["num_samples"]),
            ranks={str(k): float(v) for k, v in data["ranks"].items()},
            aggregate_rank=_opt_float(data["aggregate_rank"]),
        )


@dataclass(frozen=True)
class ModelResult:
    """One model's row of the ranking.

    Attributes:
        id: zoo entry id.
        scores: scorer -> finite score (higher is better), for the scorers that scored this model.
        ranks: scorer -> rank among the models that scorer scored (1 = best, ties share the mean rank).
        aggregate_rank: mean of ``ranks`` values, or None when no scorer scored the model.
        errors: scorer -> why it has no score for this model.
        error: why the whole model could not be used (weights missing, load failure), else None.
        weights_sha256: digest of the weights file the features came from (None: random-init control).
        feature_dim: D of the extracted features (None when extraction failed).
        has_source_head: whether source probabilities were available (LEEP, NCE need them).
        source_profile: whether a source profile (feature mean/std for PED) was available.
        cached: whether the features came from the feature store instead of a forward pass.
        extraction_seconds: wall time to get the features (model load + forward passes, or a store read).
        info: scorer -> the scorer's diagnostics (e.g. PED's accepted steps), possibly empty.
        notes: anything else worth knowing (e.g. a source profile that could not be read).
        saturated: scorers whose score here is part of a saturated tie at the top (see the module
            docstring), in scorer order; those ranks are shared and carry no ordering.
        dropped: in a budget ranking (1.3), the round that dropped this model (its ``scores`` are from
            that round's sample; ``ranks`` and ``aggregate_rank`` are then empty and null); None for a
            model ranked on the last round (then the key is absent from :meth:`to_dict`).
    """

    id: str
    scores: Mapping[str, float] = field(default_factory=dict)
    ranks: Mapping[str, float] = field(default_factory=dict)
    aggregate_rank: float | None = None
    errors: Mapping[str, ErrorInfo] = field(default_factory=dict)
    error: ErrorInfo | None = None
    weights_sha256: str | None = None
    feature_dim: int | None = None
    has_source_head: bool = False
    source_profile: bool = False
    cached: bool = False
    extraction_seconds: float = 0.0
    info: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    saturated: tuple[str, ...] = ()
    dropped: Dropped | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = {
            "id": self.id,
            "scores": dict(self.scores),
            "ranks": dict(self.ranks),
            "aggregate_rank": self.aggregate_rank,
            "errors": {k: v.to_dict() for k, v in self.errors.items()},
            "error": None if self.error is None else self.error.to_dict(),
            "weights_sha256": self.weights_sha256,
            "feature_dim": self.feature_dim,
            "has_source_head": self.has_source_head,
            "source_profile": self.source_profile,
            "cached": self.cached,
            "extraction_seconds": round(self.extraction_seconds, 3),
            "info": {k: _jsonable(dict(v)) for k, v in self.info.items()},
            "notes": list(self.notes),
            "saturated": list(self.saturated),
        }
        if self.dropped is not None:
            out["dropped"] = self.dropped.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelResult:
        """Inverse of :meth:`to_dict`."""
        err = data["error"]
        return cls(
            id=str(data["id"]),
            scores={str(k): float(v) for k, v in data["scores"].items()},
            ranks={str(k): float(v) for k, v in data["ranks"].items()},
            aggregate_rank=_opt_float(data["aggregate_rank"]),
            errors={str(k): ErrorInfo.from_dict(v) for k, v in data["errors"].items()},
            error=None if err is None else ErrorInfo.from_dict(err),
            weights_sha256=None if data["weights_sha256"] is None else str(data["weights_sha256"]),
            feature_dim=_opt_int(data["feature_dim"]),
            has_source_head=bool(data["has_source_head"]),
            source_profile=bool(data["source_profile"]),
            cached=bool(data["cached"]),
            extraction_seconds=float(data["extraction_seconds"]),
            info={str(k): dict(v) for k, v in data["info"].items()},
            notes=tuple(str(n) for n in data["notes"]),
            saturated=tuple(str(n) for n in data.get("saturated", ())),  # absent before 1.1
            dropped=None if data.get("dropped") is None else Dropped.from_dict(data["dropped"]),
        )


@dataclass(frozen=True)
class ScorerInfo:
    """A scorer as it was run.

    Attributes:
        name: registry name.
        kind: ``model`` or ``set``.
        version: the scorer's version (bumped whenever its numbers change).
        params: the full parameter set used (defaults merged with overrides).
        citation: the paper.
        higher_is_better: the scorer's orientation (ranks put the best score first either way).
    """

    name: str
    kind: str
    version: str
    params: Mapping[str, Any]
    citation: str = ""
    higher_is_better: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "kind": self.kind,
            "version": self.version,
            "params": _jsonable(dict(self.params)),
            "citation": self.citation,
            "higher_is_better": self.higher_is_better,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScorerInfo:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            version=str(data["version"]),
            params=dict(data["params"]),
            citation=str(data["citation"]),
            higher_is_better=bool(data.get("higher_is_better", True)),  # absent before 1.1
        )


@dataclass(frozen=True)
class Provenance:
    """What produced the ranking.

    Attributes:
        zoorank_version: installed zoorank version.
        extractor_version: version of the feature extractor (part of feature-store keys).
        created_at: UTC timestamp, ISO 8601 with ``Z``.
        device: torch device the features were extracted on.
        torch_version: installed torch version.
    """

    zoorank_version: str
    extractor_version: str
    created_at: str
    device: str
    torch_version: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "zoorank_version": self.zoorank_version,
            "extractor_version": self.extractor_version,
            "created_at": self.created_at,
            "device": self.device,
            "torch_version": self.torch_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: str(data[k]) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class TeamResult:
    """One team an ensemble scorer selected (or ranked among the best, in an exhaustive search).

    Attributes:
        members: model ids (greedy: in selection order; exhaustive: in pool order).
        score: finite team score, higher is better.
        terms: the per-term breakdown (OSBORN: raw ``W_D``/``W_T`` and standardised ``d``/``t`` per member,
            ``cohesion`` per member, ``pairs`` with H(a|b) and its scaled value; EEP scorers:
            ``member_leep``).
    """

    members: tuple[str, ...]
    score: float
    terms: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"members": list(self.members), "score": self.score, "terms": _jsonable(dict(self.terms))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TeamResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            members=tuple(str(m) for m in data["members"]),
            score=float(data["score"]),
            terms=dict(data["terms"]),
        )


@dataclass(frozen=True)
class EnsembleResult:
    """One ensemble scorer's team search over the ranked models.

    Attributes:
        scorer, version: the ensemble scorer and its version.
        params: its full parameter set (defaults merged with the request's overrides).
        teams: best first (greedy: one team; exhaustive: the best ``top``); empty when ``error`` is set.
        pool: the models eligible for this scorer, in ranking request order.
        ineligible: model id -> why it could not take part (``not-applicable``: no source profile or no
            head; or the validation error of its inputs). Every ranked model is in ``pool`` or here.
        members: eligible model id -> its own terms over the pool (OSBORN: W_D, W_T, d, t, sizes used).
        steps: greedy rounds: the pick, its gain and every candidate's gain.
        candidates: teams scored (exhaustive) or gains evaluated (greedy).
        seconds: wall time of the search including per-member computation.
        error: why this scorer selected no team (e.g. fewer eligible models than k), else None.
        info: pool-level diagnostics (OSBORN: solver, transport sizes and times).
    """

    scorer: str
    version: str
    params: Mapping[str, Any]
    teams: tuple[TeamResult, ...]
    pool: tuple[str, ...]
    ineligible: Mapping[str, ErrorInfo]
    members: Mapping[str, Mapping[str, Any]]
    steps: tuple[Mapping[str, Any], ...] = ()
    candidates: int = 0
    seconds: float = 0.0
    error: ErrorInfo | None = None
    info: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "scorer": self.scorer,
            "version": self.version,
            "params": _jsonable(dict(self.params)),
            "teams": [t.to_dict() for t in self.teams],
            "pool": list(self.pool),
            "ineligible": {k: v.to_dict() for k, v in self.ineligible.items()},
            "members": _jsonable(dict(self.members)),
            "steps": _jsonable(list(self.steps)),
            "candidates": self.candidates,
            "seconds": round(self.seconds, 3),
            "error": None if self.error is None else self.error.to_dict(),
            "info": _jsonable(dict(self.info)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnsembleResult:
        """Inverse of :meth:`to_dict`."""
        err = data["error"]
        return cls(
            scorer=str(data["scorer"]),
            version=str(data["version"]),
            params=dict(data["params"]),
            teams=tuple(TeamResult.from_dict(t) for t in data["teams"]),
            pool=tuple(str(m) for m in data["pool"]),
            ineligible={str(k): ErrorInfo.from_dict(v) for k, v in data["ineligible"].items()},
            members={str(k): dict(v) for k, v in data["members"].items()},
            steps=tuple(dict(s) for s in data["steps"]),
            candidates=int(data["candidates"]),
            seconds=float(data["seconds"]),
            error=None if err is None else ErrorInfo.from_dict(err),
            info=dict(data["info"]),
        )


@dataclass(frozen=True)
class EnsembleSection:
    """The ``ensembles`` section (schema 1.1): the team of k models each requested ensemble scorer selects.

    Attributes:
        k: team size; mode: ``greedy`` or ``exhaustive``.
        results: one per ensemble scorer, in request order.
        recommendation: the recommended team and its certainty (1.3); None when no scorer selected a
            team or the document predates 1.3 (then the key is absent from :meth:`to_dict`).
    """

    k: int
    mode: str
    results: tuple[EnsembleResult, ...]
    recommendation: TeamRecommendation | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = {"k": self.k, "mode": self.mode, "results": [r.to_dict() for r in self.results]}
        if self.recommendation is not None:
            out["recommendation"] = self.recommendation.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnsembleSection:
        """Inverse of :meth:`to_dict`."""
        rec = data.get("recommendation")
        return cls(
            k=int(data["k"]),
            mode=str(data["mode"]),
            results=tuple(EnsembleResult.from_dict(r) for r in data["results"]),
            recommendation=None if rec is None else TeamRecommendation.from_dict(rec),
        )


@dataclass(frozen=True)
class Candidate:
    """One ranked model's standing under resampling (schema 1.2).

    Attributes:
        id: the model.
        p_best: the fraction of resamples in which it ranks first (a tie for first shares the credit);
            over the candidates these sum to 1.
        rank_low, rank_high: the central ``level`` interval of its position over the resamples (position
            = 1 + the number of models with a strictly better aggregate rank).
    """

    id: str
    p_best: float
    rank_low: int
    rank_high: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "p_best": self.p_best, "rank_low": self.rank_low, "rank_high": self.rank_high}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        """Inverse of :meth:`to_dict`."""
        return cls(
            id=str(data["id"]),
            p_best=float(data["p_best"]),
            rank_low=int(data["rank_low"]),
            rank_high=int(data["rank_high"]),
        )


@dataclass(frozen=True)
class Recommendation:
    """The ``recommendation`` section (schema 1.2): which model to fine-tune, and how sure that is.

    Attributes:
        model: the recommended model (the ranking's first row).
        runner_up: the second ranked model, or None when only one model was ranked.
        margin: the runner-up's aggregate rank minus the recommended model's (None without a runner-up).
        confidence_set: the models that cannot be separated from the recommended one at ``level``
            (recommended first, then in ranking order).
        clear: True when the confidence set holds the recommended model alone; False is "no clear
            winner".
        level: the confidence level of the set and of the rank intervals.
        candidates: every ranked model's ``p_best`` and rank interval, in ranking order.
        method: how the uncertainty was estimated: ``name``, ``resamples``, ``seed``, ``resampled``
            (scorer -> ``out-of-fold`` or ``refit``), ``fixed`` (scorer -> why it was held at its
            full-sample value), ``seconds`` and ``budget_seconds``.
    """

    model: str
    runner_up: str | None
    margin: float | None
    confidence_set: tuple[str, ...]
    clear: bool
    level: float
    candidates: tuple[Candidate, ...]
    method: Mapping[str, Any]

    def p_best(self, model_id: str) -> float:
        """``p_best`` of a candidate (0.0 for a model that is not one)."""
        return next((c.p_best for c in self.candidates if c.id == model_id), 0.0)

    def headline(self) -> str:
        """The one-line verdict every front end shows (the CLI prints it under the table).

        >>> Recommendation("a", "b", 1.0, ("a", "b"), False, 0.95, (Candidate("a", 0.61, 1, 2),
        ...     Candidate("b", 0.39, 1, 2)), {}).headline()
        'recommended: a  p_best 0.61; cannot be separated from: b (no clear winner at 95%)'
        """
        others = [m for m in self.confidence_set if m != self.model]
        return verdict("recommended", self.model, self.p_best(self.model), others, self.level, self.method)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "model": self.model,
            "runner_up": self.runner_up,
            "margin": self.margin,
            "confidence_set": list(self.confidence_set),
            "clear": self.clear,
            "level": self.level,
            "candidates": [c.to_dict() for c in self.candidates],
            "method": _jsonable(dict(self.method)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recommendation:
        """Inverse of :meth:`to_dict`."""
        return cls(
            model=str(data["model"]),
            runner_up=None if data.get("runner_up") is None else str(data["runner_up"]),
            margin=_opt_float(data.get("margin")),
            confidence_set=tuple(str(m) for m in data["confidence_set"]),
            clear=bool(data["clear"]),
            level=float(data["level"]),
            candidates=tuple(Candidate.from_dict(c) for c in data["candidates"]),
            method=dict(data.get("method", {})),
        )


def verdict(
    what: str, chosen: str, p_best: float, others: Sequence[str], level: float, method: Mapping[str, Any]
) -> str:
    """The one wording of a recommendation's line, for a model and for a team alike.

    Args:
        what: ``recommended`` or ``recommended team``; chosen: the model or team label.
        p_best: the chosen one's ``p_best``; others: the rest of its confidence set.
        level: the confidence level; method: the recommendation's method (an empty ``resampled`` says
            the sample noise was not measured).
    """
    line = f"{what}: {chosen}  p_best {p_best:.2f}"
    if not method.get("resampled", True):
        line += " (sample noise not measured: no scorer could be rescored within the budget)"
    if others:
        return f"{line}; cannot be separated from: {', '.join(others)} (no clear winner at {level:.0%})"
    return f"{line}; a clear winner at {level:.0%}"


def team_label(members: Sequence[str]) -> str:
    """A team as the recommendation's line names it: ``a + b + c``."""
    return " + ".join(members)


@dataclass(frozen=True)
class TeamCandidate:
    """One candidate team's standing under resampling (schema 1.3).

    Attributes:
        members: the team's model ids (as the scorer's search reported them).
        score: its score on the full sample (the ensemble scorer's, higher is better).
        p_best, rank_low, rank_high: as :class:`Candidate`'s, over the candidate teams.
    """

    members: tuple[str, ...]
    score: float
    p_best: float
    rank_low: int
    rank_high: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "members": list(self.members),
            "score": self.score,
            "p_best": self.p_best,
            "rank_low": self.rank_low,
            "rank_high": self.rank_high,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TeamCandidate:
        """Inverse of :meth:`to_dict`."""
        return cls(
            members=tuple(str(m) for m in data["members"]),
            score=float(data["score"]),
            p_best=float(data["p_best"]),
            rank_low=int(data["rank_low"]),
            rank_high=int(data["rank_high"]),
        )


@dataclass(frozen=True)
class TeamRecommendation:
    """The ensembles section's ``recommendation`` (schema 1.3): which team to build, and how sure that is.

    Computed as the model recommendation is (:func:`service.pipeline.recommend.recommend_team`): the
    target sample is resampled and the candidate teams rescored with the ensemble scorer ``scorer``.

    Attributes:
        scorer: the ensemble scorer whose teams are recommended (the default ensemble scorer when it ran).
        team: the recommended team (the scorer's selected team).
        runner_up: the best other candidate team, or None when there is none.
        margin: the recommended team's full-sample score minus the runner-up's (the scorer's units).
        confidence_set: the teams that cannot be separated from the recommended one at ``level``
            (recommended first).
        clear: True when the set holds the recommended team alone; False is "no clear winner".
        level: the confidence level.
        candidates: every candidate team, best first: the search's reported teams (exhaustive) or the
            selected team and every alternative of its last greedy pick (greedy).
        method: as :attr:`Recommendation.method` (``resampled`` / ``fixed`` name the scorer).
    """

    scorer: str
    team: tuple[str, ...]
    runner_up: tuple[str, ...] | None
    margin: float | None
    confidence_set: tuple[tuple[str, ...], ...]
    clear: bool
    level: float
    candidates: tuple[TeamCandidate, ...]
    method: Mapping[str, Any]

    def p_best(self, members: Sequence[str]) -> float:
        """``p_best`` of a candidate team (0.0 for a team that is not one)."""
        return next((c.p_best for c in self.candidates if c.members == tuple(members)), 0.0)

    def headline(self) -> str:
        """The team's line, in the model recommendation's words.

        >>> ab, ac = TeamCandidate(("a", "b"), -1.0, 0.7, 1, 2), TeamCandidate(("a", "c"), -1.1, 0.3, 1, 2)
        >>> TeamRecommendation("mean_leep", ("a", "b"), ("a", "c"), 0.1, (("a", "b"), ("a", "c")), False,
        ...     0.95, (ab, ac), {}).headline()
        'recommended team: a + b  p_best 0.70; cannot be separated from: a + c (no clear winner at 95%)'
        """
        others = [team_label(t) for t in self.confidence_set if t != self.team]
        return verdict(
            "recommended team", team_label(self.team), self.p_best(self.team), others, self.level, self.method
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "scorer": self.scorer,
            "team": list(self.team),
            "runner_up": None if self.runner_up is None else list(self.runner_up),
            "margin": self.margin,
            "confidence_set": [list(t) for t in self.confidence_set],
            "clear": self.clear,
            "level": self.level,
            "candidates": [c.to_dict() for c in self.candidates],
            "method": _jsonable(dict(self.method)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TeamRecommendation:
        """Inverse of :meth:`to_dict`."""
        runner = data.get("runner_up")
        return cls(
            scorer=str(data["scorer"]),
            team=tuple(str(m) for m in data["team"]),
            runner_up=None if runner is None else tuple(str(m) for m in runner),
            margin=_opt_float(data.get("margin")),
            confidence_set=tuple(tuple(str(m) for m in t) for t in data["confidence_set"]),
            clear=bool(data["clear"]),
            level=float(data["level"]),
            candidates=tuple(TeamCandidate.from_dict(c) for c in data["candidates"]),
            method=dict(data.get("method", {})),
        )


@dataclass(frozen=True)
class BudgetRound:
    """One round of a budget ranking (1.3).

    Attributes:
        round: 0 for the first (smallest) sample, then one per growth of the sample.
        num_samples: images of the round's sample (nested: every round's sample holds the previous one).
        models: the models ranked in the round (the survivors of the previous round), in request order.
        kept: the models that go on: the round's confidence set of the recommendation, and every model
            it could not judge (no aggregate rank, or a scorer that could not be resampled).
        dropped: the models that leave here (separated from the best at ``level``).
        cost: images x models forwarded for this round (its new images times the models that needed
            features for them), counted whether or not the feature store already held them.
        note: why nothing could be dropped here, when that was so (else empty).
    """

    round: int
    num_samples: int
    models: tuple[str, ...]
    kept: tuple[str, ...]
    dropped: tuple[str, ...]
    cost: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "round": self.round,
            "num_samples": self.num_samples,
            "models": list(self.models),
            "kept": list(self.kept),
            "dropped": list(self.dropped),
            "cost": self.cost,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BudgetRound:
        """Inverse of :meth:`to_dict`."""
        return cls(
            round=int(data["round"]),
            num_samples=int(data["num_samples"]),
            models=tuple(str(m) for m in data["models"]),
            kept=tuple(str(m) for m in data["kept"]),
            dropped=tuple(str(m) for m in data["dropped"]),
            cost=int(data["cost"]),
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class BudgetSection:
    """The ``budget`` section (1.3): how a budget ranking grew its sample (``service.pipeline.budget``).

    Attributes:
        budget: the request's budget, a fraction of ``full_cost``.
        full_cost: images x models a full ranking forwards (the sample's images times the models).
        cost: images x models this ranking forwarded, over all rounds (at most ``budget * full_cost``).
        stopped: why the rounds ended: ``full-sample`` (the last round ranked the whole sample),
            ``one-model-left`` (every other model was dropped) or ``budget-spent`` (the next round did
            not fit the budget; the last round grew the sample as far as it allowed).
        level: the confidence level of the sets that decided the drops.
        rounds: the rounds, smallest sample first.
    """

    budget: float
    full_cost: int
    cost: int
    stopped: str
    level: float
    rounds: tuple[BudgetRound, ...]

    @property
    def cost_ratio(self) -> float:
        """``cost / full_cost`` (0.0 when the full cost is 0)."""
        return self.cost / self.full_cost if self.full_cost else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "budget": self.budget,
            "full_cost": self.full_cost,
            "cost": self.cost,
            "cost_ratio": round(self.cost_ratio, 6),
            "stopped": self.stopped,
            "level": self.level,
            "rounds": [r.to_dict() for r in self.rounds],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BudgetSection:
        """Inverse of :meth:`to_dict` (``cost_ratio`` is derived)."""
        return cls(
            budget=float(data["budget"]),
            full_cost=int(data["full_cost"]),
            cost=int(data["cost"]),
            stopped=str(data["stopped"]),
            level=float(data["level"]),
            rounds=tuple(BudgetRound.from_dict(r) for r in data["rounds"]),
        )


@dataclass(frozen=True)
class Ranking:
    """A complete ranking: the dataset, one row per model (best first), the scorers, the provenance.

    Attributes:
        dataset: the target dataset as ranked.
        models: rows sorted by aggregate rank (best first; models without any score last).
        scorers: the scorers that were run, in the order requested.
        provenance: versions and timestamp.
        schema_version: :data:`SCHEMA_VERSION`.
        ensembles: the selected teams when the request asked for them (1.1), else None (then the key is
            absent from :meth:`to_dict`).
        recommendation: the recommended model and its certainty (1.2); None when no model was ranked or
            the document predates 1.2 (then the key is absent from :meth:`to_dict`).
        budget: the rounds of a budget ranking (1.3); None for a full ranking (then the key is absent).
    """

    dataset: DatasetInfo
    models: tuple[ModelResult, ...]
    scorers: tuple[ScorerInfo, ...]
    provenance: Provenance
    schema_version: str = SCHEMA_VERSION
    ensembles: EnsembleSection | None = None
    recommendation: Recommendation | None = None
    budget: BudgetSection | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the documented wire format; see :data:`RANKING_JSON_SCHEMA`)."""
        out = {
            "schema_version": self.schema_version,
            "dataset": self.dataset.to_dict(),
            "models": [m.to_dict() for m in self.models],
            "scorers": [s.to_dict() for s in self.scorers],
            "provenance": self.provenance.to_dict(),
        }
        if self.ensembles is not None:
            out["ensembles"] = self.ensembles.to_dict()
        if self.recommendation is not None:
            out["recommendation"] = self.recommendation.to_dict()
        if self.budget is not None:
            out["budget"] = self.budget.to_dict()
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        """Deterministic JSON text (keys in schema order; no NaN)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ranking:
        """Inverse of :meth:`to_dict` (e.g. for clients of the HTTP API)."""
        return cls(
            schema_version=str(data["schema_version"]),
            dataset=DatasetInfo.from_dict(data["dataset"]),
            models=tuple(ModelResult.from_dict(m) for m in data["models"]),
            scorers=tuple(ScorerInfo.from_dict(s) for s in data["scorers"]),
            provenance=Provenance.from_dict(data["provenance"]),
            ensembles=None if data.get("ensembles") is None else EnsembleSection.from_dict(data["ensembles"]),
            recommendation=(
                None
                if data.get("recommendation") is None
                else Recommendation.from_dict(data["recommendation"])
            ),
            budget=None if data.get("budget") is None else BudgetSection.from_dict(data["budget"]),
        )

    def scorer_names(self) -> list[str]:
        """Names of the scorers, in request order."""
        return [s.name for s in self.scorers]

    def to_csv(self) -> str:
        """One row per model, best first.

        Columns: ``position, id, aggregate_rank``, then ``<scorer>`` and ``<scorer>_rank`` per scorer,
        then ``weights_sha256, feature_dim, errors`` (``scorer=code`` pairs joined by ``;``) and
        ``saturated`` (scorer names joined by ``;``). Missing values are empty cells; floats use ``repr``
        precision so nothing is lost.
        """
        names = self.scorer_names()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        header = ["position", "id", "aggregate_rank"]
        for n in names:
            header += [n, f"{n}_rank"]
        header += ["weights_sha256", "feature_dim", "errors", "saturated"]
        writer.writerow(header)
        for pos, m in enumerate(self.models, start=1):
            row: list[Any] = [pos, m.id, _cell(m.aggregate_rank)]
            for n in names:
                row += [_cell(m.scores.get(n)), _cell(m.ranks.get(n))]
            errs = [f"{k}={v.code}" for k, v in m.errors.items()]
            if m.error is not None:
                errs.insert(0, f"model={m.error.code}")
            row += [m.weights_sha256 or "", _cell(m.feature_dim), ";".join(errs), ";".join(m.saturated)]
            writer.writerow(row)
        return buf.getvalue()


def _cell(value: float | int | None) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _jsonable(value: Any) -> Any:
    """Diagnostics and params as plain JSON values (tuples -> lists, numpy scalars -> floats, NaN -> None)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | str | int) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    tolist = getattr(value, "tolist", None)
    if callable(tolist):  # numpy / torch scalars and arrays
        return _jsonable(tolist())
    return str(value)


def _obj(props: Mapping[str, Any], required: Sequence[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": dict(props),
        "required": list(props) if required is None else list(required),
        "additionalProperties": False,
    }


_NUM = {"type": "number"}
_STR = {"type": "string"}
_INT = {"type": "integer"}
_ERROR = _obj({"code": _STR, "message": _STR})

#: JSON Schema (draft 2020-12) of :meth:`Ranking.to_dict`; every field is required, nullable ones say so.
RANKING_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "zoorank ranking",
    **_obj(
        {
            "schema_version": {"const": SCHEMA_VERSION},
            "dataset": _obj(
                {
                    "reference": _STR,
                    "fingerprint": _STR,
                    "reader": _STR,
                    "num_samples": _INT,
                    "num_classes": _INT,
                    "classes": {"type": "array", "items": _STR},
                    "class_counts": {"type": "object", "additionalProperties": _INT},
                    "corrupt": _INT,
                    "sampling": _obj(
                        {
                            "strategy": _STR,
                            "max_per_class": {"type": ["integer", "null"]},
                            "max_samples": {"type": ["integer", "null"]},
                            "seed": _INT,
                            "available": _INT,
                        }
                    ),
                }
            ),
            "models": {
                "type": "array",
                "items": _obj(
                    {
                        "id": _STR,
                        "scores": {"type": "object", "additionalProperties": _NUM},
                        "ranks": {"type": "object", "additionalProperties": _NUM},
                        "aggregate_rank": {"type": ["number", "null"]},
                        "errors": {"type": "object", "additionalProperties": _ERROR},
                        "error": {"oneOf": [_ERROR, {"type": "null"}]},
                        "weights_sha256": {"type": ["string", "null"]},
                        "feature_dim": {"type": ["integer", "null"]},
                        "has_source_head": {"type": "boolean"},
                        "source_profile": {"type": "boolean"},
                        "cached": {"type": "boolean"},
                        "extraction_seconds": _NUM,
                        "info": {"type": "object", "additionalProperties": {"type": "object"}},
                        "notes": {"type": "array", "items": _STR},
                        "saturated": {"type": "array", "items": _STR},
                    }
                ),
            },
            "scorers": {
                "type": "array",
                "items": _obj(
                    {
                        "name": _STR,
                        "kind": {"enum": ["model", "set"]},
                        "version": _STR,
                        "params": {"type": "object"},
                        "citation": _STR,
                        "higher_is_better": {"type": "boolean"},
                    }
                ),
            },
            "provenance": _obj(
                {
                    "zoorank_version": _STR,
                    "extractor_version": _STR,
                    "created_at": _STR,
                    "device": _STR,
                    "torch_version": _STR,
                }
            ),
        }
    ),
}

_TEAM = _obj({"members": {"type": "array", "items": _STR}, "score": _NUM, "terms": {"type": "object"}})
#: The optional ``ensembles`` section (1.1); documents without it (1.0 and rankings without ensemble
#: options) stay valid because it is not in the top-level ``required`` list.
ENSEMBLES_JSON_SCHEMA: dict[str, Any] = _obj(
    {
        "k": _INT,
        "mode": {"enum": ["greedy", "exhaustive"]},
        "results": {
            "type": "array",
            "items": _obj(
                {
                    "scorer": _STR,
                    "version": _STR,
                    "params": {"type": "object"},
                    "teams": {"type": "array", "items": _TEAM},
                    "pool": {"type": "array", "items": _STR},
                    "ineligible": {"type": "object", "additionalProperties": _ERROR},
                    "members": {"type": "object", "additionalProperties": {"type": "object"}},
                    "steps": {"type": "array", "items": {"type": "object"}},
                    "candidates": _INT,
                    "seconds": _NUM,
                    "error": {"oneOf": [_ERROR, {"type": "null"}]},
                    "info": {"type": "object"},
                }
            ),
        },
    }
)
RANKING_JSON_SCHEMA["properties"]["ensembles"] = ENSEMBLES_JSON_SCHEMA

#: The optional ``recommendation`` section (1.2); not in the top-level ``required`` list, so 1.0 and 1.1
#: documents and rankings in which no model was ranked stay valid.
RECOMMENDATION_JSON_SCHEMA: dict[str, Any] = _obj(
    {
        "model": _STR,
        "runner_up": {"type": ["string", "null"]},
        "margin": {"type": ["number", "null"]},
        "confidence_set": {"type": "array", "items": _STR, "minItems": 1},
        "clear": {"type": "boolean"},
        "level": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "candidates": {
            "type": "array",
            "items": _obj(
                {
                    "id": _STR,
                    "p_best": {"type": "number", "minimum": 0, "maximum": 1},
                    "rank_low": _INT,
                    "rank_high": _INT,
                }
            ),
        },
        "method": {"type": "object"},
    }
)
RANKING_JSON_SCHEMA["properties"]["recommendation"] = RECOMMENDATION_JSON_SCHEMA

_MEMBERS = {"type": "array", "items": _STR, "minItems": 1}
#: The ensembles section's optional ``recommendation`` (1.3): not required, so 1.1 and 1.2 sections and
#: sections in which no scorer selected a team stay valid.
TEAM_RECOMMENDATION_JSON_SCHEMA: dict[str, Any] = _obj(
    {
        "scorer": _STR,
        "team": _MEMBERS,
        "runner_up": {"oneOf": [_MEMBERS, {"type": "null"}]},
        "margin": {"type": ["number", "null"]},
        "confidence_set": {"type": "array", "items": _MEMBERS, "minItems": 1},
        "clear": {"type": "boolean"},
        "level": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "candidates": {
            "type": "array",
            "items": _obj(
                {
                    "members": _MEMBERS,
                    "score": _NUM,
                    "p_best": {"type": "number", "minimum": 0, "maximum": 1},
                    "rank_low": _INT,
                    "rank_high": _INT,
                }
            ),
        },
        "method": {"type": "object"},
    }
)
ENSEMBLES_JSON_SCHEMA["properties"]["recommendation"] = TEAM_RECOMMENDATION_JSON_SCHEMA
#: A dropped model's round (1.3, budget rankings): optional on a model row, so every other row and every
#: earlier document stay valid.
DROPPED_JSON_SCHEMA: dict[str, Any] = _obj(
    {
        "round": {"type": "integer", "minimum": 0},
        "num_samples": _INT,
        "ranks": {"type": "object", "additionalProperties": _NUM},
        "aggregate_rank": {"type": ["number", "null"]},
    }
)
RANKING_JSON_SCHEMA["properties"]["models"]["items"]["properties"]["dropped"] = DROPPED_JSON_SCHEMA
_IDS = {"type": "array", "items": _STR}
#: The optional ``budget`` section (1.3): absent from full rankings and earlier documents.
BUDGET_JSON_SCHEMA: dict[str, Any] = _obj(
    {
        "budget": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "full_cost": {"type": "integer", "minimum": 0},
        "cost": {"type": "integer", "minimum": 0},
        "cost_ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "stopped": {"enum": ["full-sample", "one-model-left", "budget-spent"]},
        "level": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "rounds": {
            "type": "array",
            "minItems": 1,
            "items": _obj(
                {
                    "round": {"type": "integer", "minimum": 0},
                    "num_samples": _INT,
                    "models": _IDS,
                    "kept": _IDS,
                    "dropped": _IDS,
                    "cost": {"type": "integer", "minimum": 0},
                    "note": _STR,
                }
            ),
        },
    }
)
RANKING_JSON_SCHEMA["properties"]["budget"] = BUDGET_JSON_SCHEMA
