"""The committed generated client (``clients/python``) is exactly what ``make client`` generates now, and
regenerating it over the committed tree keeps the hand-written SDK (``zoorank_client/sdk``)."""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys
from pathlib import Path

from service.api.openapi import dump
from tests.service.api.conftest import REPO

CLIENTS = REPO / "clients"


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_committed_schema_and_client_match_a_fresh_generation(tmp_path: Path) -> None:
    schema_text = dump(tmp_path / "openapi.json")
    committed = (CLIENTS / "openapi.json").read_text(encoding="utf-8")
    assert json.loads(schema_text) == json.loads(committed), (
        "clients/openapi.json is stale: run `make client`"
    )
    generator = Path(sys.executable).with_name("openapi-python-client")
    out = tmp_path / "python"
    # generated over a copy of the committed tree, as `make client` does (--overwrite keeps extra files)
    shutil.copytree(CLIENTS / "python", out, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(tmp_path / "openapi.json"),
            "--config",
            str(CLIENTS / "openapi-python-client.yaml"),
            "--custom-template-path",
            str(CLIENTS / "templates"),
            "--meta",
            "setup",
            "--output-path",
            str(out),
            "--overwrite",
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    fresh, current = _tree(out), _tree(CLIENTS / "python")
    assert sorted(fresh) == sorted(current), "generated files differ: run `make client`"
    changed = [name for name in fresh if fresh[name] != current[name]]
    assert not changed, f"stale generated files {changed[:5]}: run `make client`"
    assert filecmp.cmp(out / "setup.py", CLIENTS / "python" / "setup.py", shallow=False)
    assert (out / "zoorank_client" / "sdk" / "__init__.py").is_file(), "regeneration removed the SDK"
