"""Server-side SVG charts of the dashboard: class counts, rank lines, scorer agreement, colour scales.

Each function returns a complete ``<svg>`` element as :class:`markupsafe.Markup` (safe to embed in a
template; every label is escaped here). Charts carry a ``<title>`` per mark, so hovering shows the exact
value, and an ``aria-label`` summary; colour never carries information alone (values are printed too).
No script and no external resource: the pages stay readable without JavaScript.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = [
    "PALETTE",
    "bar_chart",
    "diverging_colour",
    "quality_colour",
    "rank_chart",
    "tau_matrix",
]

#: Categorical colours for lines (Tableau 10 then a darker set); cycled when there are more models.
PALETTE: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22", "#d62728",
)  # fmt: skip

_FONT = "font-family='system-ui, sans-serif'"


def _fmt(value: float) -> str:
    """A coordinate with two decimals (SVG needs no more)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _lerp(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


_BAD = (244, 165, 130)  # pale red-orange
_MID = (247, 247, 247)
_GOOD = (146, 197, 222)  # pale blue (blue/orange reads for red-green colour blindness too)
_NEG = (202, 0, 32)
_POS = (5, 113, 176)


def quality_colour(t: float | None) -> str:
    """Background of a table cell: ``t`` = 1 best ... 0 worst in its column (None: no colour).

    Light tints, so black text stays readable on every cell.
    """
    if t is None or not math.isfinite(t):
        return "transparent"
    t = min(1.0, max(0.0, t))
    return _hex(_lerp(_BAD, _MID, t * 2) if t < 0.5 else _lerp(_MID, _GOOD, (t - 0.5) * 2))


def diverging_colour(value: float | None) -> str:
    """Colour of a correlation in [-1, 1]: red (-1), white (0), blue (+1); grey when undefined."""
    if value is None or not math.isfinite(value):
        return "#e0e0e0"
    v = min(1.0, max(-1.0, value))
    return _hex(_lerp(_MID, _POS, v) if v >= 0 else _lerp(_MID, _NEG, -v))


def _text_on(background: str) -> str:
    """Black or white text, whichever contrasts more with ``background`` (``#rrggbb``)."""
    r, g, b = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000" if luminance > 140 else "#fff"


def bar_chart(counts: Mapping[str, int], *, width: int = 560, max_bars: int = 60) -> Markup:
    """Horizontal bars, one per class, in the given order, with the count printed after each bar.

    Args:
        counts: class name -> images.
        width: SVG width in px (the height follows the number of bars).
        max_bars: classes drawn; the rest are summarised in one last line.
    """
    items = list(counts.items())
    shown, hidden = items[:max_bars], items[max_bars:]
    bar_h, gap, label_w, value_w = 16, 4, 150, 60
    rows = len(shown) + (1 if hidden else 0)
    height = max(1, rows) * (bar_h + gap) + gap
    top = max((c for _, c in shown), default=0)
    plot_w = width - label_w - value_w
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart bars' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='images per class, {len(items)} classes'>"
    ]
    for i, (name, count) in enumerate(shown):
        y = gap + i * (bar_h + gap)
        w = 0.0 if top == 0 else plot_w * count / top
        label = escape(name if len(name) <= 22 else name[:21] + "…")
        parts.append(
            f"<g><title>{escape(name)}: {count}</title>"
            f"<text x='{label_w - 6}' y='{y + bar_h - 4}' text-anchor='end' font-size='12' {_FONT}>"
            f"{label}</text>"
            f"<rect x='{label_w}' y='{y}' width='{_fmt(w)}' height='{bar_h}' fill='#4e79a7'/>"
            f"<text x='{_fmt(label_w + w + 4)}' y='{y + bar_h - 4}' font-size='12' {_FONT}>{count}</text></g>"
        )
    if hidden:
        y = gap + len(shown) * (bar_h + gap)
        rest = sum(c for _, c in hidden)
        parts.append(
            f"<text x='{label_w}' y='{y + bar_h - 4}' font-size='12' font-style='italic' {_FONT}>"
            f"… {len(hidden)} more classes, {rest} images</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class RankLine:
    """One model's line of :func:`rank_chart`.

    Attributes:
        model: model id.
        ranks: rank per axis (None where the scorer did not score the model: the line breaks there).
    """

    model: str
    ranks: Sequence[float | None]


#: Width of the compact charts (a 390-px phone, less the page margins, shows them at their own size).
COMPACT_WIDTH = 350
#: Legend lines of a compact rank chart (below the plot); the rest are summarised in one line.
_COMPACT_LEGEND = 12


def rank_chart(
    axes: Sequence[str], lines: Sequence[RankLine], *, width: int = 760, compact: bool = False
) -> Markup:
    """Rank 1 at the top, one x position per axis (scorers, then the aggregate), one line per model.

    Lines are drawn in the given order (best model last, so it is on top); the legend on the right lists
    models in that order with their colour. A missing rank breaks the line and leaves the point out.
    ``compact`` draws it :data:`COMPACT_WIDTH` px wide with the legend below the plot (``width`` is then
    ignored), so that a phone shows it at its own size, text at full size, instead of scaled down.
    """
    n = max((len(line.ranks) for line in lines), default=0)
    if not axes or not lines or n == 0:
        return Markup("<p class='muted'>Nothing to chart: no model was scored.</p>")
    worst = max((r for line in lines for r in line.ranks if r is not None), default=1.0)
    worst = max(worst, 1.0)
    left, right, top, bottom = 110, 230, 24, 80
    row_h = 22
    legend_rows = 0
    if compact:
        width, left, right = COMPACT_WIDTH, 84, 16
        legend_rows = min(len(lines), _COMPACT_LEGEND) + (1 if len(lines) > _COMPACT_LEGEND else 0)
    plot_h = max(140, int((worst - 1) * row_h) + 1)
    height = top + plot_h + bottom + legend_rows * 16
    plot_w = width - left - right
    step = plot_w / max(1, len(axes) - 1)

    def x(i: int) -> float:
        return left + (i * step if len(axes) > 1 else plot_w / 2)

    def y(rank: float) -> float:
        return top + (0.0 if worst == 1 else (rank - 1) / (worst - 1) * plot_h)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart ranks{' compact' if compact else ''}' "
        f"width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' "
        f"aria-label='rank of each of {len(lines)} models under each of {len(axes)} scorers'>"
    ]
    for i, name in enumerate(axes):
        xi = _fmt(x(i))
        parts.append(
            f"<line x1='{xi}' y1='{top}' x2='{xi}' y2='{top + plot_h}' stroke='#ccc'/>"
            f"<text x='{xi}' y='{top + plot_h + 16}' text-anchor='end' font-size='11' {_FONT} "
            f"transform='rotate(-30 {xi} {top + plot_h + 16})'>{escape(name)}</text>"
        )
    ticks = range(1, int(worst) + 1) if worst <= 20 else {1, *range(5, int(worst) + 1, 5), int(worst)}
    for rank in sorted(ticks):
        yr = _fmt(y(rank))
        parts.append(
            f"<text x='{left - 8}' y='{yr}' text-anchor='end' dominant-baseline='middle' font-size='11' "
            f"{_FONT}>{rank}</text>"
        )
    parts.append(f"<text x='4' y='{top - 10}' font-size='11' {_FONT}>rank</text>")
    ordered = list(enumerate(lines))
    for index, line in reversed(ordered):  # best (first) drawn last, on top
        colour = PALETTE[index % len(PALETTE)]
        stroke = 3 if index < 3 else 1.5
        segments: list[list[tuple[float, float]]] = [[]]
        dots = []
        for i, rank in enumerate(line.ranks[: len(axes)]):
            if rank is None:
                segments.append([])
                continue
            point = (x(i), y(rank))
            segments[-1].append(point)
            dots.append(
                f"<circle cx='{_fmt(point[0])}' cy='{_fmt(point[1])}' r='3' fill='{colour}'>"
                f"<title>{escape(line.model)}: rank {rank:g} by {escape(axes[i])}</title></circle>"
            )
        parts.append(f"<g class='line' data-model='{escape(line.model)}'><title>{escape(line.model)}</title>")
        for seg in segments:
            if len(seg) >= 2:
                pts = " ".join(f"{_fmt(px)},{_fmt(py)}" for px, py in seg)
                parts.append(
                    f"<polyline points='{pts}' fill='none' stroke='{colour}' stroke-width='{stroke}' "
                    "stroke-linejoin='round'/>"
                )
        parts.extend(dots)
        parts.append("</g>")
    legend_x = width - right + 16
    legend_top = top
    if compact:
        legend_x, legend_top = 4, top + plot_h + bottom + 8
    for index, line in ordered:
        ly = legend_top + index * 16
        if ly > height - 8 or (compact and index == _COMPACT_LEGEND):
            parts.append(
                f"<text x='{legend_x}' y='{ly}' font-size='11' {_FONT}>… {len(lines) - index} more</text>"
            )
            break
        colour = PALETTE[index % len(PALETTE)]
        label = line.model if len(line.model) <= 28 else line.model[:27] + "…"
        parts.append(
            f"<rect x='{legend_x}' y='{ly - 9}' width='12' height='4' fill='{colour}'/>"
            f"<text x='{legend_x + 18}' y='{ly - 4}' font-size='11' {_FONT}>"
            f"{index + 1}. {escape(label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def tau_matrix(
    names: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    cell: int = 46,
    compact: bool = False,
) -> Markup:
    """A symmetric matrix of correlations between scorers, value printed in each coloured cell.

    Args:
        names: scorer names (rows and columns, in this order).
        values: ``values[i][j]`` in [-1, 1], or None when undefined (too few common models, or one
            scorer gave every model the same score).
        cell: cell size in px.
        compact: smaller cells and labels, to fit a phone at full text size (``cell`` is then ignored).
    """
    n = len(names)
    if n == 0:
        return Markup("<p class='muted'>No scorer to compare.</p>")
    label_w = 130
    if compact:
        cell, label_w = 36, 96
    size_w = label_w + n * cell + 8
    size_h = label_w + n * cell + 8
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart tau{' compact' if compact else ''}' "
        f"width='{size_w}' height='{size_h}' "
        f"viewBox='0 0 {size_w} {size_h}' role='img' aria-label='Kendall tau between {n} scorers'>"
    ]
    for i, full in enumerate(names):
        name = full if not compact or len(full) <= 14 else full[:13] + "…"
        cy = label_w + i * cell + cell / 2
        cx = label_w + i * cell + cell / 2
        parts.append(
            f"<text x='{label_w - 6}' y='{_fmt(cy)}' text-anchor='end' dominant-baseline='middle' "
            f"font-size='11' {_FONT}>{escape(name)}</text>"
            f"<text x='{_fmt(cx)}' y='{label_w - 6}' font-size='11' {_FONT} "
            f"transform='rotate(-45 {_fmt(cx)} {label_w - 6})'>{escape(name)}</text>"
        )
    for i in range(n):
        for j in range(n):
            v = values[i][j]
            fill = diverging_colour(v)
            x0, y0 = label_w + j * cell, label_w + i * cell
            text = "–" if v is None else f"{v:.2f}"
            tip = f"{names[i]} vs {names[j]}: " + ("undefined" if v is None else f"tau = {v:.3f}")
            parts.append(
                f"<g><title>{escape(tip)}</title>"
                f"<rect x='{x0}' y='{y0}' width='{cell - 2}' height='{cell - 2}' fill='{fill}'/>"
                f"<text x='{_fmt(x0 + (cell - 2) / 2)}' y='{_fmt(y0 + (cell - 2) / 2)}' text-anchor='middle' "
                f"dominant-baseline='middle' font-size='11' fill='{_text_on(fill)}' {_FONT}>{text}</text></g>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))
