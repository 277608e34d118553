"""The CLI is total: every input ends in exit 0 with a finite result, exit 1 with one line
``error: <message> [<code>]``, or exit 2 for a usage error that click reports. Never a traceback.

Two tables drive it:

* **settings**: every ``ZOORANK_*`` variable with out-of-range, wrong-type and extreme values. Numeric
  rows are generated from each field's declared bounds, so a new setting gets its rows without anyone
  remembering to add them, and :func:`test_every_setting_has_rows` fails if a field has no row at all.
* **options and inputs**: every ``zoorank rank``/``inspect``/``models``/``scorers`` option with bad values,
  and datasets a user can get wrong (symlink loops, zero-size images, one class, markup in names).

Each row states its exit status and, for exit 1, the error code.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import zoo
from service.cli.commands import app
from service.settings import Settings
from tests.support.service import EntryFactory, write_image_folder


@dataclass(frozen=True)
class Row:
    """One input and what the CLI must answer."""

    id: str
    args: tuple[str, ...]
    exit: int
    code: str | None = None  # the ``[code]`` of the error line, for exit 1
    env: tuple[tuple[str, str], ...] = ()


def _invoke(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(app, args, env=env)


def _check(result: Any, row: Row) -> None:
    out = result.output + (result.stderr or "")
    assert "Traceback" not in out, out
    assert result.exit_code == row.exit, f"{row.id}: exit {result.exit_code}\n{out}"
    if row.exit == 1:
        # an uncaught exception also exits with 1 under CliRunner: it must have been a clean exit
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        lines = result.stderr.strip().splitlines()
        assert len(lines) >= 1, out
        last = lines[-1]
        assert last.startswith("error: ") and last.endswith(f"[{row.code}]"), f"{row.id}: {result.stderr}"
        assert sum(line.startswith("error: ") for line in lines) == 1, result.stderr
    elif row.exit == 2:
        assert "Usage" in result.stderr or "Error" in result.stderr, out


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment (no inherited ZOORANK_* variable) confined to ``tmp_path``."""
    env = {k: "" for k in os.environ if k.startswith("ZOORANK_") or k == "REDIS_URL"}
    env.update(
        {
            "ZOORANK_HOME": str(tmp_path / "home"),
            "ZOORANK_DATA_ROOTS": str(tmp_path),
            "ZOORANK_DEVICE": "cpu",
            "ZOORANK_BATCH_SIZE": "16",
        }
    )
    return env


