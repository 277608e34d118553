"""A dataset in object storage ranks exactly like the same images on local disk (real S3 server, moto)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.api.problems import problem_for, status_for
from service.pipeline import rank
from service.pipeline.sample import open_target
from service.settings import Settings, SettingsError
from tests.support.s3 import S3Bucket
from zoo.errors import PathNotAllowedError, StorageError


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The ranking without what legitimately differs: provenance, timings, the reference and fingerprint."""
    out = dict(document)
    out.pop("provenance")
    out["dataset"] = {k: v for k, v in out["dataset"].items() if k not in ("reference", "fingerprint")}
    out["models"] = [{k: v for k, v in m.items() if k != "extraction_seconds"} for m in out["models"]]
    if out.get("ensemble"):
        out["ensemble"] = {k: v for k, v in out["ensemble"].items() if k != "seconds"}
    # the certainty is measured against wall times (which refits fit the budget): the decision is stable
    rec = out.pop("recommendation")
    out["recommended"] = (rec["model"], rec["runner_up"], rec["margin"])
    return out


def test_s3_ranking_equals_the_local_ranking(
    s3: S3Bucket, dataset: Path, tmp_path: Path, tiny_entry: Any
) -> None:
    s3.upload_folder(dataset, "lake/target/shapes")
    settings = Settings(
        home=tmp_path / "home",
        data_roots={"local": str(tmp_path / "data"), "lake": f"s3://{s3.name}/lake"},
        device="cpu",
        batch_size=16,
    )
    models = [tiny_entry("tiny.a", seed=1), tiny_entry("tiny.b", seed=2, dim=6)]
    local = rank("local:shapes", models=models, scorers=["logme", "leep"], settings=settings)
    remote = rank("lake:target/shapes", models=models, scorers=["logme", "leep"], settings=settings)
    # Same images, same keys, same sample: the features are bit-identical, so the scores are equal exactly.
    assert _comparable(remote.to_dict()) == _comparable(local.to_dict())
    assert remote.to_dict()["dataset"]["reference"] == "lake:target/shapes"
    again = rank("lake:target/shapes", models=models, scorers=["logme", "leep"], settings=settings)
    assert again.to_dict()["dataset"]["fingerprint"] == remote.to_dict()["dataset"]["fingerprint"]


def test_remote_references_are_checked_and_failures_typed(
    s3: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path / "home", data_roots=f"lake=s3://{s3.name}/lake", device="cpu")
    assert settings.remote_roots == {"lake": f"s3://{s3.name}/lake"}
    for ref in ("lake:../other", "lake:a/%2e%2e/b", f"lake:s3://{s3.name}/x"):
        with pytest.raises(PathNotAllowedError):
            open_target(ref, settings, base=None)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(StorageError) as info:
        open_target("lake:shapes", settings, base=None)
    problem = problem_for(info.value, "/v1/rankings").model_dump_json()
    assert status_for(info.value) == 502 and '"storage-error"' in problem
    assert "127.0.0.1" not in problem and "testing" not in problem  # no endpoint, no credential


def test_remote_roots_travel_to_workers_and_are_validated(tmp_path: Path) -> None:
    env = {"ZOORANK_HOME": str(tmp_path), "ZOORANK_DATA_ROOTS": f"data={tmp_path}:lake=s3://bucket-a/p/q"}
    settings = Settings.from_env(env)
    assert settings.named_roots == {"data": tmp_path} and settings.remote_roots == {
        "lake": "s3://bucket-a/p/q"
    }
    assert Settings.from_env(settings.to_env()) == settings
    assert settings.with_overrides(data_roots=[tmp_path]).remote_roots == {}
    bad_roots = (
        "s3://bucket-a/p",
        "lake=s3://u:p@bucket-a/p",
        "lake=s3://bucket-a/../p",
        "uploads=s3://bucket-a",
    )
    for bad in (*bad_roots, f"lake={tmp_path}:lake=s3://bucket-a"):
        with pytest.raises(SettingsError):
            Settings.from_env({"ZOORANK_DATA_ROOTS": bad})
