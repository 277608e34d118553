"""What the dashboard pages show, computed from the service's own objects (no second copy of the logic).

* :class:`RankingView`: a :class:`~service.pipeline.schema.Ranking` (parsed with ``Ranking.from_dict``
  from the document the job engine stored) as a sortable table, a colour per cell, the rank-chart lines
  and the scorer-agreement matrix (Kendall's tau-b from :func:`estimators.evaluation.kendall_tau`);
* :class:`JobPanel`: a :class:`~service.jobs.models.JobView` plus the extraction speed and ETA of each model,
  measured from the job's own event stream (:meth:`service.jobs.engine.JobEngine.events`): Redis stream ids
  begin with the millisecond the event was written, so replaying the stream gives the speed exactly,
  also for a page opened half-way through a job.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from estimators.errors import ZoorankError
from estimators.evaluation import kendall_tau
from service.catalogue import scorer_reliability
from service.jobs.models import JobView
from service.pipeline.aggregate import SATURATED_LEGEND, SATURATED_MARK
from service.pipeline.schema import ModelResult, Ranking, Recommendation, TeamRecommendation
from service.ui import charts

__all__ = [
    "AGGREGATE",
    "JobPanel",
    "ModelRate",
    "RateMeter",
    "RankingView",
    "agreement",
    "model_rates",
    "stream_millis",
]

#: Sort key of the aggregate-rank column (the default order of a ranking).
AGGREGATE = "aggregate"
_SORT_KEYS_FIXED = (AGGREGATE, "id")


# --- ranking ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One table cell: a scorer's score and rank for a model, or why there is none.

    Attributes:
        score, rank: the values (None when the scorer did not score the model).
        colour: background (1 = best in the column ... 0 = worst, as a colour).
        error_code, error_message: why there is no score.
        saturated: the rank is part of a saturated tie (no ordering among those models).
    """

    score: float | None
    rank: float | None
    colour: str
    error_code: str | None = None
    error_message: str | None = None
    saturated: bool = False


@dataclass(frozen=True)
class Row:
    """One model's table row: original position (1 = best aggregate), the result and its cells."""

    position: int
    model: ModelResult
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class TauCell:
    """Kendall's tau-b between two scorers over the models both scored (None: undefined, see ``why``)."""

    value: float | None
    common: int
    why: str = ""


def agreement(ranking: Ranking) -> list[list[TauCell]]:
    """Kendall's tau-b between every pair of scorers, over the models both of them scored.

    Ranks are compared (negated, so larger is better for both), which makes each scorer's orientation
    irrelevant: tau of the ranks equals tau of the scores after orienting them. A pair with fewer than two
    common models, or where one scorer ranks every common model the same, has no tau (None, with why).

    Returns:
        ``matrix[i][j]`` for scorers ``i, j`` in :meth:`Ranking.scorer_names` order (symmetric).
    """

    names = ranking.scorer_names()
    ranks = {n: {m.id: float(m.ranks[n]) for m in ranking.models if n in m.ranks} for n in names}
    out: list[list[TauCell]] = [[TauCell(None, 0)] * len(names) for _ in names]
    for i, a in enumerate(names):
        for j in range(i, len(names)):
            b = names[j]
            common = sorted(set(ranks[a]) & set(ranks[b]))
            cell: TauCell
            if len(common) < 2:
                cell = TauCell(None, len(common), "fewer than two models scored by both")
            else:
                try:
                    tau = kendall_tau({m: -ranks[a][m] for m in common}, {m: -ranks[b][m] for m in common})
                    cell = TauCell(tau, len(common))
                except ZoorankError as exc:  # one scorer ties every model: tau is undefined
                    cell = TauCell(None, len(common), f"{exc.code}: {exc.message}")
            out[i][j] = out[j][i] = cell
    return out


#: What a scorer's value is, where its name does not say it (the ranking page's column headers).
SCORER_LABELS: dict[str, str] = {
    "probe_cv": "cross-validated linear-probe accuracy",
    "ridge_loo": "leave-one-out linear-probe (ridge) accuracy",
}