@pytest.fixture
def tiny(tiny_entry: EntryFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """One tiny registered model (restored afterwards); returns its id."""
    entry = tiny_entry("tinytotal.alpha", seed=1)
    monkeypatch.setitem(zoo.ENTRIES._items, entry.id, entry)
    return entry.id


@pytest.fixture
def shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A 3-class PNG folder under the allowed root; the working directory is ``tmp_path``."""
    write_image_folder(tmp_path / "shapes", per_class=6)
    monkeypatch.chdir(tmp_path)
    return "shapes"


# --- settings: every variable, out of range, wrong type, extreme ---------------------------------


def _env_var(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    choices = getattr(alias, "choices", None)
    return str(choices[0]) if choices else str(alias)


def _bounds(name: str) -> tuple[Any, Any, bool]:
    """(lowest allowed, highest allowed, whether the field is an int) from the field's metadata."""
    lo: Any = None
    hi: Any = None
    for m in Settings.model_fields[name].metadata:
        if isinstance(m, annotated_types.Ge):
            lo = m.ge
        elif isinstance(m, annotated_types.Le):
            hi = m.le
        elif isinstance(m, annotated_types.Lt):
            hi = m.lt - 1 if isinstance(m.lt, int) else m.lt
        elif isinstance(m, annotated_types.Gt):
            # the lowest allowed value: one step above the exclusive bound (the next float for a float)
            bound: Any = m.gt
            is_int = Settings.model_fields[name].annotation is int
            lo = bound + 1 if is_int else math.nextafter(float(bound), math.inf)
        elif isinstance(m, annotated_types.MultipleOf):
            raise AssertionError(f"{name}: teach _bounds about {m!r}")
    return lo, hi, Settings.model_fields[name].annotation is int


def _numeric_rows() -> list[tuple[str, str, str]]:
    """(field, variable, bad value) for every bounded numeric setting."""
    rows = []
    for name, info in Settings.model_fields.items():
        if info.annotation not in (int, float):
            continue
        var = _env_var(name)
        lo, hi, is_int = _bounds(name)
        bad = ["abc", "1e", "[1]", "9" * 400]
        if is_int:
            bad += ["1.5", "0x10"]
        else:
            bad += ["nan", "inf", "-inf"]
        if lo is not None:
            bad.append(str(lo - 1) if is_int else str(lo - 0.5))
        if hi is not None:
            bad.append(str(hi + 1) if is_int else str(hi + 0.5))
            bad.append(str(2**64) if is_int else "1e308")
        rows += [(name, var, value) for value in bad]
    return rows


#: Settings that are not plain bounded numbers: (field, variable, bad value).
OTHER_BAD: list[tuple[str, str, str]] = [
    ("named_roots", "ZOORANK_DATA_ROOTS", "relative/path"),
    ("named_roots", "ZOORANK_DATA_ROOTS", "a=/x:a=/y"),
    ("named_roots", "ZOORANK_DATA_ROOTS", "bad name!=/x"),
    ("named_roots", "ZOORANK_DATA_ROOTS", ":::"),
    ("device", "ZOORANK_DEVICE", "tpu"),
    ("device", "ZOORANK_DEVICE", "cuda:-1"),
    ("device", "ZOORANK_DEVICE", "CPU"),
    ("default_scorers", "ZOORANK_SCORERS", ",,,"),
    ("default_ensemble_scorer", "ZOORANK_ENSEMBLE_SCORER", "logme"),  # a model scorer, not an ensemble one
    ("default_ensemble_scorer", "ZOORANK_ENSEMBLE_SCORER", "nope"),
    ("default_max_per_class", "ZOORANK_MAX_PER_CLASS", "-1"),
    ("default_max_per_class", "ZOORANK_MAX_PER_CLASS", "many"),
    ("default_max_per_class", "ZOORANK_MAX_PER_CLASS", "2.5"),
    ("default_max_per_class", "ZOORANK_MAX_PER_CLASS", "9" * 20),  # was an OverflowError in sampling
    ("default_max_per_class", "ZOORANK_MAX_PER_CLASS", str(2**31)),
    ("redis_url", "ZOORANK_REDIS_URL", "http://localhost"),
    ("api_keys", "ZOORANK_API_KEYS", "not-a-digest"),
    ("host", "ZOORANK_HOST", "h" * 256),
    ("ui", "ZOORANK_UI", "maybe"),
    ("debug", "ZOORANK_DEBUG", "maybe"),
    ("docs_require_key", "ZOORANK_DOCS_REQUIRE_KEY", "maybe"),
    ("remote_roots", "ZOORANK_DATA_ROOTS", "lake=s3://user:secret@bucket/prefix"),
    ("session_secret", "ZOORANK_SESSION_SECRET", "short"),
]

SETTINGS_ROWS = _numeric_rows() + OTHER_BAD
#: Location settings accept any path; a bad one shows when it is used (see test_unusable_locations).
LOCATIONS = {"home", "feature_store_dir", "zoo_manifest", "models_root", "uploads_dir"}


def test_every_setting_has_rows() -> None:
    covered = {field for field, _, _ in SETTINGS_ROWS} | LOCATIONS
    assert covered == set(Settings.model_fields), set(Settings.model_fields) ^ covered


@pytest.mark.parametrize("var", ["ZOORANK_HOME", "ZOORANK_FEATURE_STORE"])
def test_unusable_locations(
    var: str, tiny: str, shapes: str, tmp_path: Path, base_env: dict[str, str]
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    result = _invoke(list(RANK), {**base_env, var: str(tmp_path / "a-file")})
    _check(result, Row(var, (), 1, "no-model-scored"))
    assert "[feature-store-error]" in result.stderr and "not writable" in result.stderr


@pytest.mark.parametrize(("field", "var", "value"), SETTINGS_ROWS, ids=lambda v: str(v)[:24])
def test_bad_settings_are_refused_by_from_env_and_by_the_cli_in_one_line(
    field: str, var: str, value: str, base_env: dict[str, str]
) -> None:
    from service.errors import SettingsError

    env = {**base_env, var: value}
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert "\n" not in " ".join(str(info.value.message).split())
    if "\x00" in value:
        return  # the process environment cannot carry a NUL byte; from_env above covers the row
    # `rank` builds its settings before it touches the dataset, so no dataset is needed here
    result = _invoke(["rank", "nowhere", "-q"], env)
    _check(result, Row(f"{var}={value!r}", (), 1, "invalid-settings"))
    assert var in result.stderr or field in result.stderr


def test_numeric_settings_accept_both_ends_of_their_range(base_env: dict[str, str]) -> None:
    for name, info in Settings.model_fields.items():
        if info.annotation not in (int, float):
            continue
        lo, hi, is_int = _bounds(name)
        for edge in (lo, hi):
            if edge is not None:
                value = str(int(edge)) if is_int else repr(float(edge))
                got = getattr(Settings.from_env({**base_env, _env_var(name): value}), name)
                assert math.isclose(float(got), float(edge)), (name, value, got)


# --- options and inputs ------------------------------------------------------------------------------

RANK = ("rank", "shapes", "-m", "tinytotal.alpha", "-q", "-s", "logme")

OPTION_ROWS = [
    Row("per-class negative", (*RANK, "--max-per-class", "-1"), 2),
    Row("per-class huge", (*RANK, "--max-per-class", "9" * 30), 2),
    Row("per-class text", (*RANK, "--max-per-class", "ten"), 2),
    Row("max-samples zero", (*RANK, "--max-samples", "0"), 2),
    Row("max-samples over the job limit", (*RANK, "--max-samples", "20001"), 1, "limit-exceeded"),
    Row("max-samples huge", (*RANK, "--max-samples", "9" * 30), 2),
    Row("seed negative", (*RANK, "--seed", "-1"), 2),
    Row("seed 2**32", (*RANK, "--seed", str(2**32)), 2),
    Row("seed float", (*RANK, "--seed", "1.5"), 2),
    Row("batch zero", (*RANK, "--batch-size", "0"), 2),
    Row("batch beyond torch", (*RANK, "--batch-size", str(2**31)), 1, "invalid-settings"),
    Row("device mps", (*RANK, "--device", "mps"), 1, "device-unavailable"),
    Row("device tpu", (*RANK, "--device", "tpu"), 1, "invalid-settings"),
    Row("device empty", (*RANK, "--device", ""), 1, "invalid-settings"),
    Row("format xml", (*RANK, "--format", "xml"), 2),
    Row("param NaN", (*RANK, "--param", "logme.tol=NaN"), 1, "invalid-parameter"),
    Row("param inf", (*RANK, "--param", "logme.tol=1e999"), 1, "invalid-parameter"),
    Row("param shape", (*RANK, "--param", "logme"), 1, "invalid-parameter"),
    Row("param unknown key", (*RANK, "--param", "logme.nope=1"), 1, "invalid-parameter"),
    Row("param for another scorer", (*RANK, "--param", "leep.x=1"), 1, "invalid-parameter"),
    Row("param deep", (*RANK, "--param", "logme.tol=" + "[" * 100_000), 1, "invalid-parameter"),
    Row("unknown model", ("rank", "shapes", "-q", "-m", "nope.nope"), 1, "unknown-model"),
    Row("pattern matches nothing", ("rank", "shapes", "-q", "-m", "zz*"), 1, "unknown-model"),
    Row("empty model list", ("rank", "shapes", "-q", "-m", ","), 1, "unknown-model"),
    Row(
        "unknown scorer", ("rank", "shapes", "-q", "-m", "tinytotal.alpha", "-s", "nope"), 1, "unknown-scorer"
    ),
    Row(
        "empty scorer list",
        ("rank", "shapes", "-q", "-m", "tinytotal.alpha", "-s", ","),
        1,
        "invalid-parameter",
    ),
    Row(
        "ensemble scorer",
        ("rank", "shapes", "-q", "-m", "tinytotal.alpha", "-s", "ens_eep"),
        1,
        "invalid-parameter",
    ),
    Row("empty dataset ref", ("rank", "", "-q", "-m", "tinytotal.alpha"), 1, "path-not-allowed"),
    Row("outside the roots", ("rank", "/etc", "-q", "-m", "tinytotal.alpha"), 1, "path-not-allowed"),
    Row("missing dataset", ("rank", "missing", "-q", "-m", "tinytotal.alpha"), 1, "dataset-not-found"),
    Row("NUL in dataset ref", ("rank", "sha\x00pes", "-q", "-m", "tinytotal.alpha"), 1, "path-not-allowed"),
    Row("very long ref", ("rank", "x" * 5000, "-q", "-m", "tinytotal.alpha"), 1, "path-not-allowed"),
    Row("output is a directory", (*RANK, "-o", "shapes"), 1, "output-error"),
    # (a NUL byte cannot reach --output: argv strings cannot carry one, and click stats the path first)
    Row("inspect empty ref", ("inspect", ""), 1, "path-not-allowed"),
    Row("inspect bad format", ("inspect", "shapes", "-f", "csv"), 2),
    Row("scorers bad kind", ("scorers", "--kind", "team"), 1, "invalid-parameter"),
    Row("scorers bad format", ("scorers", "-f", "xml"), 2),
    Row("models bad pattern", ("models", "--pattern", "[", "-f", "json"), 0),
    Row("models empty tag", ("models", "--tag", ""), 0),
    Row("unknown command", ("frobnicate",), 2),
    Row("ok", RANK, 0),
]


@pytest.mark.parametrize("row", OPTION_ROWS, ids=lambda r: r.id)
def test_option_table(row: Row, tiny: str, shapes: str, base_env: dict[str, str]) -> None:
    _check(_invoke(list(row.args), {**base_env, **dict(row.env)}), row)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has a GPU")
def test_cuda_without_a_gpu_is_one_line(tiny: str, shapes: str, base_env: dict[str, str]) -> None:
    for device in ("cuda", "cuda:1"):
        _check(_invoke([*RANK, "--device", device], base_env), Row(device, (), 1, "device-unavailable"))
    env = {**base_env, "ZOORANK_DEVICE": "cuda"}
    _check(_invoke(list(RANK), env), Row("env cuda", (), 1, "device-unavailable"))


# --- datasets a user can get wrong ----------------------------------------------------------------


def test_symlink_loop_inside_a_dataset(
    tiny: str, shapes: str, tmp_path: Path, base_env: dict[str, str]
) -> None:
    (tmp_path / "shapes" / "circle" / "loop.png").symlink_to(tmp_path / "shapes" / "circle" / "loop.png")
    for args in (["inspect", "shapes"], list(RANK)):
        _check(_invoke(args, base_env), Row("loop", (), 1, "dataset-format"))


def test_zero_size_npz_images_are_unreadable(tiny: str, tmp_path: Path, base_env: dict[str, str]) -> None:
    np.savez(tmp_path / "z.npz", images=np.zeros((6, 0, 4, 3), np.uint8), labels=np.arange(6) % 2)
    result = _invoke(["inspect", str(tmp_path / "z.npz"), "-f", "json"], base_env)
    assert result.exit_code == 0 and json.loads(result.stdout)["corrupt"] == 6
    row = Row("zero-size", (), 1, "too-many-corrupt-images")
    _check(_invoke(["rank", str(tmp_path / "z.npz"), "-q", "-m", tiny], base_env), row)


def test_nothing_ranked_says_why(
    tiny_entry: EntryFactory, shapes: str, monkeypatch: pytest.MonkeyPatch, base_env: dict[str, str]
) -> None:
    bad = tiny_entry("tinytotal.tampered", sha256="0" * 64)  # its weights fail their digest check
    monkeypatch.setitem(zoo.ENTRIES._items, bad.id, bad)
    result = _invoke(["rank", "shapes", "-q", "-m", bad.id, "-s", "logme"], base_env)
    _check(result, Row("nothing ranked", (), 1, "no-model-scored"))
    line = result.stderr.strip()
    assert f"first reason: {bad.id}:" in line and "[weights-integrity]" in line, line


def test_user_strings_are_never_markup(
    tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_env: dict[str, str]
) -> None:
    # rich would read these as markup (and "[/]" with nothing open is a MarkupError, a traceback)
    names = np.array(["[/]", "[bold]x[/bold]", ":smile: [link=x]y"])
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (12, 16, 16, 3), dtype=np.uint8)
    folder = tmp_path / "[red]odd"
    folder.mkdir()
    np.savez(folder / "[b]z.npz", images=images, labels=np.arange(12) % 3, classes=names)
    monkeypatch.chdir(tmp_path)
    ref = "[red]odd/[b]z.npz"
    result = _invoke(["inspect", ref], base_env)
    assert result.exit_code == 0, result.output
    for name in (*names, ref):
        assert name in result.stdout, result.stdout
    result = _invoke(["rank", ref, "-q", "-m", tiny, "-s", "logme"], base_env)
    assert result.exit_code == 0 and f"zoorank: {ref}" in result.stdout, result.output


def test_multi_line_library_messages_become_one_line(base_env: dict[str, str]) -> None:
    # pydantic's messages span lines; so can OS and torch errors: the CLI prints exactly one line
    result = _invoke(["rank", "x", "-q"], {**base_env, "ZOORANK_BATCH_SIZE": "1\n2", "ZOORANK_SEED": "-1\n"})
    _check(result, Row("multi-line", (), 1, "invalid-settings"))


def test_quiet_prints_nothing_but_the_result(tiny: str, shapes: str, base_env: dict[str, str]) -> None:
    result = _invoke([*RANK, "-f", "json"], base_env)
    assert result.exit_code == 0 and result.stderr == "", result.stderr
    data = json.loads(result.stdout)
    assert all(math.isfinite(v) for m in data["models"] for v in m["scores"].values())


def test_control_characters_in_user_strings_are_escaped(
    tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_env: dict[str, str]
) -> None:
    # a class name or a path can carry terminal escapes and newlines; shown raw they would recolour the
    # terminal or split the one-line error
    names = np.array(["cat\x1b[31m", "dog\nbird", "eel\x07"])
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "esc.npz",
        images=rng.integers(0, 255, (9, 8, 8), dtype=np.uint8),
        labels=np.arange(9) % 3,
        classes=names,
    )
    monkeypatch.chdir(tmp_path)
    result = _invoke(["inspect", "esc.npz"], base_env)
    assert result.exit_code == 0 and "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "cat\\x1b[31m" in result.stdout and "dog\\nbird" in result.stdout
    write_image_folder(tmp_path / "esc", per_class=2)
    (tmp_path / "esc" / "circle" / "bad\x1b[2J.png").write_bytes(b"not a png")
    result = _invoke(["inspect", "esc"], base_env)
    assert result.exit_code == 0 and "\x1b" not in result.stdout
    assert "corrupt: circle/bad\\x1b[2J.png:" in result.stdout
