"""The recommendation: constructed cases (a clear winner, an exact tie, a near tie within noise), the
refit path, the budget, and the invariants of the bootstrap (hypothesis)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from estimators._api import PER_SAMPLE
from service.pipeline.aggregate import aggregate, sort_results
from service.pipeline.recommend import bootstrap_rows, recommend
from service.pipeline.schema import (
    RANKING_JSON_SCHEMA,
    DatasetInfo,
    ModelResult,
    Provenance,
    Ranking,
    Recommendation,
    SamplingInfo,
)
from service.pipeline.score import plan_scorers, score_model
from service.pipeline.types import Cells, ModelInputs, ScorerPlan
from tests.support.schema import check_schema

PROPS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


def _ranking(cells: Mapping[str, Cells], plans: Sequence[ScorerPlan]) -> Ranking:
    names = [p.name for p in plans]
    ranked = aggregate(cells, names)
    models = [
        ModelResult(id=m, scores=dict(c.scores), ranks=ranked[m][0], aggregate_rank=ranked[m][1])
        for m, c in cells.items()
    ]
    return Ranking(
        dataset=DatasetInfo("data:x", "f" * 64, "imagefolder", 0, 2, ("p", "q"), {}, 0,
                            SamplingInfo("stratified-v1", None, None, 0, 0)),
        models=sort_results(models),
        scorers=tuple(p.info() for p in plans),
        provenance=Provenance("0", "1", "2025-01-01T00:00:00Z", "cpu", "2"),
    )  # fmt: skip


def _oof_cells(hits: Mapping[str, np.ndarray]) -> dict[str, Cells]:
    """probe_cv cells whose per-sample out-of-fold correctness is ``hits[model]`` ``(N,)``."""
    return {
        m: Cells(scores={"probe_cv": float(h.mean())}, info={"probe_cv": {PER_SAMPLE: h.tolist()}})
        for m, h in hits.items()
    }


def _oof(hits: Mapping[str, np.ndarray], labels: np.ndarray, **kw: object) -> Recommendation:
    plans = plan_scorers(["probe_cv"])
    cells = _oof_cells(hits)
    got = recommend(_ranking(cells, plans), cells, plans, {}, labels, **kw)  # type: ignore[arg-type]
    assert got is not None
    return got


LABELS = np.repeat([0, 1], 250)  # 500 images, two classes


def _hits(rng: np.random.Generator, accuracy: float, n: int = 500) -> np.ndarray:
    out = np.zeros(n, dtype=np.int64)
    out[rng.choice(n, round(accuracy * n), replace=False)] = 1
    return out


@pytest.mark.unit
def test_a_clear_winner_is_alone_in_its_set() -> None:
    rng = np.random.default_rng(0)
    got = _oof({"a": _hits(rng, 0.95), "b": _hits(rng, 0.70), "c": _hits(rng, 0.60)}, LABELS)
    assert got.model == "a" and got.runner_up == "b"
    assert got.confidence_set == ("a",) and got.clear
    assert got.p_best("a") == 1.0  # 25 points above b on 500 images: no resample of 500 reverses that
    assert got.method["resampled"] == {"probe_cv": "out-of-fold"} and got.method["fixed"] == {}
    assert "a clear winner" in got.headline()


@pytest.mark.unit
def test_an_exact_tie_shares_p_best_and_the_set() -> None:
    rng = np.random.default_rng(1)
    same = _hits(rng, 0.8)
    got = _oof({"b": same.copy(), "a": same.copy(), "c": _hits(rng, 0.5)}, LABELS)
    assert got.model == "a"  # the table's tie-break: by id
    assert set(got.confidence_set) == {"a", "b"} and not got.clear
    # identical per-sample terms tie on every resample: each resample's credit is split in two halves
    assert got.p_best("a") == got.p_best("b") == 0.5
    assert got.headline().endswith("cannot be separated from: b (no clear winner at 95%)")


@pytest.mark.unit
def test_a_near_tie_within_noise_is_no_clear_winner() -> None:
    """The demo's case: probe_cv 0.850 vs 0.842, 4 of 500 images apart."""
    rng = np.random.default_rng(2)
    a = _hits(rng, 0.850)
    b = a.copy()
    wrong_in_b = rng.choice(np.flatnonzero(a == 1), 30, replace=False)
    right_in_b = rng.choice(np.flatnonzero(a == 0), 26, replace=False)
    b[wrong_in_b], b[right_in_b] = 0, 1  # 56 disagreements, net 4 images
    assert a.sum() - b.sum() == 4
    got = _oof({"a": a, "b": b}, LABELS)
    assert got.model == "a" and got.confidence_set == ("a", "b") and not got.clear
    assert 0.5 < got.p_best("a") < 0.95
    assert {c.id: (c.rank_low, c.rank_high) for c in got.candidates} == {"a": (1, 2), "b": (1, 2)}


