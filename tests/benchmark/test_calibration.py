"""The recommendation's calibration on the benchmark (``python -m benchmark calibration``) and the choice of
the default ensemble scorer on the team truth: constructed truths and recommendations, the cache, the
report sections, and the committed report against the settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmark import calibration as cb
from benchmark import targets as tg
from benchmark.groundtruth import SHOT_SUFFIX
from benchmark.quality import QualityReport, choose_ensemble_default, render_markdown
from service.pipeline.recommend import DEFAULT_LEVEL
from service.pipeline.schema import Candidate, Recommendation
from service.settings import DEFAULT_ENSEMBLE_SCORER, DEFAULT_SCORERS

REPO = Path(__file__).resolve().parents[2]


def _rec(p_best: dict[str, float], conf: tuple[str, ...]) -> dict[str, Any]:
    ids = list(p_best)
    return Recommendation(
        model=ids[0],
        runner_up=ids[1] if len(ids) > 1 else None,
        margin=1.0,
        confidence_set=conf,
        clear=len(conf) == 1,
        level=DEFAULT_LEVEL,
        candidates=tuple(Candidate(m, p, 1, 2) for m, p in p_best.items()),
        method={"resampled": {"probe_cv": "out-of-fold"}},
    ).to_dict()


@pytest.mark.unit
def test_co_best_takes_exact_ties_strictly_and_the_tests_noise_tolerantly() -> None:
    truth = {"a": 0.90, "b": 0.90, "c": 0.89, "d": 0.70}
    assert cb.co_best(truth) == (["a", "b"], ["a", "b"])  # no noise model: strict only
    n = 1000
    a = np.zeros(n)
    a[:900] = 1
    b = a.copy()
    c = a.copy()
    c[:10] = 0  # 10 images fewer right: a paired difference of 0.01 with SE sqrt(0.0099/1000) ~ 0.0031
    d = np.zeros(n)
    d[:700] = 1
    correct = {"a": a, "b": b, "c": c, "d": d}
    strict, tolerant = cb.co_best(truth, correct)
    assert strict == ["a", "b"]
    # c's deficit is 3.2 standard errors (outside 1.96), d's far outside: neither is co-best
    assert tolerant == ["a", "b"]
    c2 = a.copy()
    c2[:3] = 0  # 3 images: 0.003 with SE ~ 0.0017, within 1.96 SE
    strict, tolerant = cb.co_best({"a": 0.90, "c": 0.897}, {"a": a, "c": c2})
    assert strict == ["a"] and tolerant == ["a", "c"]


@pytest.mark.unit
def test_target_rows_summary_and_reliability_on_constructed_cases() -> None:
    truth = {"a": 0.9, "b": 0.8, "c": 0.7}
    rows = [
        cb.target_row("t1", _rec({"a": 0.9, "b": 0.1, "c": 0.0}, ("a",)), truth, None),  # right, clear
        cb.target_row("t2", _rec({"b": 0.6, "a": 0.4, "c": 0.0}, ("b", "a")), truth, None),  # set covers
        cb.target_row(f"t3{SHOT_SUFFIX}", _rec({"c": 1.0, "a": 0.0, "b": 0.0}, ("c",)), truth, None),
    ]
    assert [r["covered"] for r in rows] == [True, True, False]
    assert [r["hit"] for r in rows] == [True, False, False]
    assert [r["set_size"] for r in rows] == [1, 2, 1]
    s = cb.summarise(rows)
    assert s["coverage"] == pytest.approx(2 / 3) and s["mean_set_size"] == pytest.approx(4 / 3)
    assert s["hit_rate"] == pytest.approx(1 / 3)
    assert s["full"]["coverage"] == 1.0 and s["few"]["coverage"] == 0.0
    assert not s["goals"]["met"]  # 0.67 < 0.9
    # Brier: t1 (0.1² + 0.1²), t2 (0.6² + 0.6²), t3 (1 + 1); exact in binary floating point up to rounding
    assert s["brier"] == pytest.approx((0.02 + 0.72 + 2.0) / 3, abs=1e-12)
    table = cb.reliability_table(rows)
    assert sum(b["n"] for b in table) == 9
    top = table[-1]  # [0.95, 1]: t3's c at 1.0, never the best
    assert top["n"] == 1 and top["observed"] == 0.0
    low = table[0]  # [0, 0.05): t1 c, t2 c, t3 a (the best: credit 1), t3 b
    assert low["n"] == 4 and low["observed"] == pytest.approx(0.25)


@pytest.mark.unit
def test_markdown_says_plainly_where_the_goal_falls_short() -> None:
    truth = {"a": 0.9, "b": 0.8}
    rows = [cb.target_row("t", _rec({"b": 1.0, "a": 0.0}, ("b",)), truth, None)]
    cal = {
        "scorers": list(DEFAULT_SCORERS),
        "level": DEFAULT_LEVEL,
        "resamples": 200,
        "z_truth": cb.Z_TRUTH,
        "rows": rows,
        "summary": cb.summarise(rows),
        "reliability": cb.reliability_table(rows),
        "missing": ["u"],
    }
    text = "\n".join(cb.calibration_markdown(cal))
    assert "**not met** (strict coverage 0.00 < 0.9)" in text and "Not graded: u." in text
    assert cb.calibration_markdown({}) == []


@pytest.mark.unit
def test_a_matching_cached_recommendation_is_used_without_ranking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "targets"
    tg.prepare_target("digits", root)
    digests = json.loads((root / "digits" / "digests.json").read_text())
    models = ["cnn4.glyphs", "digit_cnn.mnist", "cnn4.random_init"]
    results = tmp_path / "results"
    results.mkdir()
    runs = [
        {"method": "finetune", "model": m, "target": t, "accuracy": a}
        for t in ("digits", "digits_10shot")
        for m, a in zip(models, (0.95, 0.9, 0.5), strict=True)
    ]
    (results / "groundtruth.json").write_text(json.dumps({"schema": 1, "runs": runs}))
    cache = {
        key: {
            "key": cb._key(digests[split], models, list(DEFAULT_SCORERS), 0),
            "recommendation": _rec({"cnn4.glyphs": 0.7, "digit_cnn.mnist": 0.3, "cnn4.random_init": 0.0},
                                   ("cnn4.glyphs", "digit_cnn.mnist")),
        }
        for key, split in (("digits", "train"), ("digits_10shot", "train10"))
    }  # fmt: skip
    (results / cb.CACHE_FILE).write_text(json.dumps(cache))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached recommendation was ranked again")

    monkeypatch.setattr(cb, "rank", refuse)
    cal = cb.evaluate_calibration(results, targets=["digits"], models=models, targets_root=root)
    assert [r["target"] for r in cal["rows"]] == ["digits", "digits_10shot"] and cal["missing"] == []
    assert cal["summary"]["coverage"] == 1.0 and cal["summary"]["mean_set_size"] == 2.0
    # another scorer set is another key: with cached_only it is listed, not ranked
    stale = cb.evaluate_calibration(
        results, targets=["digits"], models=models, scorers=["logme"], targets_root=root, cached_only=True
    )
    assert stale["rows"] == [] and stale["missing"] == ["digits", "digits_10shot"]


def _ensemble_rows() -> list[dict[str, Any]]:
    taus = {"osborn": (0.1, -0.2), "ens_eep": (0.5, 0.6), "mean_leep": (0.6, 0.5)}
    return [
        {"scorer": s, "target": t, "teams": 10, "tau_w": v, "rel1": 0.9}
        for s, vals in taus.items()
        for t, v in zip(("x", "x_10shot"), vals, strict=True)
    ]


@pytest.mark.unit
def test_the_default_ensemble_scorer_is_chosen_by_mean_tau_w_then_the_worst_target() -> None:
    report = QualityReport(ensemble_rows=_ensemble_rows())
    sel = choose_ensemble_default(report)
    # ens_eep and mean_leep tie on the mean (0.55, the same two values summed) and on the worst target
    # (0.5), so the name decides
    assert sel["scorers"]["ens_eep"]["mean"] == pytest.approx(0.55)
    assert sel["chosen"] == "ens_eep"
    rows = _ensemble_rows()
    rows[2]["tau_w"] = 0.7  # ens_eep on x: 0.7 -> mean 0.65
    rows[5]["tau_w"] = 0.4  # mean_leep on x_10shot -> mean 0.5
    sel = choose_ensemble_default(QualityReport(ensemble_rows=rows))
    assert sel["chosen"] == "ens_eep" and sel["agrees"] == (DEFAULT_ENSEMBLE_SCORER == "ens_eep")
    assert sel["scorers"]["osborn"]["worst"] == pytest.approx(-0.2)
    assert choose_ensemble_default(QualityReport()) == {}
    text = render_markdown(QualityReport(ensemble_rows=rows, ensemble_selection=sel), [], [])
    assert "| ens_eep (chosen) | 0.650 |" in text


@pytest.mark.unit
def test_the_setting_is_the_choice_on_the_committed_team_truth() -> None:
    """DEFAULT_ENSEMBLE_SCORER is what choose_ensemble_default picks on the committed quality.json, and the
    committed report and README say so."""
    doc = json.loads((REPO / "benchmark" / "results" / "quality.json").read_text())
    sel = choose_ensemble_default(QualityReport(ensemble_rows=doc["ensemble_rows"]))
    assert sel["chosen"] == DEFAULT_ENSEMBLE_SCORER
    assert doc["ensemble_selection"]["chosen"] == DEFAULT_ENSEMBLE_SCORER
    readme = (REPO / "README.md").read_text()
    assert f"recommends the team of **{DEFAULT_ENSEMBLE_SCORER}**" in readme
    assert (
        "The default ensemble scorer (team truth"
        in (REPO / "benchmark" / "results" / "quality.md").read_text()
    )
