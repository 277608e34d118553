"""``zoorank models`` with a zoo manifest: listed with its origin, ``--check`` loads every entry for real."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli.commands import app
from tests.support.manifest import TIMM_ID, TORCHVISION_ID, write_manifest
from zoo.manifest import forget_manifest


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = write_manifest(tmp_path_factory.mktemp("models"))
    yield path
    forget_manifest(path)  # the CLI runs in this process: leave the zoo as it was


def run(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(app, args, env=env)


def env_for(tmp_path: Path, manifest: Path | None) -> dict[str, str]:
    env = {"ZOORANK_HOME": str(tmp_path / "home"), "ZOORANK_DEVICE": "cpu"}
    if manifest is not None:
        env["ZOORANK_ZOO_MANIFEST"] = str(manifest)
    return env


def test_models_lists_manifest_entries_with_their_origin(models: Path, tmp_path: Path) -> None:
    result = run(["models", "-f", "json", "--tag", "manifest"], env_for(tmp_path, models))
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {TIMM_ID, TORCHVISION_ID}
    assert rows[TIMM_ID]["weights"]["origin"] == (
        f"manifest {models} line 2: {models.parent / 'timm' / 'test_resnet.safetensors'}"
    )
    assert rows[TIMM_ID]["weights"]["present"] is True
    assert rows[TORCHVISION_ID]["meta"] == {"manifest": str(models), "line": 16, "library": "torchvision"}
    table = run(["models", "--tag", "manifest"], env_for(tmp_path, models))
    assert table.exit_code == 0 and f"manifest {models} line 16" in table.stdout.replace("\n", "")


def test_check_verifies_every_entry(models: Path, tmp_path: Path) -> None:
    result = run(["models", "--check", "--manifest", str(models), "-f", "json"], env_for(tmp_path, None))
    assert result.exit_code == 0, result.output
    assert [(r["id"], r["line"], r["ok"]) for r in json.loads(result.stdout)] == [
        (TIMM_ID, 2, True),
        (TORCHVISION_ID, 16, True),
    ]
    # without --manifest it checks ZOORANK_ZOO_MANIFEST
    assert run(["models", "--check"], env_for(tmp_path, models)).exit_code == 0


def test_check_fails_on_a_tampered_file_naming_the_entry(tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "models")
    weights = tmp_path / "models" / "tv" / "mobilenet_v3_small.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b" ")
    result = run(["models", "--check", "--manifest", str(path)], env_for(tmp_path, None))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: 1 of 2 manifest entries failed: {TORCHVISION_ID} (line 16) [manifest-check-failed]"
    )
    assert "weights-integrity" in result.stdout.replace("\n", "")


def test_a_malformed_manifest_stops_every_command_with_one_line_per_bad_entry(tmp_path: Path) -> None:
    bad = tmp_path / "zoo.toml"
    bad.write_text('[[models]]\nid = "a.b"\nlibrary = "timm"\n\n[[models]]\nid = "c.d"\nlibrary = "keras"\n')
    for args in (["models"], ["scorers"], ["models", "--check"]):
        result = run(args, env_for(tmp_path, bad))
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert [line.split(":")[2] for line in lines] == ["1", "5"], result.stderr
        assert all(line.endswith("[invalid-manifest]") for line in lines)
        assert "Traceback" not in result.output


def test_check_without_a_manifest_says_what_to_set(tmp_path: Path) -> None:
    result = run(["models", "--check"], env_for(tmp_path, None))
    assert result.exit_code == 1
    assert "ZOORANK_ZOO_MANIFEST" in result.stderr and result.stderr.strip().endswith("[no-manifest]")
