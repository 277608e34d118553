"""The server-side SVG charts: well-formed, escaped, one mark per datum, colours in range."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from service.ui.charts import RankLine, bar_chart, diverging_colour, quality_colour, rank_chart, tau_matrix

NS = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(1)</script>&'\""


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on malformed XML (an unescaped label would break it)


def test_bar_chart_has_one_bar_per_class_and_escapes_names() -> None:
    root = parse(str(bar_chart({"cat": 3, EVIL: 5, "dog": 0})))
    assert len(root.findall(f"{NS}g/{NS}rect")) == 3
    assert "<script>" not in str(bar_chart({EVIL: 1}))


def test_bar_chart_caps_the_number_of_bars() -> None:
    counts = {f"c{i}": i for i in range(100)}
    root = parse(str(bar_chart(counts, max_bars=10)))
    assert len(root.findall(f"{NS}g/{NS}rect")) == 10
    assert "90 more classes" in str(bar_chart(counts, max_bars=10))


def test_rank_chart_breaks_lines_at_missing_ranks() -> None:
    lines = [RankLine("a", [1, 1, 1]), RankLine(EVIL, [2, None, 2]), RankLine("c", [3, 2, None])]
    root = parse(str(rank_chart(["x", "y", "agg"], lines)))
    groups = root.findall(f"{NS}g")
    assert len(groups) == 3
    polylines = {g.get("data-model"): len(g.findall(f"{NS}polyline")) for g in groups}
    assert polylines == {"a": 1, EVIL: 0, "c": 1}  # two isolated points draw no segment
    assert len(root.findall(f"{NS}g/{NS}circle")) == 3 + 2 + 2


def test_rank_chart_without_data_says_so() -> None:
    assert "Nothing to chart" in str(rank_chart([], []))


def test_tau_matrix_has_n_by_n_cells() -> None:
    root = parse(str(tau_matrix(["a", "b", EVIL], [[1.0, -0.5, None], [-0.5, 1.0, 0.2], [None, 0.2, 1.0]])))
    assert len(root.findall(f"{NS}g/{NS}rect")) == 9


@given(st.floats(allow_nan=True, allow_infinity=True) | st.none())
def test_colours_are_always_valid(value: float | None) -> None:
    for colour in (quality_colour(value), diverging_colour(value)):
        assert colour == "transparent" or (colour.startswith("#") and len(colour) == 7)


def test_colour_scales_have_distinct_ends() -> None:
    assert quality_colour(0.0) != quality_colour(1.0)
    assert diverging_colour(-1.0) != diverging_colour(1.0)
    assert diverging_colour(0.0) == "#f7f7f7"


@given(
    st.lists(
        st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=40),
        min_size=1,
        max_size=30,
        unique=True,
    ),
    st.integers(min_value=1, max_value=8),
)
def test_compact_charts_fit_a_phone_and_keep_every_model_and_scorer(models: list[str], scorers: int) -> None:
    from service.ui.charts import COMPACT_WIDTH

    axes = [f"scorer_with_a_long_name_{i}" for i in range(scorers)] + ["aggregate"]
    lines = [RankLine(m, [float(i + 1)] * len(axes)) for i, m in enumerate(models)]
    root = parse(str(rank_chart(axes, lines, compact=True)))
    assert int(root.get("width", "0")) == COMPACT_WIDTH and "compact" in root.get("class", "")
    assert len(root.findall(f"{NS}g[@class='line']")) == len(models)  # every model still drawn
    height = float(root.get("height", "0"))
    legend = [t for t in root.iter(f"{NS}text") if (t.text or "").split(". ", 1)[0].isdigit()]
    assert legend and all(float(t.get("y", "0")) <= height for t in legend)  # the legend is inside the box
    assert all(float(t.get("x", "0")) < COMPACT_WIDTH for t in legend)
    names = [f"s{i}" * 9 for i in range(scorers)]
    matrix = parse(str(tau_matrix(names, [[None] * scorers for _ in names], compact=True)))
    assert int(matrix.get("width", "0")) <= COMPACT_WIDTH or scorers > 6  # up to 6 scorers fit a phone
    assert len(matrix.findall(f"{NS}g/{NS}rect")) == scorers * scorers
