"""The pipeline's stage functions: they compose to ``rank()``, their records survive JSON, they can be
cancelled, and the request fingerprint changes exactly when the answer can."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from service import errors
from service.jobs.request import RankingRequest, Sampling, request_fingerprint, to_plan
from service.pipeline import assemble, extract, score
from service.pipeline import plan as planning
from service.pipeline import sample as sampling
from service.pipeline.run import rank
from service.pipeline.schema import ErrorInfo
from service.pipeline.types import Cells, ModelInputs
from service.settings import Settings
from tests.support.service import write_image_folder


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    """The ranking document without what legitimately differs between two runs (times, store hits)."""
    doc["provenance"].pop("created_at")
    for m in doc["models"]:
        m.pop("extraction_seconds")
        m.pop("cached")
    for timing in ("seconds", "budget_seconds"):  # the recommendation's own wall times
        doc["recommendation"]["method"].pop(timing)
    return doc


def test_stages_compose_to_rank(dataset: Path, settings: Settings, tiny_entry: Any) -> None:
    from zoo.store import FeatureStore

    models = [tiny_entry("tiny.a", seed=1), tiny_entry("tiny.b", seed=2, head=False)]
    scorers = ["sfda", "leep", "etran"]
    plan = planning.plan(str(dataset), models=models, scorers=scorers, settings=settings)
    assert plan.model_ids == ["tiny.a", "tiny.b"] and [p.name for p in plan.scorers] == scorers
    smp = sampling.sample(plan.dataset_ref, plan.spec, settings, base=None)
    store = FeatureStore(settings.store_dir)
    runs = [extract.extract_model(e, smp, settings, device="cpu", store=store) for e in plan.entries]
    cells = {}
    for run in runs:
        inputs = run.inputs()
        assert inputs is not None and run.features is not None
        cells[run.entry.id] = score.score_model(run.entry.id, inputs, run.features.labels, plan.scorers)
    assert set(cells["tiny.a"].scores) == {"sfda", "leep"}  # per-model only: etran is set-level
    assert cells["tiny.b"].errors["leep"].code == "not-applicable"
    staged = assemble.finalise(smp.summary(), plan.scorers, runs, cells, device="cpu")
    whole = rank(str(dataset), models=models, scorers=scorers, settings=settings)
    a, b = _strip(json.loads(staged.to_json())), _strip(json.loads(whole.to_json()))
    # the same stored features through the same code in one process: identical documents
    assert a == b


def test_score_model_reports_probe_cv_folds_and_the_same_cells() -> None:
    """The score stage turns probe_cv's fold callback into ``score`` events with fold counts; the cells
    are those of a run without progress (the callback only observes)."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    inputs = ModelInputs(features=rng.standard_normal((30, 6)) + labels[:, None])
    plans = score.plan_scorers(["logme", "probe_cv"], {"probe_cv": {"folds": 3}})
    events: list[Any] = []
    watched = score.score_model("m", inputs, labels, plans, progress=events.append)
    plain = score.score_model("m", inputs, labels, plans)
    assert watched.scores == plain.scores
    steps = [(e.done, e.message, e.folds_done, e.folds_total) for e in events]
    assert steps == [(0, "logme", 0, 0), (1, "probe_cv", 0, 0)] + [(1, "probe_cv", f, 3) for f in (1, 2, 3)]


def test_records_and_summaries_round_trip_through_json(
    dataset: Path, settings: Settings, tiny_entry: Any
) -> None:
    from zoo.store import FeatureStore

    plan = planning.plan(str(dataset), models=[tiny_entry("tiny.a")], scorers=["sfda"], settings=settings)
    smp = sampling.sample(plan.dataset_ref, plan.spec, settings, base=None)
    summary = smp.summary()
    assert sampling.SampleSummary.from_dict(json.loads(json.dumps(summary.to_dict()))) == summary
    assert summary.spec() == smp.spec
    store = FeatureStore(settings.store_dir)
    run = extract.extract_model(plan.entries[0], smp, settings, device="cpu", store=store)
    record = run.record()
    assert extract.ExtractionRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    again = extract.load_extraction(plan.entries[0], record, store)
    assert again.features is not None and run.features is not None
    assert np.array_equal(again.features.features, run.features.features)
    # a worker rebuilds the identical sample from the summary
    rebuilt = sampling.resample(summary, settings.with_overrides(data_roots={"d": dataset.parent}))
    assert rebuilt.data.keys == smp.data.keys and rebuilt.digest == smp.digest


