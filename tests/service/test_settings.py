"""Settings: every limit and location from ``ZOORANK_*`` variables, validated once."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.errors import SettingsError
from service.settings import DEFAULT_SCORERS, Settings


def test_defaults_follow_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({"ZOORANK_HOME": "cache"})
    assert s.home == tmp_path / "cache"
    # only the data folder: a server started anywhere never exposes its working directory
    assert s.named_roots == {"data": tmp_path / "cache" / "data"}
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
        ("ZOORANK_SEED", "-1"),
        ("ZOORANK_SEED", str(2**32)),
        ("ZOORANK_BATCH_SIZE", "65537"),
        ("ZOORANK_MAX_IMAGES", "0"),
        ("ZOORANK_THREADS", "1025"),
        ("ZOORANK_CORRUPT_THRESHOLD", "nan"),
        ("ZOORANK_DATA_ROOTS", "relative/dir"),
        ("ZOORANK_DATA_ROOTS", "/a/x:/b/x"),
        ("ZOORANK_DATA_ROOTS", "bad name=/a"),
        ("ZOORANK_CACHE_TTL_S", "0"),
        ("ZOORANK_MODEL_CACHE_SIZE", "0"),
        ("ZOORANK_HEARTBEAT_TIMEOUT_MS", "10"),
        ("ZOORANK_MAX_RETRIES", "21"),
        ("ZOORANK_PORT", "65536"),
        ("ZOORANK_UI", "maybe"),
        ("ZOORANK_API_KEYS", "not-a-digest"),
        ("ZOORANK_SESSION_SECRET", "short"),
        ("REDIS_URL", "http://localhost:6379"),
    ],
)
def test_bad_values_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({var: value})
    assert info.value.code == "invalid-settings"
    assert var in str(info.value)


@pytest.mark.parametrize(
    ("var", "field", "good", "bad"),
    [
        # both sides of each boundary: the limit itself is accepted, one past it is refused
        ("ZOORANK_SEED", "seed", str(2**32 - 1), str(2**32)),
        ("ZOORANK_SEED", "seed", "0", "-1"),
        ("ZOORANK_BATCH_SIZE", "batch_size", "65536", "65537"),
        ("ZOORANK_BATCH_SIZE", "batch_size", "1", "0"),
        ("ZOORANK_MAX_MODELS", "max_models_per_job", "1", "0"),
        ("ZOORANK_MODEL_CACHE_SIZE", "model_cache_size", "256", "257"),
        ("ZOORANK_PORT", "port", "65535", "65536"),
    ],
)
def test_limits_are_inclusive(var: str, field: str, good: str, bad: str) -> None:
    assert getattr(Settings.from_env({var: good}), field) == int(good)
    with pytest.raises(SettingsError, match=var):
        Settings.from_env({var: bad})


def test_named_roots(tmp_path: Path) -> None:
    env = {"ZOORANK_DATA_ROOTS": f"imgs={tmp_path / 'a'}:{tmp_path / 'shared' / 'b'}"}
    s = Settings.from_env(env)
    assert s.named_roots == {"imgs": tmp_path / "a", "b": tmp_path / "shared" / "b"}
    assert s.data_roots == (tmp_path / "a", tmp_path / "shared" / "b")
    # sequences and mappings are accepted by the constructor, as before
    assert Settings(data_roots=(tmp_path,)).named_roots == {tmp_path.name: tmp_path}
    assert Settings(data_roots={"x": tmp_path}).named_roots == {"x": tmp_path}


def test_service_settings_and_redis_url_aliases(tmp_path: Path) -> None:
    digest = "ab" * 32
    s = Settings.from_env(
        {
            "REDIS_URL": "redis://localhost:6390/2",
            "ZOORANK_API_KEYS": f"{digest}, {digest}",
            "ZOORANK_CACHE_TTL_S": "60",
            "ZOORANK_HEARTBEAT_TIMEOUT_MS": "2000",
            "ZOORANK_UI": "false",
            "ZOORANK_SESSION_SECRET": "s" * 40,
        }
    )
    assert s.redis_url == "redis://localhost:6390/2" and s.api_keys == (digest,)
    assert (s.cache_ttl_s, s.heartbeat_timeout_ms, s.ui) == (60, 2000, False)
    assert s.session_secret is not None and s.session_secret.get_secret_value() == "s" * 40
    assert "s" * 40 not in str(s.to_dict())  # secrets never printed
    # ZOORANK_REDIS_URL wins over the generic REDIS_URL
    both = {"REDIS_URL": "redis://a:1", "ZOORANK_REDIS_URL": "unix:///tmp/r.sock"}
    assert Settings.from_env(both).redis_url == "unix:///tmp/r.sock"
    assert Settings.from_env({}).redis_url is None


def test_to_env_rebuilds_the_same_settings(tmp_path: Path) -> None:
    s = Settings.from_env(
        {"ZOORANK_HOME": str(tmp_path), "ZOORANK_MAX_PER_CLASS": "0", "ZOORANK_SCORERS": "logme,leep"},
        batch_size=7,
        data_roots={"d": tmp_path / "d"},
    )
    assert Settings.from_env(s.to_env()) == s


def test_constructor_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOORANK_BATCH_SIZE", "9")
    assert Settings().batch_size == 9
    assert Settings(batch_size=3).batch_size == 3  # arguments win
    monkeypatch.setenv("ZOORANK_BATCH_SIZE", "0")
    with pytest.raises(SettingsError, match="ZOORANK_BATCH_SIZE"):
        Settings()
    # overrides of an existing object never pick up the environment
    monkeypatch.setenv("ZOORANK_BATCH_SIZE", "11")
    base = Settings(batch_size=5)
    monkeypatch.setenv("ZOORANK_SEED", "3")
    assert base.with_overrides(workers=1).seed == base.seed


def test_overrides_are_validated_and_unknown_fields_refused() -> None:
    with pytest.raises(SettingsError, match="batch_size"):
        Settings.from_env({}).with_overrides(batch_size=0)
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings.from_env({}, no_such_field=1)
