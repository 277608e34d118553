"""The dashboard's view computations: table order and colours, scorer agreement, extraction speed."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from service.catalogue import scorer_reliability
from service.ui.views import AGGREGATE, JobPanel, RankingView, RateMeter, agreement, format_duration
from tests.service.ui.rankings import SCORERS, make_ranking

ROWS = {
    "m1": {"a": 3.0, "b": 30.0, "c": 1.0},
    "m2": {"a": 2.0, "b": 20.0, "c": 2.0},
    "m3": {"a": 1.0, "b": 10.0},  # c not applicable
}


def view(sort: str = AGGREGATE, descending: bool = False) -> RankingView:
    ranking = make_ranking(ROWS, failed=("broken",))
    return RankingView.from_json("j1", ranking.to_json(), sort=sort, descending=descending)


def test_default_order_is_the_ranking_order_with_unscored_models_last() -> None:
    v = view()
    assert [r.model.id for r in v.rows] == ["m1", "m2", "m3", "broken"]
    assert [r.position for r in v.rows] == [1, 2, 3, 4]


def test_sorting_by_a_scorer_keeps_models_without_that_score_last_in_both_directions() -> None:
    asc, desc = view("c"), view("c", descending=True)
    # c scores m2 (2.0) above m1 (1.0): rank 1 is m2
    assert [r.model.id for r in asc.rows] == ["m2", "m1", "m3", "broken"]
    assert [r.model.id for r in desc.rows] == ["m1", "m2", "m3", "broken"]
    assert [r.model.id for r in view("id").rows] == ["broken", "m1", "m2", "m3"]


def test_unknown_sort_key_falls_back_to_the_aggregate() -> None:
    assert view("<script>").sort == AGGREGATE


def test_cells_carry_rank_colour_and_the_reason_for_a_missing_score() -> None:
    v = view()
    m3 = next(r for r in v.rows if r.model.id == "m3")
    c_cell = m3.cells[SCORERS.index("c")]
    assert c_cell.score is None and c_cell.error_code == "not-applicable"
    assert c_cell.colour == "transparent"
    best = v.rows[0].cells[0]
    worst = next(r for r in v.rows if r.model.id == "m3").cells[0]
    assert best.rank == 1.0 and worst.rank == 3.0
    assert best.colour != worst.colour


def test_agreement_is_symmetric_with_unit_diagonal_and_sign_of_reversal() -> None:
    rows = {"m1": {"a": 3.0, "b": 1.0, "c": 3.0}, "m2": {"a": 2.0, "b": 2.0, "c": 2.0},
            "m3": {"a": 1.0, "b": 3.0, "c": 1.0}}  # fmt: skip
    matrix = agreement(make_ranking(rows))
    for i in range(3):
        assert matrix[i][i].value == 1.0
        for j in range(3):
            assert matrix[i][j] == matrix[j][i]
    assert matrix[0][1].value == -1.0  # b orders the models exactly the other way round
    assert matrix[0][2].value == 1.0


def test_agreement_is_undefined_for_fewer_than_two_common_models_or_all_ties() -> None:
    rows = {"m1": {"a": 1.0, "b": 5.0, "c": 2.0}, "m2": {"a": 2.0, "b": 5.0}}
    matrix = agreement(make_ranking(rows))
    assert matrix[0][2].value is None and matrix[0][2].common == 1
    assert matrix[0][1].value is None and "degenerate" in matrix[0][1].why  # b ties every model


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-5, 5), st.floats(-5, 5), st.floats(-5, 5)), min_size=2, max_size=8, unique=True
    )
)
def test_agreement_values_are_correlations(values: list[tuple[float, float, float]]) -> None:
    rows = {f"m{i}": dict(zip(SCORERS, v, strict=True)) for i, v in enumerate(values)}
    for row in agreement(make_ranking(rows)):
        for cell in row:
            assert cell.value is None or (math.isfinite(cell.value) and -1.0 <= cell.value <= 1.0)


def progress(
    stream_ms: int, model: str, done: int, total: int, status: str = "extracting"
) -> tuple[str, str, dict[str, object]]:
    return (f"{stream_ms}-0", "progress", {"model": model, "status": status, "done": done, "total": total})


def test_rate_is_measured_from_the_start_of_extraction_not_from_queueing() -> None:
    meter = RateMeter()
    meter.feed([
        progress(0, "m", 0, 100, status="queued"),
        progress(10_000, "m", 0, 100),  # extraction starts 10 s later
        progress(12_000, "m", 50, 100),
    ])  # fmt: skip
    rate = meter.rates()["m"]
    assert rate.images_per_s is not None and math.isclose(rate.images_per_s, 25.0)
    assert rate.eta_s is not None and math.isclose(rate.eta_s, 2.0)


def test_rate_counts_extraction_events_only_not_the_scoring_after_them() -> None:
    """A model that extracted 120 images in 1 s and was then scored for 60 s extracted at 120 images/s."""
    meter = RateMeter()
    meter.feed([
        progress(0, "m", 0, 120),
        progress(1_000, "m", 120, 120, status="extracted"),
        progress(1_100, "m", 120, 120, status="scoring"),
        progress(61_000, "m", 120, 120, status="done"),
    ])  # fmt: skip
    rate = meter.rates()["m"]
    assert rate.images_per_s is not None and math.isclose(rate.images_per_s, 120.0)
    assert rate.eta_s is None  # finished extracting


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 50)), min_size=1, max_size=30))
def test_rates_are_finite_and_nonnegative_for_any_event_sequence(steps: list[tuple[int, int]]) -> None:
    events, ms, done = [], 1_000, 0
    for dt, dn in steps:
        ms, done = ms + dt, done + dn
        events.append(progress(ms, "m", done, 1000))
    rate = RateMeter()
    rate.feed(events)
    got = rate.rates()["m"]
    for value in (got.images_per_s, got.eta_s):
        assert value is None or (math.isfinite(value) and value >= 0)


def test_feeding_in_pieces_equals_feeding_at_once() -> None:
    events = [progress(1000 * i, "m", 10 * i, 100) for i in range(6)]
    whole, pieces = RateMeter(), RateMeter()
    whole.feed(events)
    for e in events:
        pieces.feed([e])
    assert whole.rates() == pieces.rates()


def test_durations_are_readable() -> None:
    assert format_duration(None) == "—"
    assert format_duration(float("inf")) == "—"
    assert format_duration(12.4) == "12 s"
    assert format_duration(185) == "3 min 05 s"
    assert format_duration(3720) == "1 h 02 min"


def test_job_percent_reaches_100_only_when_succeeded() -> None:
    from datetime import UTC, datetime

    from service.jobs.models import JobProgress, JobStatus, JobView, StageProgress
    from service.jobs.request import RankingRequest

    def job(status: JobStatus, done: int) -> JobView:
        stages = {n: StageProgress(done=done, total=2) for n in ("extract", "score")}
        stages["finalise"] = StageProgress(done=1 if status == JobStatus.succeeded else 0, total=1)
        return JobView(id="j", status=status, stage="score", created_at=datetime.now(UTC),
                       progress=JobProgress(stages=stages, models=[]), fingerprint="f",
                       request=RankingRequest(dataset="data:x"))  # fmt: skip

    assert JobPanel(job(JobStatus.running, 2), {}).percent == 80  # 4 of 5 steps
    assert JobPanel(job(JobStatus.running, 0), {}).percent == 0
    assert JobPanel(job(JobStatus.succeeded, 2), {}).percent == 100
    assert JobPanel(job(JobStatus.cancelled, 1), {}).finished


def test_scorer_headers_say_what_probe_cv_is_and_how_reliable_each_scorer_is() -> None:
    view = RankingView("r1", make_ranking({"m1": {"a": 1.0}}), {})
    assert view.scorer_label("probe_cv") == "cross-validated linear-probe accuracy"
    assert view.scorer_label("a") is None and view.reliability("a") is None
    got = view.reliability("probe_cv")
    assert got is not None and got == scorer_reliability()["probe_cv"] and -1.0 <= got <= 1.0