_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
_name = st.text(alphabet="abcdefgh_", min_size=1, max_size=8)


@hsettings(max_examples=60, deadline=None)
@given(
    scores=st.dictionaries(_name, _finite, max_size=4),
    errors=st.dictionaries(_name, st.tuples(_name, st.text(max_size=20)), max_size=3),
    info=st.dictionaries(
        _name, st.dictionaries(_name, st.one_of(_finite, st.integers(), st.text(max_size=5)))
    ),
)
def test_cells_round_trip_through_json(
    scores: dict[str, float], errors: dict[str, tuple[str, str]], info: dict[str, dict[str, Any]]
) -> None:
    cells = Cells(scores=scores, errors={k: ErrorInfo(*v) for k, v in errors.items()}, info=info)
    back = score.cells_from_dict(json.loads(json.dumps(score.cells_to_dict(cells), allow_nan=False)))
    assert back.scores == cells.scores and back.errors == cells.errors and back.info == cells.info


def test_cell_diagnostics_become_plain_json() -> None:
    cells = Cells(
        scores={"ped": 1.0}, info={"ped": {"steps": np.arange(3), "t": np.float32(0.5), "bad": math.nan}}
    )
    doc = score.cells_to_dict(cells)
    assert doc["info"]["ped"] == {"steps": [0, 1, 2], "t": 0.5, "bad": None}
    json.dumps(doc, allow_nan=False)


def test_cancel_is_checked_between_scorers_and_between_batches(
    dataset: Path, settings: Settings, tiny_entry: Any
) -> None:
    from zoo.store import FeatureStore

    plan = planning.plan(
        str(dataset), models=[tiny_entry("tiny.c")], scorers=["sfda", "leep"], settings=settings
    )
    smp = sampling.sample(plan.dataset_ref, plan.spec, settings, base=None)
    store = FeatureStore(settings.store_dir)
    calls = iter([False, False, True])  # before the first batch, after it, then cancelled
    with pytest.raises(errors.JobCancelledError):
        extract.extract_model(
            plan.entries[0],
            smp,
            settings.with_overrides(batch_size=4),
            device="cpu",
            store=store,
            cancel=lambda: next(calls, True),
        )
    assert store.keys() == []  # nothing half-done was stored
    run = extract.extract_model(plan.entries[0], smp, settings, device="cpu", store=store)
    inputs = run.inputs()
    assert inputs is not None and run.features is not None
    only = score.score_model("tiny.c", inputs, run.features.labels, plan.scorers, only=["leep"])
    assert set(only.scores) == {"leep"}
    seen = iter([False, True])
    with pytest.raises(errors.JobCancelledError):
        score.score_model("tiny.c", inputs, run.features.labels, plan.scorers, cancel=lambda: next(seen))


def test_allowed_roots_bound_the_api_and_widen_only_for_a_local_base(tmp_path: Path) -> None:
    s = Settings(home=tmp_path / "h", data_roots={"data": tmp_path / "data"})
    api = sampling.allowed_roots(s, None)
    uploads = tmp_path / "h" / "uploads"
    assert dict(api.named) == {"data": tmp_path / "data", "uploads": uploads}
    assert set(api.paths) == {tmp_path / "data", uploads}
    local = sampling.allowed_roots(s, tmp_path / "work")
    assert set(local.paths) == {tmp_path / "data", uploads, tmp_path / "work"}
    assert dict(local.named) == dict(api.named)  # the names survive the widening


def test_sample_checks_classes(tmp_path: Path) -> None:
    from service.settings import LimitExceededError
    from zoo.datasets import SamplingSpec

    root = tmp_path / "data"
    write_image_folder(root / "shapes", per_class=2, size=8)
    s = Settings(home=tmp_path / "h", data_roots={"data": root})
    assert len(sampling.sample("data:shapes", SamplingSpec(), s, base=None).data) == 6
    with pytest.raises(LimitExceededError, match="ZOORANK_MAX_CLASSES"):
        sampling.sample("data:shapes", SamplingSpec(), s.with_overrides(max_classes=2), base=None)
    (root / "one").mkdir()
    (root / "shapes" / "circle").rename(root / "one" / "circle")
    with pytest.raises(errors.TooFewClassesError):
        sampling.sample("data:one", SamplingSpec(), s, base=None)