@dataclass
class RankingView:
    """A ranking prepared for the ranking page.

    Attributes:
        ranking_id: the job / ranking id (the API's ``/v1/rankings/{id}``).
        ranking: the parsed document.
        document: the raw document as stored (the downloads serve exactly this).
        sort, descending: the table order asked for.
    """

    ranking_id: str
    ranking: Ranking
    document: Mapping[str, Any]
    sort: str = AGGREGATE
    descending: bool = False
    rows: list[Row] = field(init=False)
    _reliability: dict[str, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._reliability = scorer_reliability()
        if self.sort not in self.sort_keys():
            self.sort = AGGREGATE
        self.rows = self._sorted(self._rows())

    @classmethod
    def from_json(
        cls, ranking_id: str, text: str, *, sort: str = AGGREGATE, descending: bool = False
    ) -> RankingView:
        """Parse the stored document (``JobEngine.ranking_json``)."""
        document = json.loads(text)
        return cls(ranking_id, Ranking.from_dict(document), document, sort, descending)

    @property
    def scorer_names(self) -> list[str]:
        """Scorers in request order (the table's and the chart's column order)."""
        return self.ranking.scorer_names()

    @property
    def recommendation(self) -> Recommendation | None:
        """The ranking's recommendation (None for documents before schema 1.2)."""
        return self.ranking.recommendation

    @property
    def unclear_with(self) -> list[str]:
        """The models the recommended one cannot be separated from (empty for a clear winner)."""
        rec = self.recommendation
        return [] if rec is None else [m for m in rec.confidence_set if m != rec.model]

    @property
    def team_recommendation(self) -> TeamRecommendation | None:
        """The ensembles section's recommended team (None without a section or before schema 1.3)."""
        return None if self.ranking.ensembles is None else self.ranking.ensembles.recommendation

    @property
    def team_unclear_with(self) -> list[tuple[str, ...]]:
        """The teams the recommended one cannot be separated from (empty for a clear winner)."""
        rec = self.team_recommendation
        return [] if rec is None else [t for t in rec.confidence_set if t != rec.team]

    @property
    def saturated_mark(self) -> str:
        """The mark of a saturated tie, as the CLI prints it."""
        return SATURATED_MARK

    @property
    def ties_legend(self) -> str:
        """The legend of :attr:`saturated_mark`, in the CLI's words (None-free; shown when a tie exists)."""
        return f"{SATURATED_MARK} = {SATURATED_LEGEND}"

    @property
    def has_saturated(self) -> bool:
        """Whether any cell is in a saturated tie."""
        return any(m.saturated for m in self.ranking.models)

    def scorer_label(self, name: str) -> str | None:
        """What a scorer's value is, in words, where its name does not say it."""
        return SCORER_LABELS.get(name)

    def reliability(self, name: str) -> float | None:
        """The scorer's benchmark reliability: its mean tau_w against the fine-tune truth (None: unknown)."""
        return self._reliability.get(name)

    def sort_keys(self) -> tuple[str, ...]:
        """Columns the table can be sorted by."""
        return (*_SORT_KEYS_FIXED, *self.scorer_names)

    def _rows(self) -> list[Row]:
        names = self.scorer_names
        scored = {n: sum(1 for m in self.ranking.models if n in m.ranks) for n in names}
        rows = []
        for position, m in enumerate(self.ranking.models, start=1):
            cells = []
            for n in names:
                rank = m.ranks.get(n)
                t = None
                if rank is not None:
                    t = 1.0 if scored[n] <= 1 else 1.0 - (float(rank) - 1.0) / (scored[n] - 1)
                err = m.errors.get(n)
                cells.append(
                    Cell(
                        score=m.scores.get(n),
                        rank=None if rank is None else float(rank),
                        colour=charts.quality_colour(t),
                        error_code=None if err is None else err.code,
                        error_message=None if err is None else err.message,
                        saturated=n in m.saturated,
                    )
                )
            rows.append(Row(position, m, tuple(cells)))
        return rows

    def _sorted(self, rows: list[Row]) -> list[Row]:
        """Rows in the asked order; models without a value go last in both directions, ties by position."""
        if self.sort == "id":
            return sorted(rows, key=lambda r: r.model.id, reverse=self.descending)
        if self.sort == AGGREGATE:
            values = {r.position: r.model.aggregate_rank for r in rows}
        else:
            values = {r.position: r.model.ranks.get(self.sort) for r in rows}
        present = [r for r in rows if values[r.position] is not None]
        missing = [r for r in rows if values[r.position] is None]
        present.sort(key=lambda r: (float(values[r.position] or 0.0), r.position), reverse=self.descending)
        return present + missing

    def rank_chart(self, compact: bool = False) -> Markup:
        """One line per model (in ranking order) across the scorers and the aggregate (``compact``: the
        phone-width form, see :func:`service.ui.charts.rank_chart`)."""
        axes = [*self.scorer_names, "aggregate"]
        lines = [
            charts.RankLine(m.id, [*(m.ranks.get(n) for n in self.scorer_names), m.aggregate_rank])
            for m in self.ranking.models
        ]
        return charts.rank_chart(axes, lines, compact=compact)

    def agreement(self) -> list[list[TauCell]]:
        """Kendall's tau between scorers (see :func:`agreement`)."""
        return agreement(self.ranking)

    def agreement_chart(self, compact: bool = False) -> Markup:
        """The agreement matrix as SVG (``compact``: the phone-width form)."""
        matrix = self.agreement()
        values = [[c.value for c in row] for row in matrix]
        return charts.tau_matrix(self.scorer_names, values, compact=compact)

    def model(self, model_id: str) -> tuple[int, ModelResult] | None:
        """``(position, result)`` of one model, or None."""
        for position, m in enumerate(self.ranking.models, start=1):
            if m.id == model_id:
                return position, m
        return None


# --- jobs ---------------------------------------------------------------------------------------


def stream_millis(stream_id: str) -> int:
    """The millisecond timestamp a Redis stream id (``<ms>-<seq>``) starts with."""
    return int(stream_id.split("-", 1)[0])


@dataclass(frozen=True)
class ModelRate:
    """Extraction speed of one model so far.

    Attributes:
        images_per_s: images through the model per second since its extraction started (None: no
            measurement yet).
        eta_s: seconds left at that speed (None: unknown or finished).
    """

    images_per_s: float | None
    eta_s: float | None


#: Model statuses whose events measure extraction (a model's later events, scoring and done, do not).
_EXTRACTION_STATUSES = frozenset({"extracting", "extracted"})


class RateMeter:
    """Speed and ETA per model from ``progress`` events (``status=extracting``, ``done``/``total``).

    Feed it events as they are read (:meth:`feed`); it keeps three points per model, so a long job costs
    constant memory. The speed is measured over extraction events only: from the first ``extracting``
    event of a model (extraction start, so time spent waiting in the queue does not count) to its latest
    ``extracting`` or ``extracted`` event (so the time spent scoring afterwards does not count either).
    """

    def __init__(self) -> None:
        self._first: dict[str, tuple[int, int]] = {}
        self._extract: dict[str, tuple[int, int]] = {}
        self._last: dict[str, tuple[int, int, str]] = {}

    def feed(self, events: Iterable[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Take ``(stream id, event name, data)`` tuples in stream order."""
        for stream_id, name, data in events:
            model = data.get("model")
            if name != "progress" or not isinstance(model, str):
                continue
            status = str(data.get("status", ""))
            done, total = int(data.get("done", 0) or 0), int(data.get("total", 0) or 0)
            ms = stream_millis(stream_id)
            if status == "extracting" and model not in self._first:
                self._first[model] = (ms, done)
            if status in _EXTRACTION_STATUSES and model in self._first:
                self._extract[model] = (ms, done)
            self._last[model] = (done, total, status)

    def rates(self) -> dict[str, ModelRate]:
        """The current speed and ETA of every model seen."""
        out: dict[str, ModelRate] = {}
        for model, (done, total, status) in self._last.items():
            rate: float | None = None
            if model in self._first and model in self._extract:
                (t0, d0), (t1, d1) = self._first[model], self._extract[model]
                if t1 > t0 and d1 > d0:
                    rate = (d1 - d0) / ((t1 - t0) / 1000.0)
            eta: float | None = None
            if rate is not None and status == "extracting" and total > done:
                eta = (total - done) / rate
            out[model] = ModelRate(rate, eta)
        return out


def model_rates(events: Iterable[tuple[str, str, Mapping[str, Any]]]) -> dict[str, ModelRate]:
    """:class:`RateMeter` over a list of events, in one call."""
    meter = RateMeter()
    meter.feed(events)
    return meter.rates()


def format_duration(seconds: float | None) -> str:
    """``1 h 02 min``, ``3 min 05 s``, ``12 s``; an em dash when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    s = max(0, round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


@dataclass(frozen=True)
class JobPanel:
    """The live part of the job page.

    Attributes:
        job: the job as the engine reports it.
        rates: extraction speed per model id.
    """

    job: JobView
    rates: Mapping[str, ModelRate]

    @property
    def percent(self) -> int:
        """Overall progress in whole percent: the stages' done/total summed (100 only when finished)."""
        stages = self.job.progress.stages.values()
        total = sum(s.total for s in stages)
        done = sum(min(s.done, s.total) for s in stages)
        if self.job.status.value == "succeeded":
            return 100
        return 0 if total == 0 else min(99, math.floor(100 * done / total))

    def stage_percent(self, name: str) -> int:
        """Percent done of one stage (``extract``, ``score``, ``finalise``)."""
        stage = self.job.progress.stages.get(name)
        if stage is None or stage.total == 0:
            return 100 if self.job.status.value == "succeeded" else 0
        return math.floor(100 * min(stage.done, stage.total) / stage.total)

    @property
    def stage_names(self) -> Sequence[str]:
        """Stages in pipeline order."""
        return [n for n in ("extract", "score", "finalise") if n in self.job.progress.stages]

    @property
    def finished(self) -> bool:
        """Whether the job has ended (succeeded, failed or cancelled)."""
        return self.job.status.terminal
