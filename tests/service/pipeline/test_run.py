"""The ranking library: aggregation rules, per-cell error handling, the wire schema, and the full pipeline
on real image files with real (tiny) models whose weights are written by the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import estimators
from estimators.errors import InvalidParameterError, UnknownScorerError
from service.errors import NoModelScoredError
from service.pipeline.aggregate import aggregate, rank_values, sort_results
from service.pipeline.schema import (
    NOT_APPLICABLE,
    RANKING_JSON_SCHEMA,
    SCHEMA_VERSION,
    DatasetInfo,
    ErrorInfo,
    ModelResult,
    Provenance,
    Ranking,
    SamplingInfo,
    ScorerInfo,
)
from service.pipeline.score import plan_scorers, score_models
from service.pipeline.types import ModelInputs
from tests.support.schema import check_schema

# --- aggregation -----------------------------------------------------------------------------------


def test_rank_values_best_is_one_and_ties_share_the_mean_rank() -> None:
    assert rank_values({"a": 0.9, "b": 0.5, "c": 0.5, "d": 0.1}) == {"a": 1.0, "b": 2.5, "c": 2.5, "d": 4.0}
    assert rank_values({"x": -3.0, "y": 2.0, "z": 2.0}) == {"y": 1.5, "z": 1.5, "x": 3.0}
    assert rank_values({"only": 1.0}) == {"only": 1.0}
    assert rank_values({}) == {}


def test_rank_values_refuses_non_finite_scores() -> None:
    with pytest.raises(ValueError, match="not finite"):
        rank_values({"a": float("nan"), "b": 1.0})


def test_aggregate_is_the_mean_over_the_scorers_that_scored_the_model() -> None:
    from service.pipeline.types import Cells

    cells = {
        "a": Cells(scores={"s1": 3.0, "s2": 1.0}),
        "b": Cells(scores={"s1": 2.0, "s2": 5.0}),
        "c": Cells(scores={"s1": 1.0}, errors={"s2": ErrorInfo(NOT_APPLICABLE, "headless")}),
        "d": Cells(
            errors={"s1": ErrorInfo("degenerate-input", "x"), "s2": ErrorInfo("numerical-error", "y")}
        ),
    }
    out = aggregate(cells, ["s1", "s2"])
    assert out["a"] == ({"s1": 1.0, "s2": 2.0}, 1.5)
    assert out["b"] == ({"s1": 2.0, "s2": 1.0}, 1.5)
    assert out["c"] == ({"s1": 3.0}, 3.0)  # s2 cannot score it: not counted, not penalised
    assert out["d"] == ({}, None)
    rows = [ModelResult(id=m, ranks=r, aggregate_rank=a) for m, (r, a) in out.items()]
    assert [r.id for r in sort_results(rows)] == ["a", "b", "c", "d"]  # ties by id, None last


# --- scoring with the real scorers -----------------------------------------------------------------


def _blobs(n_per_class: int, num_classes: int, dim: int, separation: float, seed: int) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), n_per_class)
    centres = rng.normal(size=(num_classes, dim)) * separation
    feats = centres[labels] + rng.normal(size=(labels.size, dim))
    return feats.astype(np.float32), labels


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def test_score_models_prefers_separable_features_and_isolates_failures() -> None:
    good, labels = _blobs(20, 3, 8, separation=4.0, seed=0)
    bad, _ = _blobs(20, 3, 8, separation=0.0, seed=1)
    head = np.random.default_rng(2).normal(size=(8, 5))
    inputs = {
        "good": ModelInputs(features=good, source_probs=_softmax(good @ head)),
        "bad": ModelInputs(features=bad, source_probs=_softmax(bad @ head)),
        "headless": ModelInputs(features=good.copy()),
        # one constant feature column times 0: every scorer needing class structure sees none
        "dead": ModelInputs(features=np.zeros_like(good)),
    }
    plans = plan_scorers(["sfda", "leep"])
    cells = score_models(inputs, labels, plans)
    assert cells["good"].scores["sfda"] > cells["bad"].scores["sfda"]
    assert set(cells["good"].scores) == {"sfda", "leep"}
    assert cells["headless"].errors["leep"].code == NOT_APPLICABLE
    assert "source_probs" in cells["headless"].errors["leep"].message
    assert "sfda" in cells["headless"].scores
    # Whatever happens on all-zero features, it is a score or a typed, recorded error; never an exception.
    dead = cells["dead"]
    assert ("sfda" in dead.scores) != ("sfda" in dead.errors)


def test_set_scorer_runs_once_over_the_candidates() -> None:
    if "etran" not in estimators.list_scorers("set"):
        pytest.skip("etran not registered")
    a, labels = _blobs(15, 3, 6, separation=4.0, seed=3)
    b, _ = _blobs(15, 3, 6, separation=0.5, seed=4)
    cells = score_models({"a": ModelInputs(a), "b": ModelInputs(b)}, labels, plan_scorers(["etran"]))
    direct = estimators.score_set(
        "etran", candidates={"a": {"features": a}, "b": {"features": b}}, labels=labels
    )
    assert cells["a"].scores["etran"] == direct["a"]
    assert cells["b"].scores["etran"] == direct["b"]


def test_plan_scorers_validates_before_any_work() -> None:
    with pytest.raises(UnknownScorerError, match="Valid names"):
        plan_scorers(["no_such_scorer"])
    with pytest.raises(InvalidParameterError):
        plan_scorers(["sfda"], {"sfda": {"no_such_param": 1}})
    with pytest.raises(InvalidParameterError, match="not requested"):
        plan_scorers(["sfda"], {"leep": {"log": False}})
    with pytest.raises(InvalidParameterError):
        plan_scorers([])
    plan = plan_scorers(["leep", "leep"], {"leep": {"log": False}})
    assert len(plan) == 1 and plan[0].params["log"] is False
    assert plan[0].info().to_dict()["version"] == estimators.get_scorer("leep").version


# --- schema ----------------------------------------------------------------------------------------


def _sample_ranking() -> Ranking:
    return Ranking(
        dataset=DatasetInfo(
            reference="data/x",
            fingerprint="f" * 64,
            reader="imagefolder",
            num_samples=6,
            num_classes=2,
            classes=("cat", "dog"),
            class_counts={"cat": 3, "dog": 3},
            corrupt=0,
            sampling=SamplingInfo("stratified-v1", 3, None, 0, 10),
        ),
        models=(
            ModelResult(
                id="m.a",
                scores={"sfda": 0.5},
                ranks={"sfda": 1.0},
                aggregate_rank=1.0,
                errors={"leep": ErrorInfo(NOT_APPLICABLE, "no head")},
                weights_sha256="a" * 64,
                feature_dim=4,
                info={"sfda": {"shrinkage": np.float64(0.25), "steps": (1, 2)}},
            ),
            ModelResult(id="m.b", error=ErrorInfo("weights-not-found", "missing")),
        ),
        scorers=(ScorerInfo("sfda", "model", "1", {"dtype": "float64"}, "paper"),),
        provenance=Provenance("0.1.0", "x1", "2025-01-01T00:00:00Z", "cpu", "2.14.1"),
    )


def test_json_round_trips_and_matches_the_published_schema() -> None:
    ranking = _sample_ranking()
    data = json.loads(ranking.to_json())
    check_schema(data, RANKING_JSON_SCHEMA)
    assert data["schema_version"] == SCHEMA_VERSION
    assert list(data) == ["schema_version", "dataset", "models", "scorers", "provenance"]
    assert data["models"][0]["info"]["sfda"] == {"shrinkage": 0.25, "steps": [1, 2]}
    again = Ranking.from_dict(data)
    assert again.to_dict() == data


def test_schema_checker_catches_drift() -> None:
    data = _sample_ranking().to_dict()
    data["models"][0]["surprise"] = 1
    with pytest.raises(AssertionError, match="unexpected key"):
        check_schema(data, RANKING_JSON_SCHEMA)
    data = _sample_ranking().to_dict()
    data["models"][0]["scores"]["sfda"] = "0.5"
    with pytest.raises(AssertionError, match="is not"):
        check_schema(data, RANKING_JSON_SCHEMA)


def test_csv_has_one_row_per_model_with_score_and_rank_columns() -> None:
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(_sample_ranking().to_csv())))
    assert [r["id"] for r in rows] == ["m.a", "m.b"]
    assert rows[0]["sfda"] == "0.5" and rows[0]["sfda_rank"] == "1.0" and rows[0]["position"] == "1"
    assert rows[0]["errors"] == "leep=not-applicable"
    assert rows[1]["sfda"] == "" and rows[1]["aggregate_rank"] == ""
    assert rows[1]["errors"] == "model=weights-not-found"


# --- the full pipeline on real files with real (tiny) models ----------------------------------------


def _check_ranking_invariants(ranking: Ranking) -> None:
    check_schema(json.loads(ranking.to_json()), RANKING_JSON_SCHEMA)
    aggs = [m.aggregate_rank for m in ranking.models]
    ranked = [a for a in aggs if a is not None]
    assert ranked == sorted(ranked) and aggs[: len(ranked)] == ranked  # best first, None last
    for m in ranking.models:
        assert set(m.ranks) == set(m.scores)
        assert not set(m.scores) & set(m.errors)
        if m.ranks:
            assert m.aggregate_rank == pytest.approx(sum(m.ranks.values()) / len(m.ranks))


def test_rank_end_to_end(dataset: Path, settings: Any, tiny_entry: Any, tmp_path: Path) -> None:
    from service.pipeline.run import rank
    from tests.support.service import write_profile

    good = tiny_entry("tiny.profiled", seed=1, profile=write_profile(tmp_path / "p8.safetensors", 8))
    headless = tiny_entry("tiny.headless", seed=2, head=False)
    wrong_profile = tiny_entry(
        "tiny.wrongprofile", seed=3, profile=write_profile(tmp_path / "p3.safetensors", 3)
    )
    events: list[Any] = []
    ranking = rank(
        str(dataset),
        models=[good, headless, wrong_profile],
        scorers=["sfda", "leep", "ped", "etran"],
        settings=settings,
        progress=events.append,
    )
    _check_ranking_invariants(ranking)
    by_id = {m.id: m for m in ranking.models}
    assert set(by_id) == {"tiny.profiled", "tiny.headless", "tiny.wrongprofile"}

    g = by_id["tiny.profiled"]
    assert set(g.scores) == {"sfda", "leep", "ped", "etran"} and not g.errors and g.error is None
    assert g.source_profile and g.has_source_head and g.feature_dim == 8 and not g.cached
    assert g.weights_sha256 == good.weights.sha256

    h = by_id["tiny.headless"]
    assert h.errors["leep"].code == NOT_APPLICABLE and "leep" not in h.ranks
    assert not h.has_source_head and {"sfda", "ped", "etran"} <= set(h.scores)

    # a 3-dim profile for 8-dim features: PED fails with a typed error for this one cell only
    w = by_id["tiny.wrongprofile"]
    assert w.errors["ped"].code == "invalid-input" and "ped" not in w.scores
    assert {"sfda", "leep", "etran"} <= set(w.scores) and w.aggregate_rank is not None

    # the leep column ranks only the two models with a head
    assert sorted(m.ranks["leep"] for m in ranking.models if "leep" in m.ranks) == [1.0, 2.0]

    ds = ranking.dataset
    assert (ds.num_samples, ds.num_classes, ds.corrupt, ds.reader) == (24, 3, 0, "imagefolder")
    assert ds.class_counts == {"circle": 8, "square": 8, "stripes": 8}
    assert ds.sampling.available == 24 and ds.sampling.max_samples is None
    assert len(ds.fingerprint) == 64
    assert [s.name for s in ranking.scorers] == ["sfda", "leep", "ped", "etran"]
    assert ranking.scorers[2].params["base"] == estimators.get_scorer("ped").defaults["base"]
    stages = {e.stage for e in events}
    assert {"dataset", "load", "extract", "score", "done"} <= stages
    extract = [e for e in events if e.stage == "extract" and e.model_id == "tiny.profiled"]
    assert extract[-1].done == extract[-1].total == 24


def test_second_run_reuses_the_stored_features(dataset: Path, settings: Any, tiny_entry: Any) -> None:
    from service.pipeline.run import rank

    models = [tiny_entry("tiny.a", seed=1), tiny_entry("tiny.b", seed=2)]
    first = rank(str(dataset), models=models, scorers=["sfda", "leep"], settings=settings)
    again = rank(str(dataset), models=models, scorers=["sfda", "leep"], settings=settings)
    assert all(not m.cached for m in first.models) and all(m.cached for m in again.models)
    assert [(m.id, m.scores) for m in first.models] == [(m.id, m.scores) for m in again.models]

    # changing one image changes the fingerprint, hence the features are extracted again
    png = next((dataset / "circle").glob("*.png"))
    img = Image.open(png).convert("RGB")
    img.putpixel((0, 0), (255, 255, 255))
    img.save(png)
    changed = rank(str(dataset), models=models, scorers=["sfda"], settings=settings)
    assert changed.dataset.fingerprint != first.dataset.fingerprint
    assert all(not m.cached for m in changed.models)


def test_a_model_that_cannot_load_does_not_sink_the_ranking(
    dataset: Path, settings: Any, tiny_entry: Any
) -> None:
    from service.pipeline.run import rank

    ok = tiny_entry("tiny.ok", seed=1)
    tampered = tiny_entry("tiny.tampered", seed=2, sha256="0" * 64)
    ranking = rank(str(dataset), models=[tampered, ok], scorers=["sfda"], settings=settings)
    _check_ranking_invariants(ranking)
    assert [m.id for m in ranking.models] == ["tiny.ok", "tiny.tampered"]
    bad = ranking.models[1]
    assert bad.error is not None and bad.error.code == "weights-integrity"
    assert bad.aggregate_rank is None and bad.scores == {} and bad.feature_dim is None
    assert ranking.models[0].ranks == {"sfda": 1.0}


def test_sampling_caps_and_limits(dataset: Path, settings: Any, tiny_entry: Any) -> None:
    from service.pipeline.run import rank
    from service.settings import LimitExceededError

    model = tiny_entry("tiny.a", seed=1)
    small = rank(str(dataset), models=[model], scorers=["sfda"], max_per_class=3, settings=settings)
    assert small.dataset.num_samples == 9 and set(small.dataset.class_counts.values()) == {3}
    assert small.dataset.sampling.max_per_class == 3

    capped = rank(
        str(dataset),
        models=[model],
        scorers=["sfda"],
        settings=settings.with_overrides(max_images_per_job=12),
    )
    assert capped.dataset.num_samples == 12 and capped.dataset.sampling.max_samples == 12

    with pytest.raises(LimitExceededError, match="limit"):
        rank(
            str(dataset),
            models=[model],
            scorers=["sfda"],
            max_samples=13,
            settings=settings.with_overrides(max_images_per_job=12),
        )
    with pytest.raises(LimitExceededError, match="models"):
        rank(
            str(dataset),
            models=[model, tiny_entry("tiny.b")],
            scorers=["sfda"],
            settings=settings.with_overrides(max_models_per_job=1),
        )


def test_corrupt_images_are_counted_or_refused(dataset: Path, settings: Any, tiny_entry: Any) -> None:
    from service.pipeline.run import rank
    from zoo.errors import TooManyCorruptImagesError

    (dataset / "square" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    model = tiny_entry("tiny.a", seed=1)
    tolerant = settings.with_overrides(corrupt_image_threshold=0.1)
    ranking = rank(str(dataset), models=[model], scorers=["sfda"], settings=tolerant)
    assert ranking.dataset.corrupt == 1 and ranking.dataset.num_samples == 24
    assert ranking.dataset.class_counts["square"] == 8
    with pytest.raises(TooManyCorruptImagesError):
        rank(str(dataset), models=[model], scorers=["sfda"], settings=settings)


def test_bad_references_fail_before_any_model_loads(tmp_path: Path, settings: Any, tiny_entry: Any) -> None:
    from service.pipeline.run import rank
    from zoo.errors import DatasetNotFoundError, PathNotAllowedError, UnknownModelError

    model = tiny_entry("tiny.a")
    with pytest.raises(DatasetNotFoundError):
        rank(str(tmp_path / "nope"), models=[model], scorers=["sfda"], settings=settings)
    with pytest.raises(PathNotAllowedError):
        rank("/etc", models=[model], scorers=["sfda"], settings=settings)
    with pytest.raises(UnknownModelError, match="Valid"):
        rank(str(tmp_path), models=["no_such.model"], scorers=["sfda"], settings=settings)
    with pytest.raises(UnknownModelError, match="matches"):
        rank(str(tmp_path), models=["no_such_*"], scorers=["sfda"], settings=settings)


def test_default_zoo_is_builtin_and_trained_entries(settings: Any) -> None:
    import zoo
    from service.pipeline.plan import resolve_models

    default = resolve_models(None, settings)
    expected = [e.id for e in zoo.list_entries() if {"builtin", "trained"} & set(e.tags)]
    assert [e.id for e in default] == expected and "digit_cnn.mnist" in expected
    assert not any("catalogue" in e.tags for e in default)
    picked = resolve_models(["efficientnet_lite*", "efficientnet_lite0.in1k"], settings)
    assert [e.id for e in picked] == [e.id for e in zoo.list_entries("efficientnet_lite*")]


def test_a_ranking_with_no_model_scored_is_an_error(dataset: Path, settings: Any, tiny_entry: Any) -> None:
    """Never a document whose first row is unusable: the first model's reason, as a typed error."""
    from service.pipeline.run import rank

    tampered = tiny_entry("tiny.tampered", seed=2, sha256="0" * 64)
    with pytest.raises(NoModelScoredError) as raised:
        rank(str(dataset), models=[tampered], scorers=["sfda"], settings=settings)
    assert raised.value.code == "no-model-scored"
    assert (
        "first reason: tiny.tampered:" in raised.value.message
        and "[weights-integrity]" in raised.value.message
    )


@pytest.mark.parametrize("probe", ["probe_cv", "ridge_loo"])
def test_every_ranking_carries_its_recommendation(
    dataset: Path, settings: Any, tiny_entry: Any, probe: str
) -> None:
    """Both probes report per-sample held-out terms, so the bootstrap resamples them without refitting."""
    from service.pipeline.run import rank

    models = [tiny_entry("tiny.r1", seed=1), tiny_entry("tiny.r2", seed=2), tiny_entry("tiny.r3", seed=3)]
    ranking = rank(str(dataset), models=models, scorers=[probe, "hscore"], settings=settings)
    rec = ranking.recommendation
    assert rec is not None and rec.model == ranking.models[0].id
    assert rec.runner_up == ranking.models[1].id and rec.confidence_set[0] == rec.model
    assert rec.method["resampled"][probe] == "out-of-fold"
    assert abs(sum(c.p_best for c in rec.candidates) - 1.0) < 1e-9  # 200 resamples: rounding error only
    assert all("per_sample" not in m.info.get(probe, {}) for m in ranking.models)  # kept off the wire
    check_schema(json.loads(ranking.to_json()), RANKING_JSON_SCHEMA)
