"""The offline benchmark end to end at CI size, plus its parts: targets, the ground-truth runner, metrics.

The CI check (``test_ci_probe_truth_matches_committed`` and ``test_whole_path_to_tau``) runs the code of
the full benchmark on 3 small targets (30 train images per class, 300 test images) and 6 small models:
targets -> preprocessing -> features -> linear probe (the truth), and targets -> ``rank`` -> scores ->
tau_w. About a minute of CPU on the 2-core development machine.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import estimators
from benchmark import ci
from benchmark import targets as tg
from benchmark.finetune import PROBE_PROTOCOL
from benchmark.groundtruth import Unit, default_models, load_results, plan_units, run_units
from benchmark.quality import PLOTS, QualityReport, metrics, render_markdown, score_target
from service.catalogue import RELIABILITY_FILE
from service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "benchmark" / "results" / "ci_truth.json"


@pytest.fixture(scope="module")
def targets_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("targets")
    for name in ci.CI_TARGETS:
        tg.prepare_target(name, root)
    return root


# --------------------------------------------------------------------------- CI-size benchmark


@pytest.mark.slow
def test_ci_probe_truth_matches_committed(targets_root: Path) -> None:
    committed = json.loads(COMMITTED.read_text())
    assert committed["protocol"]["version"] == PROBE_PROTOCOL.version
    fresh = ci.ci_truth(targets_root)
    # Same packages, seeds and protocol give the same splits (their digests are checked below) and the
    # same features up to BLAS rounding (~1e-6 relative across x86 kernels). lbfgs then converges to the
    # same optimum within its tolerance, so only test images within that margin of a decision boundary
    # can flip: 6 of 300 (0.02) is far more than such near-ties, and far less than the gaps between
    # models that the ranking measures (typically 0.05-0.3).
    for target, per_model in committed["truth"].items():
        for model, acc in per_model.items():
            assert fresh[target][model] == pytest.approx(acc, abs=0.02), (target, model)


def test_ci_splits_are_fixed_and_disjoint(targets_root: Path) -> None:
    for name in ci.CI_TARGETS:
        train, test = ci.ci_splits(name, targets_root)
        assert len(test.labels) == ci.CI_TEST
        counts = np.bincount(train.labels, minlength=len(train.classes))
        assert counts.sum() == ci.CI_TRAIN_PER_CLASS * len(train.classes) and np.ptp(counts) <= 2
        again, _ = ci.ci_splits(name, targets_root)
        assert tg.content_digest(again) == tg.content_digest(train)


@pytest.mark.slow
def test_whole_path_to_tau(targets_root: Path, tmp_path: Path) -> None:
    truth = json.loads(COMMITTED.read_text())["truth"]
    settings = Settings(home=tmp_path / "home", device="cpu", torch_threads=1)
    root = tmp_path / "ci_targets"
    for name in ci.CI_TARGETS:
        train, _ = ci.ci_splits(name, targets_root)
        (root / name).mkdir(parents=True)
        np.savez_compressed(
            root / name / "train.npz",
            images=train.images,
            labels=train.labels,
            classes=np.array(train.classes),
        )
        got = score_target(
            name,
            0,
            models=ci.CI_MODELS,
            scorers=["logme", "leep", "probe_cv"],
            settings=settings,
            targets_root=root,
        )
        assert set(got["scores"]) == set(ci.CI_MODELS)
        for scorer in ("logme", "probe_cv"):
            values = {m: v[scorer] for m, v in got["scores"].items()}
            assert len(values) == len(ci.CI_MODELS)  # every model is scored by the feature scorers
            row = metrics(values, truth[name])
            assert row["tau_w"] is not None and -1.0 <= row["tau_w"] <= 1.0
            assert row["rel1"] is not None and 0.0 < row["rel1"] <= 1.0
            assert row["rel3"] is not None and row["rel3"] >= row["rel1"]


# --------------------------------------------------------------------------- targets


@settings(max_examples=50, deadline=None, database=None, derandomize=True)
@given(
    sizes=st.lists(st.integers(1, 30), min_size=1, max_size=8),
    limit=st.integers(1, 200),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_take_is_proportional_and_seeded(sizes: list[int], limit: int, seed: int) -> None:
    labels = np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)
    idx = tg.stratified_take(labels, limit, np.random.default_rng(seed))
    assert len(idx) == min(limit, len(labels))
    assert len(np.unique(idx)) == len(idx)
    if limit < len(labels):
        got = np.bincount(labels[idx], minlength=len(sizes))
        quota = limit * np.array(sizes) / len(labels)
        assert np.all(np.abs(got - quota) < 1.0 + 1e-9)  # largest remainder: within one of the quota
    np.testing.assert_array_equal(idx, tg.stratified_take(labels, limit, np.random.default_rng(seed)))


def test_prepare_target_is_idempotent_and_splits_are_disjoint(targets_root: Path) -> None:
    first = tg.prepare_target("digits", targets_root)
    assert tg.prepare_target("digits", targets_root) == first
    train = tg.load_split("digits", "train", targets_root)
    test = tg.load_split("digits", "test", targets_root)
    few = tg.load_split("digits", "train10", targets_root)
    assert len(train.labels) <= tg.MAX_TRAIN and len(test.labels) <= tg.MAX_TEST
    assert np.all(np.bincount(few.labels) == tg.SHOTS)
    assert tg.content_digest(train) == first["train"]
    # the 1,797 sklearn digits are split, not sampled with replacement: together they are all of them
    assert len(train.labels) + len(test.labels) == 1797


def test_missing_split_is_a_typed_error(tmp_path: Path) -> None:
    from zoo.errors import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match="benchmark.targets"):
        tg.load_split("digits", "train", tmp_path)


# --------------------------------------------------------------------------- ground-truth runner


def test_plan_puts_probes_first_and_imagenet_last() -> None:
    models = default_models()
    units = plan_units(models, ["digits", "digits_10shot"])
    methods = [u.method for u in units]
    assert methods == sorted(methods, key=lambda m: m != "probe")  # every probe before any fine-tune
    fine = [u for u in units if u.method == "finetune"]
    sizes = [next(e for e in models if e.id == u.model).preprocessing.input_size for u in fine]
    assert sizes == sorted(sizes, key=lambda s: s > 32)  # 28-32 px models before the 64 px ImageNet ones
    assert fine[0].target == "digits_10shot"  # 10-shot (cheap) before the full target
    assert len(units) == len({u.key for u in units}) == 2 * 2 * len(models)


def test_run_units_records_and_resumes(tmp_path: Path) -> None:
    results = tmp_path / "results"
    root = tmp_path / "targets"
    unit = Unit("probe", "cnn4.random_init", "digits_10shot")
    assert run_units([unit], results=results, targets_root=root, log=lambda _: None) == 1
    runs = load_results(results)["runs"]
    assert [r["key"] for r in runs] == [unit.key]
    rec = runs[0]
    assert 0.0 < rec["accuracy"] <= 1.0 and rec["cpu_seconds"] >= 0
    assert (
        rec["target_digests"]["train"]
        == json.loads((root / "digits" / "digests.json").read_text())["train10"]
    )
    assert {"torch", "numpy", "scikit-learn"} <= set(rec["versions"])
    # a rerun finds the unit recorded and runs nothing
    assert run_units([unit], results=results, targets_root=root, log=lambda _: None) == 0


def test_finetune_selects_by_validation_and_is_deterministic(targets_root: Path) -> None:
    from benchmark.finetune import FinetuneProtocol, finetune, preprocess
    from zoo._api import get_entry

    entry = get_entry("cnn4.random_init")
    train = tg.load_split("digits", "train10", targets_root)
    test = tg.load_split("digits", "test", targets_root)
    x_train = preprocess(train.images, entry.preprocessing)
    x_test = preprocess(test.images[:200], entry.preprocessing)
    protocol = FinetuneProtocol(lrs=(0.001, 0.03), epochs=2, min_steps=4)
    runs = [finetune(entry, x_train, train.labels, x_test, test.labels[:200], protocol) for _ in range(2)]
    res = runs[0]
    assert res.test_probs.shape == (200, 10)
    np.testing.assert_allclose(res.test_probs.sum(1), 1.0, atol=1e-3)  # float32 softmax rows
    assert res.accuracy == float((res.test_probs.argmax(1) == test.labels[:200]).mean())
    assert res.lr == max(protocol.lrs, key=lambda lr: (res.val_accuracy[repr(lr)], -lr))
    assert res.steps == 4  # max(2 epochs of 2 batches, 4 steps)
    # one thread, deterministic kernels, fixed seeds: a rerun in the same process is identical
    np.testing.assert_array_equal(runs[1].test_probs, res.test_probs)


def test_run_units_skips_a_unit_another_run_recorded_meanwhile(tmp_path: Path) -> None:
    from benchmark.groundtruth import _append

    results = tmp_path / "results"
    results.mkdir()
    first, second = (
        Unit("probe", "cnn4.random_init", "digits_10shot"),
        Unit("probe", "cnn4.glyphs", "digits_10shot"),
    )
    other: dict[str, Any] = {"key": second.key, "method": "probe", "model": second.model}
    other |= {"target": second.target, "accuracy": 0.5, "protocol": {"version": PROBE_PROTOCOL.version}}
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("[1/2]"):  # while the first unit runs, another process records the second
            _append(results, other)

    assert run_units([first, second], results=results, targets_root=tmp_path / "t", log=log) == 1
    runs = {r["key"]: r for r in load_results(results)["runs"]}
    assert runs[second.key]["accuracy"] == 0.5  # the other run's record, not redone
    assert any(line.startswith(f"skip {second.key}") for line in lines)


# --------------------------------------------------------------------------- metrics and report


def test_metrics_on_a_known_ranking() -> None:
    truth = {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.1}
    perfect = metrics({"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}, truth)
    assert perfect["tau_w"] == pytest.approx(1.0) and perfect["kendall"] == pytest.approx(1.0)
    assert perfect["rel1"] == 1.0 and perfect["rel3"] == 1.0
    wrong_top = metrics({"a": 1.0, "b": 3.0, "c": 2.0, "d": 4.0}, truth)
    assert wrong_top["rel1"] == pytest.approx(0.1 / 0.9)
    assert wrong_top["tau_w"] is not None and wrong_top["tau_w"] < 1.0
    # a constant scorer orders nothing: the correlations are undefined, not NaN
    flat = metrics(dict.fromkeys(truth, 1.0), truth)
    assert flat["tau_w"] is None and flat["kendall"] is None


def test_report_says_where_the_truth_is_incomplete() -> None:
    report = QualityReport(
        models=["m0", "m1", "m2"],
        coverage={"digits": {"probe": 3, "finetune": 1}},
        scorers=["logme"],
        aggregates={"agg_default": ("logme",)},
        sizes=(0,),
    )
    for truth, value in (("probe", 0.5), ("finetune", None)):
        report.rows.append(
            {"scorer": "logme", "target": "digits", "size": 0, "truth": truth, "models": 3, "tau_w": value}
            | dict.fromkeys(("kendall", "pearson", "rel1", "rel3"))
        )
    text = render_markdown(report, ["digits"], [])
    assert "| digits | 3/3 | 1/3 (incomplete) |" in text
    assert "0.500" in text and math.isfinite(report.mean("logme", "probe") or math.nan)


MODELS3 = {"cnn4.glyphs": 0.9, "cnn4.random_init": 0.5, "digit_cnn.mnist": 0.7}


def _cached_results(tmp_path: Path, targets_root: Path, methods: tuple[str, ...] = ("probe",)) -> Path:
    """A results folder: truth of 3 models on digits, and cached logme scores at 50 per class."""
    results = tmp_path / "results"
    results.mkdir()
    runs = [
        {"key": f"{meth}|{m}|digits", "method": meth, "model": m, "target": "digits", "accuracy": a}
        | {"protocol": {"version": PROBE_PROTOCOL.version}, "cpu_seconds": 2.0, "seconds": 3.0}
        for m, a in MODELS3.items()
        for meth in methods
    ]
    (results / "groundtruth.json").write_text(json.dumps({"schema": 1, "runs": runs}))
    digest = json.loads((targets_root / "digits" / "digests.json").read_text())["train"]
    scores = {"cnn4.glyphs": 3.0, "cnn4.random_init": 1.0, "digit_cnn.mnist": 2.0}
    entry = {
        "digest": digest,
        "models": sorted(MODELS3),
        "versions": {"logme": estimators.get_scorer("logme").version},
        "scores": {m: {"logme": v} for m, v in scores.items()},
        "ranks": {m: {"logme": 4.0 - v} for m, v in scores.items()},
        "errors": {},
    }
    (results / "scores.json").write_text(json.dumps({"digits|50": entry}))
    return results


def test_evaluate_uses_the_score_cache_and_lists_what_is_missing(targets_root: Path, tmp_path: Path) -> None:
    from benchmark.quality import evaluate

    results = _cached_results(tmp_path, targets_root)
    models = list(MODELS3)
    report = evaluate(
        results,
        targets=["digits"],
        scorers=["logme", "leep"],
        sizes=[50],
        models=models,
        targets_root=targets_root,
        ensembles=False,
        cached_only=True,
    )
    assert report.cell("logme", "digits", "probe") == pytest.approx(1.0)  # same order as the truth
    assert report.cell("leep", "digits", "probe") is None  # not cached: not computed, listed instead
    assert any(m.startswith("digits at 50 per class: leep") for m in report.missing)
    assert any(m.startswith("digits_10shot") for m in report.missing)
    assert report.coverage["digits"] == {"probe": 3, "finetune": 0}
    assert report.cpu_hours["probe"] == pytest.approx(6.0 / 3600)


def test_default_choice_section_names_the_best_set_and_the_default() -> None:
    from benchmark.quality import choose_default, summary_markdown
    from service.settings import DEFAULT_SCORERS

    models = [f"m{i}" for i in range(5)]
    acc = {m: 0.9 - 0.1 * i for i, m in enumerate(models)}
    good = {m: float(i + 1) for i, m in enumerate(models)}  # rank 1 = the most accurate
    bad = {m: float(len(models) - i) for i, m in enumerate(models)}
    scorers = sorted({*DEFAULT_SCORERS, "leep"})
    ranks = {m: {s: (good if s == "leep" else bad)[m] for s in scorers} for m in models}
    targets = ["digits", "digits_10shot"]
    report = QualityReport(
        scorers=scorers,
        models=models,
        truth={"finetune": dict.fromkeys(targets, acc), "probe": dict.fromkeys(targets, acc)},
        ranks=dict.fromkeys(targets, ranks),
    )
    sel = choose_default(report)
    assert sel["previous"] is None  # the old default's scorers were not all evaluated here
    assert sel["top"][0]["members"] == ["leep"] and sel["top"][0]["mean"] == pytest.approx(1.0)
    assert sel["default"]["mean"] == pytest.approx(-1.0)
    assert sel["loto"]["mean"] == pytest.approx(1.0)
    report.selection = sel
    summary = summary_markdown(report, "2026-01-01")
    assert "| **leep** (best single scorer) | 1.000 | 1.000 | 1.000 | 1.000 |" in summary
    assert "| digits | leep (1.000) |" in summary
    text = render_markdown(report, ["digits"], [])
    assert "Best set: **leep** (1.000)" in text and "margin over the best single scorer -2.000" in text


def test_readme_block_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    from benchmark.quality import README_MARKERS, update_readme

    readme = tmp_path / "README.md"
    start, end = README_MARKERS
    readme.write_text(f"# head\n{start}\nold numbers\n{end}\ntail\n")
    update_readme(readme, "new numbers")
    assert readme.read_text() == f"# head\n{start}\nnew numbers\n{end}\ntail\n"
    readme.write_text(f"{start}\n{start}\n{end}\n")
    with pytest.raises(ValueError, match="exactly one"):
        update_readme(readme, "x")
    assert readme.read_text() == f"{start}\n{start}\n{end}\n"  # refused: left as it was


def test_benchmark_quality_cli_writes_the_report_and_the_readme_block(
    targets_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from benchmark.__main__ import app
    from benchmark.quality import README_MARKERS

    results = _cached_results(tmp_path, targets_root, methods=("probe", "finetune"))
    home = tmp_path / "home"
    (home / "bench").mkdir(parents=True)
    (home / "bench" / "targets").symlink_to(targets_root)
    monkeypatch.setenv("ZOORANK_HOME", str(home))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_MARKERS[0]}\nold\n{README_MARKERS[1]}\n")
    base = ["quality", "--results", str(results), "-t", "digits", "-s", "logme", "--cached-only"]
    base += ["--no-ensembles", *(a for m in MODELS3 for a in ("-m", m))]
    shipped = RELIABILITY_FILE.read_bytes()
    ok = CliRunner().invoke(app, [*base, "--sizes", "50", "--readme", str(readme)])
    assert ok.exit_code == 0, ok.output
    # a report written elsewhere keeps its reliability beside it: what the service shows is unchanged
    assert RELIABILITY_FILE.read_bytes() == shipped
    assert json.loads((results / RELIABILITY_FILE.name).read_text())["tau_w"]
    assert (results / "quality.md").is_file() and (results / "quality_heatmap.png").is_file()
    text = readme.read_text()
    assert text.startswith("intro\n") and "old" not in text
    assert "| digits | logme (1.000) |" in text  # logme orders the three models exactly as the truth
    for bad, why in (
        (["--sizes", "ten"], "--sizes must be integers"),
        (["--sizes", "-1"], "--sizes needs integers >= 0"),
        (["--readme", str(tmp_path / "none.md")], "needs exactly one block"),
    ):
        res = CliRunner().invoke(app, [*base, *bad])
        assert res.exit_code == 2 and why in res.output, res.output


def test_baseline_rows_grade_each_baseline_on_a_constructed_truth() -> None:
    from benchmark.quality import baseline_rows

    acc = {"m0": 0.9, "m1": 0.7, "m2": 0.5, "m3": 0.2}
    truth = {"finetune": {"t": acc}, "probe": {"t": {m: 1.0 - a for m, a in acc.items()}}}
    values = {
        "size": {"m0": 4.0, "m1": 3.0, "m2": 2.0, "m3": 1.0},  # the fine-tune order exactly
        "acc": {"m0": 0.1, "m1": 0.2},  # two models known (the others not applicable)
        "one": {"m0": 1.0},  # a single model orders nothing
    }
    rows = {(r["scorer"], r["truth"]): r for r in baseline_rows(values, truth, ["t"])}
    assert len(rows) == 6 and all(r["target"] == "t" for r in rows.values())
    assert rows[("size", "finetune")]["tau_w"] == pytest.approx(1.0)  # exact up to rounding
    assert rows[("size", "probe")]["tau_w"] == pytest.approx(-1.0)
    assert rows[("size", "finetune")]["rel1"] == 1.0 and rows[("size", "finetune")]["models"] == 4
    assert rows[("acc", "finetune")]["models"] == 2 and rows[("acc", "finetune")]["rel1"] == pytest.approx(
        0.7 / 0.9
    )
    assert rows[("one", "finetune")]["models"] == 1 and rows[("one", "finetune")]["tau_w"] is None
    absent = baseline_rows(values, truth, ["absent"])
    assert {r["target"] for r in absent} == {"absent"} and all(r["tau_w"] is None for r in absent)


def test_the_report_shows_the_best_baseline_and_the_defaults_margin_on_both_truths() -> None:
    from benchmark.quality import baseline_rows, baseline_summary, choose_default, summary_markdown
    from service.settings import DEFAULT_SCORERS

    models = [f"m{i}" for i in range(5)]
    fine = {m: 0.9 - 0.1 * i for i, m in enumerate(models)}
    probe = {m: 0.1 + 0.1 * i for i, m in enumerate(models)}  # the reverse order
    good = {m: float(i + 1) for i, m in enumerate(models)}  # rank 1 = the most accurate on fine-tune
    ranks = {m: dict.fromkeys(DEFAULT_SCORERS, good[m]) for m in models}
    targets = ["digits", "digits_10shot"]
    report = QualityReport(
        scorers=sorted(DEFAULT_SCORERS),
        models=models,
        coverage={"digits": {"probe": 5, "finetune": 5}},
        truth={"finetune": dict.fromkeys(targets, fine), "probe": dict.fromkeys(targets, probe)},
        ranks=dict.fromkeys(targets, ranks),
    )
    report.selection = choose_default(report)
    values = {
        "param_count": {m: 10.0 - i for i, m in enumerate(models)},  # the fine-tune order
        "feature_width": {m: float(i) for i, m in enumerate(models)},  # the probe order
    }
    report.baseline_rows = baseline_rows(values, report.truth, targets)
    report.baseline_not_scored = {"param_count": {}, "feature_width": {"m9": "not-applicable"}}
    report.baselines = baseline_summary(report)
    s = report.baselines
    # weighted tau of an identical / reversed order is exactly +-1 up to rounding
    assert s["best"] == {"finetune": "param_count", "probe": "feature_width"}
    assert s["default"]["finetune"] == pytest.approx(1.0) and s["default"]["probe"] == pytest.approx(-1.0)
    assert s["margin"]["finetune"] == pytest.approx(0.0, abs=1e-12)
    assert s["margin"]["probe"] == pytest.approx(-2.0)
    assert s["baselines"]["param_count"]["full"] == pytest.approx(1.0)
    assert s["baselines"]["feature_width"]["worst"] == pytest.approx(-1.0)
    assert set(s["scorers"]["probe"]) == set(DEFAULT_SCORERS)

    text = render_markdown(report, ["digits"], [])
    assert "## Data-free baselines (guardrails)" in text
    assert "| **param_count** (best, fine-tune truth) | baseline | 1.000 | -1.000 | +0.000 | -2.000 |" in text
    assert "| **feature_width** (best, probe truth) | baseline | -1.000 | 1.000 | -2.000 | +0.000 |" in text
    members = ", ".join(sorted(DEFAULT_SCORERS))
    assert f"| **default** ({members}) | default | 1.000 | -1.000 | +0.000 | -2.000 |" in text
    assert "feature_width: not scored (`not-applicable`) for 1 of 5 models (m9)" in text
    margin = (
        "The default's margin in mean tau_w over the best data-free baseline: +0.000 on the fine-tune truth "
        "(default 1.000 vs param_count 1.000); -2.000 on the probe truth (default -1.000 vs feature_width "
        "1.000)."
    )
    assert margin in text
    summary = summary_markdown(report, "2026-01-01")
    assert "| **param_count** (best data-free baseline, fine-tune truth) | 1.000 | 1.000 | 1.000 |" in summary
    assert "| **feature_width** (best data-free baseline, probe truth) | -1.000 |" in summary
    assert margin.replace("tau_w", "τ_w") in summary


def test_committed_report_and_readme_carry_the_baselines_of_the_committed_files(tmp_path: Path) -> None:
    """``python -m benchmark baselines`` on a copy of the committed results reproduces the committed
    quality.md, quality.json and README block byte for byte: every baseline figure comes from the
    generator, none is hand-edited."""
    import shutil

    from benchmark.quality import README_MARKERS, refresh_baselines

    repo = Path(__file__).resolve().parents[2]
    committed = repo / "benchmark" / "results"
    results = tmp_path / "results"
    results.mkdir()
    for name in ("groundtruth.json", "scores.json", "quality.json", "quality.md", *PLOTS):
        shutil.copy(committed / name, results / name)
    readme = tmp_path / "README.md"
    readme.write_text((repo / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    refresh_baselines(results, readme)
    assert (results / "quality.md").read_text() == (committed / "quality.md").read_text()
    assert (results / "quality.json").read_text() == (committed / "quality.json").read_text()
    start, end = README_MARKERS
    block = readme.read_text().split(start)[1].split(end)[0]
    assert block == (repo / "README.md").read_text().split(start)[1].split(end)[0]
    assert "best data-free baseline" in block


def test_the_default_is_chosen_among_the_sets_without_a_scorer_too_slow_at_scale() -> None:
    """``probe_cv`` orders the models perfectly here, yet the choice (and the leave-one-target-out estimate of
    the procedure) skips every set that contains it; the report says why."""
    from benchmark.quality import AT_SCALE_EXCLUDED, choose_default

    assert "probe_cv" in AT_SCALE_EXCLUDED
    models = [f"m{i}" for i in range(5)]
    acc = {m: 0.9 - 0.1 * i for i, m in enumerate(models)}
    perfect = {m: float(i + 1) for i, m in enumerate(models)}
    half = {m: float(r) for m, r in zip(models, (2, 1, 3, 4, 5), strict=True)}  # one swap at the top
    reversed_ = {m: float(len(models) - i) for i, m in enumerate(models)}
    by = {"probe_cv": perfect, "ridge_loo": half, "hscore": reversed_}
    ranks = {m: {s: by[s][m] for s in by} for m in models}
    targets = ["digits", "digits_10shot", "mnist"]
    report = QualityReport(
        scorers=sorted(by),
        models=models,
        truth={"finetune": dict.fromkeys(targets, acc), "probe": dict.fromkeys(targets, acc)},
        ranks=dict.fromkeys(targets, ranks),
    )
    sel = choose_default(report)
    assert sel["top"][0]["members"] == ["probe_cv"]
    assert sel["choice"]["members"] == ["ridge_loo"] and sel["excluded"] == {
        "probe_cv": AT_SCALE_EXCLUDED["probe_cv"]
    }
    assert all(d["members"] == ["ridge_loo"] for d in sel["loto"]["per_target"].values())
    report.selection = sel
    text = render_markdown(report, ["digits"], [])
    assert "may not contain: `probe_cv` (over 30x the Gram floor" in text
    assert "The best set without them: **ridge_loo**" in text
