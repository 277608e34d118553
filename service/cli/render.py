"""Terminal rendering of rankings and ensemble sections (rich tables); no computation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from service.pipeline.aggregate import SATURATED_LEGEND, SATURATED_MARK
from service.pipeline.schema import EnsembleSection, ModelResult, Ranking
from service.text import format_score, printable

if TYPE_CHECKING:
    from rich.table import Table


def _fmt_rank(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def render_table(ranking: Ranking) -> Table:
    """The ranking as a rich table: one row per model, best first, ``score (rank)`` per scorer.

    Cells without a score show the error code (``not-applicable``, ``degenerate-input``, ...); a cell in
    a saturated tie carries :data:`SATURATED_MARK`; lower-is-better scorers carry ``↓`` in their
    header. The caption carries the dataset fingerprint, sample size and how the aggregate rank is
    defined. Every user-supplied string (dataset reference, model ids) is plain text, never markup.
    """

    ds = ranking.dataset
    saturated = any(m.saturated for m in ranking.models)
    caption = (
        f"{ds.num_samples} images, {ds.num_classes} classes, fingerprint {ds.fingerprint[:12]}; "
        "cells: score (rank), rank 1 = best; agg = mean of per-scorer ranks"
    )
    if saturated:
        caption += f"; {SATURATED_MARK} = {SATURATED_LEGEND}"
    if any(not s.higher_is_better for s in ranking.scorers):
        caption += "; ↓ = lower score is better"
    if any(m.dropped is not None for m in ranking.models):
        caption += "; dropped: left at a smaller sample of the budget (scores and ranks there)"
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
            _agg_cell(m),
        ]
        ranks = m.ranks if m.dropped is None else m.dropped.ranks
        for name in names:
            if name in m.scores:
                mark = SATURATED_MARK if name in m.saturated else ""
                rank = f" ({_fmt_rank(ranks[name])})" if name in ranks else ""
                row.append(Text(f"{format_score(m.scores[name])}{mark}{rank}"))
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


def _agg_cell(m: ModelResult) -> Text:
    if m.dropped is not None:
        return Text(f"dropped at {m.dropped.num_samples}", style="dim")
    return Text("-" if m.aggregate_rank is None else f"{m.aggregate_rank:.2f}")


def budget_line(ranking: Ranking) -> str | None:
    """How a budget ranking grew its sample (None for a full ranking): rounds, drops, cost."""
    section = ranking.budget
    if section is None:
        return None
    n = len(section.rounds)
    sizes = ", ".join(str(r.num_samples) for r in section.rounds)
    dropped = sum(len(r.dropped) for r in section.rounds)
    return (
        f"budget {section.budget:g}: {n} round{'s' if n != 1 else ''} ({sizes} images), {dropped} model"
        f"{'s' if dropped != 1 else ''} dropped, cost {100 * section.cost_ratio:.1f} % of a full ranking "
        f"({section.stopped.replace('-', ' ')})"
    )


def recommendation_line(ranking: Ranking) -> str | None:
    """The line under the table: the recommended model, its ``p_best`` and the models it cannot be
    separated from (None when the ranking has no recommendation)."""
    rec = ranking.recommendation
    return None if rec is None else printable(rec.headline())


def team_line(section: EnsembleSection) -> str | None:
    """The line under the ensembles tables: the recommended team, its ``p_best`` and the teams it cannot
    be separated from, in the model recommendation's words (None when no scorer selected a team)."""
    rec = section.recommendation
    return None if rec is None else printable(f"{rec.headline()} [by {rec.scorer}]")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"
    return str(value)


def render_tables(section: EnsembleSection) -> list[Table]:
    """The section as rich tables: one row per scorer (its best team), then each best team's terms.

    Every model id is plain text (never markup).
    """
    summary = Table(
        title=Text(f"zoorank ensembles: k={section.k}, {section.mode}"),
        caption=Text(
            "score: higher is better; pool: eligible models; not eligible: how many were left out (the "
            "reasons are printed as notes and are in the JSON)"
        ),
        title_justify="left",
        caption_justify="left",
    )
    for column in ("scorer", "team", "score", "pool", "not eligible", "seconds"):
        summary.add_column(column, justify="left" if column in ("scorer", "team") else "right")
    out = [summary]
    for result in section.results:
        if result.error is not None or not result.teams:
            why = result.error.code if result.error is not None else "no team"
            team_cell = Text(f"{why}: {result.error.message if result.error else ''}", style="red")
            score_cell = Text("-")
        else:
            best = result.teams[0]
            team_cell = Text(", ".join(best.members))
            score_cell = Text(_fmt(best.score))
        summary.add_row(
            Text(result.scorer),
            team_cell,
            score_cell,
            Text(str(len(result.pool))),
            Text(str(len(result.ineligible))),
            Text(f"{result.seconds:.1f}"),
        )
        for team in result.teams[:1]:  # the selected team; the JSON output carries every reported team
            terms = Table(
                title=Text(f"{result.scorer}: terms of the selected team (score {_fmt(team.score)})"),
                title_justify="left",
            )
            terms.add_column("model")
            if result.scorer == "osborn" or "W_D" in team.terms:
                for column in ("W_D", "W_T", "d", "t", "cohesion"):
                    terms.add_column(column, justify="right")
                for m in team.members:
                    terms.add_row(
                        Text(m),
                        *(
                            Text(_fmt(team.terms.get(c, {}).get(m, "-")))
                            for c in ("W_D", "W_T", "d", "t", "cohesion")
                        ),
                    )
            else:
                terms.add_column("LEEP", justify="right")
                for m in team.members:
                    terms.add_row(Text(m), Text(_fmt(team.terms.get("member_leep", {}).get(m, "-"))))
            out.append(terms)
    return out
