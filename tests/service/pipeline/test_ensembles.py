"""The ranking's ensembles section: request options, eligibility, the schema, ``rank(..., ensemble=...)`` and
``zoorank ensemble`` on a real PNG dataset with trained zoo models (source profiles) and tiny test models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

import zoo
from estimators.errors import InvalidParameterError
from service.cli.commands import app
from service.pipeline.ensembles import EnsembleOptions, build_section, ensemble_options, member_arrays
from service.pipeline.run import rank
from service.pipeline.schema import RANKING_JSON_SCHEMA, Ranking
from service.pipeline.types import ModelInputs
from service.settings import Settings
from tests.support.schema import check_schema
from tests.support.service import write_image_folder

#: Trained zoo entries with committed source profiles (OSBORN-eligible), and one with a head but no profile.
PROFILED = ("cnn4.glyphs", "resnet8.emoji", "mobilenet_tiny.fashion_mnist")
NO_PROFILE = "digit_cnn.mnist"


# --- request options -------------------------------------------------------------------------------


@pytest.mark.unit
def test_options_defaults_and_bounds() -> None:
    default = EnsembleOptions()
    assert (default.k, default.mode, default.scorers) == (3, "greedy", ["osborn", "ens_eep", "mean_leep"])
    cases: list[dict[str, Any]] = [
        {"k": 0},
        {"k": 9},
        {"mode": "random"},
        {"scorers": []},
        {"scorers": ["leep"]},
        {"scorers": ["osborn", "osborn"]},
        {"unknown": 1},
        {"scorers": ["ens_eep"], "params": {"osborn": {"solver": "emd"}}},
        {"params": {"osborn": {"max_target": 10**6}}},
    ]
    for bad in cases:
        with pytest.raises(ValidationError):
            EnsembleOptions(**bad)
    with pytest.raises(InvalidParameterError, match="k"):
        ensemble_options(k=0)


@pytest.mark.unit
def test_section_reports_ineligible_members_with_reasons() -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(12) % 3
    probs = rng.dirichlet(np.ones(4), size=12)
    inputs = {
        "profiled": ModelInputs(
            features=rng.standard_normal((12, 3)),
            source_probs=probs,
            source_features=rng.standard_normal((10, 3)),
            source_predictions=rng.integers(0, 4, 10),
        ),
        "imagenet": ModelInputs(features=rng.standard_normal((12, 3)), source_probs=probs[::-1].copy()),
        "headless": ModelInputs(features=rng.standard_normal((12, 3))),
    }
    section = build_section(inputs, labels, EnsembleOptions(k=1))
    by_name = {r.scorer: r for r in section.results}
    assert by_name["osborn"].pool == ("profiled",)
    assert set(by_name["osborn"].ineligible) == {"imagenet", "headless"}
    assert "source profile" in by_name["osborn"].ineligible["imagenet"].message
    assert by_name["ens_eep"].pool == ("profiled", "imagenet")
    assert "source head" in by_name["ens_eep"].ineligible["headless"].message
    # a team larger than the eligible pool is that scorer's error, with the reasons kept
    section = build_section(inputs, labels, EnsembleOptions(k=2, scorers=["osborn"]))
    (result,) = section.results
    assert result.error is not None and result.error.code == "invalid-team-size" and not result.teams
    assert set(result.ineligible) == {"imagenet", "headless"}


# --- the pipeline on real files ----------------------------------------------------------------------


@pytest.fixture
def ranked(tmp_path: Path, tiny_entry: Any) -> tuple[Ranking, Settings, Path]:
    data = write_image_folder(tmp_path / "data" / "shapes", per_class=6, size=32)
    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,), device="cpu", batch_size=32)
    headless = tiny_entry("tinyens.headless", seed=3, head=False)
    ranking = rank(
        str(data),
        models=[*PROFILED, NO_PROFILE, headless],
        scorers=["leep"],
        settings=settings,
        ensemble=EnsembleOptions(k=2, params={"osborn": {"max_source": 500}}),
    )
    return ranking, settings, data


@pytest.mark.unit
def test_rank_with_ensemble_options_returns_the_section(ranked: tuple[Ranking, Settings, Path]) -> None:
    ranking, _, _ = ranked
    section = ranking.ensembles
    assert section is not None and section.k == 2 and section.mode == "greedy"
    by_name = {r.scorer: r for r in section.results}
    assert list(by_name) == ["osborn", "ens_eep", "mean_leep"]
    osborn = by_name["osborn"]
    assert osborn.error is None and set(osborn.pool) == set(PROFILED)
    assert set(osborn.ineligible) == {NO_PROFILE, "tinyens.headless"}
    assert len(osborn.teams) == 1 and len(osborn.teams[0].members) == 2
    assert set(osborn.teams[0].members) <= set(PROFILED)
    for info in osborn.members.values():  # sizes used: the cap on the source side, all 18 target rows
        assert info["n_source"] == 500 and info["n_target"] == 18
    assert osborn.params["max_source"] == 500 and osborn.params["solver"] == "emd"
    for name in ("ens_eep", "mean_leep"):
        assert NO_PROFILE in by_name[name].pool  # a head is all they need
        assert set(by_name[name].ineligible) == {"tinyens.headless"}
    doc = json.loads(ranking.to_json())
    check_schema(doc, RANKING_JSON_SCHEMA)
    again = Ranking.from_dict(doc)
    assert again.ensembles is not None
    assert [t.members for r in again.ensembles.results for t in r.teams] == [
        t.members for r in section.results for t in r.teams
    ]


@pytest.mark.unit
def test_ranking_without_ensembles_has_no_section(ranked: tuple[Ranking, Settings, Path]) -> None:
    ranking, _, _ = ranked
    plain = json.loads(ranking.to_json())
    del plain["ensembles"]
    check_schema(plain, RANKING_JSON_SCHEMA)  # documents without the section stay valid
    assert Ranking.from_dict(plain).ensembles is None
    assert "ensembles" not in Ranking.from_dict(plain).to_dict()


@pytest.mark.unit
def test_cli_ensemble(ranked: tuple[Ranking, Settings, Path]) -> None:
    _, settings, data = ranked
    env = {
        "ZOORANK_HOME": str(settings.home),
        "ZOORANK_DATA_ROOTS": str(data.parent),
        "ZOORANK_DEVICE": "cpu",
    }
    models = ["-m", ",".join(PROFILED), "-m", NO_PROFILE]
    result = CliRunner().invoke(
        app, ["ensemble", str(data), "--k", "2", *models, "--format", "json", "-q"], env=env
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    check_schema(doc["ensembles"], RANKING_JSON_SCHEMA["properties"]["ensembles"])
    assert [r["scorer"] for r in doc["ensembles"]["results"]] == ["osborn", "ens_eep", "mean_leep"]
    table = CliRunner().invoke(
        app,
        ["ensemble", str(data), "--k", "2", *models, "--scorers", "ens_eep", "--mode", "exhaustive"],
        env=env,
    )
    assert table.exit_code == 0, table.output
    assert "ens_eep" in table.stdout and "LEEP" in table.stdout
    # the team recommendation's line, in the model recommendation's words, by the one scorer that ran
    assert "recommended team: " in table.stdout and "[by ens_eep]" in table.stdout
    assert doc["ensembles"]["recommendation"]["scorer"] == "mean_leep"  # the default ensemble scorer
    # every scorer failing (k larger than the eligible pool) is exit status 1 with a one-line error
    failed = CliRunner().invoke(
        app, ["ensemble", str(data), "--k", "2", "-m", NO_PROFILE, "--scorers", "osborn", "-q"], env=env
    )
    assert failed.exit_code == 1 and failed.stderr.strip().endswith("[invalid-team-size]"), failed.output
    bad = CliRunner().invoke(app, ["ensemble", str(data), "--scorers", "leep", "-q"], env=env)
    assert bad.exit_code == 1 and "[invalid-parameter]" in bad.stderr
    assert zoo.get_entry(NO_PROFILE).profile is None  # the premise of the eligibility checks


@pytest.mark.unit
def test_section_reports_progress_and_honours_cancel() -> None:
    from service.errors import JobCancelledError

    rng = np.random.default_rng(1)
    labels = np.arange(9) % 3
    inputs = {
        f"m{i}": ModelInputs(features=rng.standard_normal((9, 2)), source_probs=rng.dirichlet(np.ones(3), 9))
        for i in range(2)
    }
    events: list[Any] = []
    options = EnsembleOptions(k=1, scorers=["ens_eep", "mean_leep"])
    build_section(inputs, labels, options, progress=events.append)
    assert [(e.stage, e.done, e.total) for e in events] == [("score", 0, 2), ("score", 1, 2)]
    with pytest.raises(JobCancelledError):
        build_section(inputs, labels, options, cancel=lambda: True)


@pytest.mark.unit
def test_a_model_without_a_source_task_is_not_eligible_for_source_terms() -> None:
    """cnn4.random_init has a profile file, but no source task: OSBORN must not use its collapsed features."""
    control, trained = zoo.get_entry("cnn4.random_init"), zoo.get_entry("cnn4.glyphs")
    assert not control.has_source_task and trained.has_source_task
    feats = np.zeros((4, 8))
    inputs = {e.id: ModelInputs(features=feats) for e in (control, trained)}
    members, notes = member_arrays(inputs, {e.id: e for e in (control, trained)}, need_profiles=True)
    assert "source_features" not in members[control.id] and "source_features" in members[trained.id]
    assert "never trained on a source task" in notes[control.id] and trained.id not in notes