def test_resample_refuses_a_dataset_that_changed(tmp_path: Path) -> None:
    from zoo.datasets import SamplingSpec

    root = tmp_path / "data"
    write_image_folder(root / "shapes", per_class=2, size=8)
    s = Settings(home=tmp_path / "h", data_roots={"data": root})
    summary = sampling.sample("data:shapes", SamplingSpec(), s, base=None).summary()
    (root / "shapes" / "square" / "000.png").write_bytes(
        (root / "shapes" / "circle" / "000.png").read_bytes()
    )
    with pytest.raises(errors.DatasetChangedError):
        sampling.resample(summary, s)


def test_request_fingerprint_is_spelling_invariant_and_content_sensitive(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_image_folder(root / "shapes", per_class=3, size=8)
    s = Settings(home=tmp_path / "h", data_roots={"data": root})

    def fp(**fields: Any) -> str:
        req = RankingRequest.model_validate(
            {"dataset": "data:shapes", "models": ["cnn4.glyphs", "resnet8.glyphs"], **fields}
        )
        plan = to_plan(req, s)
        return request_fingerprint(
            plan, sampling.sample(plan.dataset_ref, plan.spec, s, base=None).summary(), s
        )

    base = fp(scorers=["logme", "sfda"])
    assert fp(scorers=["logme", "sfda"], models=["resnet8.glyphs", "cnn4.glyphs"]) == base  # model order
    assert fp(scorers=["logme", "sfda"], params={"logme": {}}) == base  # empty overrides
    assert fp(scorers=["logme", "sfda"], params={"logme": {"max_iter": 11}}) == base  # the default, explicit
    assert (
        fp(scorers=["logme", "sfda"], sampling={"seed": 0, "max_per_class": 100}) == base
    )  # defaults spelled
    assert fp(scorers=["logme", "sfda"], models=["cnn4.glyphs", "resnet8.glyph*"]) == base  # pattern
    changed = {
        fp(scorers=["sfda", "logme"]),  # column order is part of the document
        fp(scorers=["logme", "sfda"], sampling={"seed": 1}),
        fp(scorers=["logme", "sfda"], sampling={"max_per_class": 2}),
        fp(scorers=["logme", "sfda"], models=["cnn4.glyphs"]),
        fp(scorers=["logme", "sfda"], params={"logme": {"max_iter": 20}}),  # a parameter value
        fp(scorers=["logme", "sfda"], dataset=f"file://{root}/shapes"),  # another reference, same content
    }
    assert base not in changed and len(changed) == 6
    (root / "shapes" / "circle" / "000.png").write_bytes(
        (root / "shapes" / "square" / "000.png").read_bytes()
    )
    assert fp(scorers=["logme", "sfda"]) != base  # one image changed


def test_request_model_bounds() -> None:
    assert RankingRequest(dataset="data:x", sampling=Sampling(seed=2**32 - 1)).sampling is not None
    with pytest.raises(ValueError):
        Sampling(max_per_class=-1)


def test_the_ensemble_scorer_that_recommends_the_team_is_part_of_the_fingerprint(tmp_path: Path) -> None:
    """A cached ranking must not answer with the team recommended by another ensemble scorer than the
    service's setting (bug: a changed ``ZOORANK_ENSEMBLE_SCORER`` kept serving the old recommendation)."""
    root = tmp_path / "data"
    write_image_folder(root / "shapes", per_class=3, size=8)

    def fp(ensemble: dict[str, Any] | None, scorer: str) -> str:
        s = Settings(home=tmp_path / "h", data_roots={"data": root}, default_ensemble_scorer=scorer)
        fields: dict[str, Any] = {"dataset": "data:shapes", "models": ["cnn4.glyphs", "resnet8.glyphs"]}
        if ensemble is not None:
            fields["ensemble"] = ensemble
        plan = to_plan(RankingRequest.model_validate(fields), s)
        return request_fingerprint(
            plan, sampling.sample(plan.dataset_ref, plan.spec, s, base=None).summary(), s
        )

    assert fp({"k": 2}, "mean_leep") != fp({"k": 2}, "ens_eep")
    assert fp(None, "mean_leep") == fp(None, "ens_eep")  # no ensembles section: nothing to recommend
