"""Settings: every limit and location from ``ZOORANK_*`` variables, validated once."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import DEFAULT_SCORERS, Settings, SettingsError


def test_defaults_follow_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({"ZOORANK_HOME": "cache"})
    assert s.home == tmp_path / "cache"
    assert s.data_roots == (tmp_path, tmp_path / "cache" / "data")
    assert s.store_dir == tmp_path / "cache" / "features"
    assert s.default_scorers == DEFAULT_SCORERS and s.default_max_per_class == 100
    assert s.resolve_device() in ("cpu", "cuda")


def test_every_variable_is_read(tmp_path: Path) -> None:
    env = {
        "ZOORANK_HOME": str(tmp_path / "h"),
        "ZOORANK_DATA_ROOTS": f"{tmp_path / 'a'}:{tmp_path / 'b'}",
        "ZOORANK_FEATURE_STORE": str(tmp_path / "f"),
        "ZOORANK_BATCH_SIZE": "8",
        "ZOORANK_WORKERS": "2",
        "ZOORANK_DEVICE": "cuda:1",
        "ZOORANK_THREADS": "3",
        "ZOORANK_MAX_IMAGES": "500",
        "ZOORANK_MAX_MODELS": "4",
        "ZOORANK_CORRUPT_THRESHOLD": "0.2",
        "ZOORANK_MAX_IMAGE_PIXELS": "1000",
        "ZOORANK_SCORERS": "logme, leep,,logme",
        "ZOORANK_MAX_PER_CLASS": "0",
        "ZOORANK_SEED": "7",
    }
    s = Settings.from_env(env)
    assert s.data_roots == (tmp_path / "a", tmp_path / "b") and s.store_dir == tmp_path / "f"
    assert (s.batch_size, s.workers, s.device, s.torch_threads) == (8, 2, "cuda:1", 3)
    assert (s.max_images_per_job, s.max_models_per_job, s.max_image_pixels) == (500, 4, 1000)
    assert s.corrupt_image_threshold == 0.2 and s.seed == 7
    assert s.default_scorers == ("logme", "leep") and s.default_max_per_class is None
    assert Settings.from_env(env, batch_size=16, device=None).batch_size == 16
    assert s.to_dict()["data_roots"] == [str(tmp_path / "a"), str(tmp_path / "b")]


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("ZOORANK_BATCH_SIZE", "many"),
        ("ZOORANK_BATCH_SIZE", "0"),
        ("ZOORANK_WORKERS", "-1"),
        ("ZOORANK_DEVICE", "tpu"),
        ("ZOORANK_CORRUPT_THRESHOLD", "1.5"),
        ("ZOORANK_MAX_PER_CLASS", "-3"),
        ("ZOORANK_SCORERS", " , "),
    ],
)
def test_bad_values_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({var: value})
    assert info.value.code == "invalid-settings"
    assert var in str(info.value)