@pytest.mark.unit
def test_gram_scorers_are_refitted_on_the_resampled_rows() -> None:
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1, 2], 40)
    good = rng.standard_normal((3, 16))[labels] * 4 + rng.standard_normal((120, 16))
    noise = rng.standard_normal((120, 16))
    plans = plan_scorers(["hscore", "logme"])
    inputs = {"good": ModelInputs(features=good), "noise": ModelInputs(features=noise)}
    cells = {m: score_model(m, x, labels, plans) for m, x in inputs.items()}
    got = recommend(_ranking(cells, plans), cells, plans, inputs, labels, budget_seconds=1e9)
    assert got is not None and got.model == "good" and got.clear
    assert got.method["resampled"] == {"hscore": "refit", "logme": "refit"}


@pytest.mark.unit
def test_a_refit_over_the_budget_is_held_fixed_and_said() -> None:
    rng = np.random.default_rng(4)
    labels = np.repeat([0, 1], 30)
    inputs = {m: ModelInputs(features=rng.standard_normal((60, 8))) for m in ("a", "b")}
    plans = plan_scorers(["hscore"])
    cells = {m: Cells(scores={"hscore": v}, seconds={"hscore": 0.01}) for m, v in (("a", 1.0), ("b", 0.5))}
    got = recommend(_ranking(cells, plans), cells, plans, inputs, labels, budget_seconds=0.5)
    assert got is not None and "hscore" in got.method["fixed"]
    assert "exceed the budget" in got.method["fixed"]["hscore"]
    assert got.p_best("a") == 1.0  # a fixed scorer orders every resample as the full sample


@pytest.mark.unit
def test_no_ranked_model_gives_no_recommendation() -> None:
    plans = plan_scorers(["probe_cv"])
    cells = {"a": Cells()}
    assert recommend(_ranking(cells, plans), cells, plans, {}, LABELS) is None


@pytest.mark.unit
def test_the_section_round_trips_and_fits_the_json_schema() -> None:
    rng = np.random.default_rng(5)
    hits = {"a": _hits(rng, 0.8), "b": _hits(rng, 0.79)}
    plans = plan_scorers(["probe_cv"])
    cells = _oof_cells(hits)
    ranking = _ranking(cells, plans)
    rec = recommend(ranking, cells, plans, {}, LABELS)
    doc = replace(ranking, recommendation=rec).to_dict()
    check_schema(doc, RANKING_JSON_SCHEMA)
    assert Ranking.from_dict(doc).recommendation == rec


@pytest.mark.unit
def test_bootstrap_rows_keep_each_class_count() -> None:
    labels = np.array([2, 0, 0, 1, 2, 2, 0])
    draws = bootstrap_rows(labels, 50, seed=7)
    for row in draws:
        np.testing.assert_array_equal(np.bincount(labels[row], minlength=3), np.bincount(labels, minlength=3))
    np.testing.assert_array_equal(draws, bootstrap_rows(labels, 50, seed=7))  # seeded


_ACCURACY = st.lists(st.floats(0.3, 1.0), min_size=2, max_size=5)


@pytest.mark.unit
@PROPS
@given(accuracies=_ACCURACY, seed=st.integers(0, 2**16), n_per=st.integers(5, 40))
def test_invariants(accuracies: list[float], seed: int, n_per: int) -> None:
    """p_best sums to 1; the recommended model is in its set and first; a wider level gives a superset;
    relabelling the models permutes the output."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n_per)
    hits = {f"m{i}": _hits(rng, acc, len(labels)) for i, acc in enumerate(accuracies)}
    got = _oof(hits, labels, resamples=60, seed=seed)
    p = [c.p_best for c in got.candidates]
    assert abs(sum(p) - 1.0) < 1e-9  # fractions of 60 resamples: rounding error only
    assert got.confidence_set[0] == got.model and got.clear == (len(got.confidence_set) == 1)
    assert all(1 <= c.rank_low <= c.rank_high <= len(hits) for c in got.candidates)
    wider = _oof(hits, labels, resamples=60, seed=seed, level=0.99)
    assert set(got.confidence_set) <= set(wider.confidence_set)

    means = sorted((float(h.mean()) for h in hits.values()), reverse=True)
    assume(means[0] > means[1])  # a unique first row: otherwise the id tie-break picks it
    rename = {m: f"z{len(hits) - i}" for i, m in enumerate(hits)}  # reverses the id order
    moved = _oof({rename[m]: h for m, h in reversed(hits.items())}, labels, resamples=60, seed=seed)
    assert moved.model == rename[got.model]
    assert set(moved.confidence_set) == {rename[m] for m in got.confidence_set}
    assert {c.id: (c.p_best, c.rank_low, c.rank_high) for c in moved.candidates} == {
        rename[c.id]: (c.p_best, c.rank_low, c.rank_high) for c in got.candidates
    }
