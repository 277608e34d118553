"""The catalogue is the one source of the models and scorers documents: CLI JSON and HTTP API agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from service.app import create_app
from service.catalogue import dataset_roots, model_rows, scorer_rows
from service.cli import app as cli
from service.jobs.redis_server import RedisServer
from service.settings import Settings


@pytest.fixture
def env(tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "REDIS_URL": redis_server.url,
        "ZOORANK_HOME": str(tmp_path / "home"),
        "ZOORANK_DATA_ROOTS": f"data={tmp_path}",
        "ZOORANK_DEFAULT_SCORERS": "logme,hscore",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def _cli_json(*args: str) -> object:
    result = CliRunner().invoke(cli, [*args, "-f", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_models_document_is_the_same_in_the_cli_and_the_api(env: dict[str, str]) -> None:
    with TestClient(create_app(Settings.from_env(env))) as client:
        api = client.get("/v1/models").json()["items"]
        one = client.get(f"/v1/models/{api[0]['id']}").json()
    cli_rows = _cli_json("models")
    assert cli_rows == api == json.loads(json.dumps(model_rows(), default=str))
    assert one == api[0]
    assert all({"origin", "present"} <= set(row["weights"]) for row in api)


def test_scorers_document_is_the_same_in_the_cli_and_the_api(env: dict[str, str]) -> None:
    with TestClient(create_app(Settings.from_env(env))) as client:
        api = client.get("/v1/scorers").json()["items"]
        models_only = client.get("/v1/scorers", params={"kind": "model"}).json()["items"]
    assert _cli_json("scorers") == api
    assert _cli_json("scorers", "--kind", "model") == models_only
    assert {row["name"] for row in api if row["default"]} == {"logme", "hscore"}


def test_dataset_roots_name_each_configured_root(tmp_path: Path) -> None:
    settings = Settings.from_env({"ZOORANK_HOME": str(tmp_path), "ZOORANK_DATA_ROOTS": f"lake={tmp_path}"})
    assert {"name": "lake", "example": "lake:path/to/dataset"} in dataset_roots(settings)
    assert all(row["default"] is (row["name"] in settings.default_scorers) for row in scorer_rows(settings))
