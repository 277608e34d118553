"""The zoo manifest: entries as data, validated with their lines, registered once, checked for real."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import zoo
from tests.support.manifest import TIMM_ID, TORCHVISION_ID, manifest_text, write_manifest
from zoo.errors import ManifestError
from zoo.manifest import check_manifest, forget_manifest, load_manifest, parse_manifest
from zoo.models import load_model
from zoo.weights import origin, present

SHA = "ab" * 32

_ENTRY = """[[models]]
id = "{id}"
library = "timm"
architecture = "test_resnet"
num_classes = 5
head = "fc"
feature_dim = 96
feature_layer = "fc input"
source = "synthetic"
license = "MIT"
weights = {{ {weights} }}
preprocessing = {{ input_size = 32, mean = [0.5, 0.5, 0.5], std = [0.5, 0.5, 0.5] }}
"""


def entry(
    entry_id: str = "a.b", weights: str = f'file = "w.safetensors", sha256 = "{SHA}"', **replace: str
) -> str:
    text = _ENTRY.format(id=entry_id, weights=weights)
    for key, value in replace.items():
        lines = [line for line in text.splitlines() if not line.startswith(f"{key} =")]
        text = "\n".join(lines[:1] + ([f"{key} = {value}"] if value else []) + lines[1:]) + "\n"
    return text


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_manifest(tmp_path_factory.mktemp("models"))


def test_a_manifest_becomes_zoo_entries_with_their_lines(manifest: Path) -> None:
    timm_entry, tv_entry = parse_manifest(manifest)
    assert (timm_entry.id, tv_entry.id) == (TIMM_ID, TORCHVISION_ID)
    assert timm_entry.meta == {"manifest": str(manifest), "line": 2, "library": "timm"}
    assert tv_entry.meta["line"] == 16
    assert timm_entry.tags == ("acme", "manifest") and tv_entry.tags == ("manifest",)
    assert timm_entry.weights.filename == str(manifest.parent / "timm" / "test_resnet.safetensors")
    assert tv_entry.preprocessing.resize == 36 and tv_entry.preprocessing.crop == "center"
    assert (tv_entry.feature_dim, tv_entry.num_source_classes, tv_entry.head) == (1024, 4, "classifier.3")
    assert present(tv_entry.weights) is True
    assert origin(tv_entry.weights, tv_entry.meta).startswith(f"manifest {manifest} line 16: ")


def test_every_entry_loads_with_its_verified_weights(manifest: Path) -> None:
    results = check_manifest(manifest)
    assert [(r.id, r.ok) for r in results] == [(TIMM_ID, True), (TORCHVISION_ID, True)]
    for entry_ in parse_manifest(manifest):
        model = load_model(entry_)
        assert model.head is not None and model.head.in_features == entry_.feature_dim


def test_check_reports_a_wrong_digest_and_a_wrong_head(tmp_path: Path) -> None:
    path = write_manifest(tmp_path)
    text = path.read_text()
    timm_sha = text.split('timm/test_resnet.safetensors", sha256 = "')[1][:64]
    text = text.replace(timm_sha, "0" * 64).replace("num_classes = 4", "num_classes = 3")
    path.write_text(text)
    results = {r.id: r for r in check_manifest(path)}
    assert not results[TIMM_ID].ok and results[TIMM_ID].detail.startswith("weights-integrity:")
    assert not results[TORCHVISION_ID].ok and results[TORCHVISION_ID].detail.startswith("model-load-failed:")
    assert results[TORCHVISION_ID].line == 16


def test_load_registers_once_replaces_on_change_and_refuses_taken_ids(tmp_path: Path) -> None:
    path = tmp_path / "zoo.toml"
    path.write_text(entry("manifesttest.one"))
    try:
        first = load_manifest(path)
        assert load_manifest(path) is first  # unchanged file: nothing happens
        assert zoo.get_entry("manifesttest.one") is first[0]
        path.write_text(entry("manifesttest.two", architecture='"test_convnext"'))
        os.utime(path, ns=(1, 1))  # a different stamp even within the clock's resolution
        second = load_manifest(path)
        assert [e.id for e in second] == ["manifesttest.two"]
        assert "manifesttest.one" not in zoo.ENTRIES
        assert zoo.get_entry("manifesttest.two").arch == "test_convnext"
    finally:
        forget_manifest(path)
    assert "manifesttest.two" not in zoo.ENTRIES
    taken = tmp_path / "taken.toml"
    taken.write_text("# a built-in id\n\n" + entry("cnn4.glyphs"))
    with pytest.raises(ManifestError) as err:
        load_manifest(taken)
    assert err.value.problems == (
        f"{taken}:3: entry 'cnn4.glyphs': the id is already in the zoo "
        "(built in or registered by Python code)",
    )


MALFORMED = {
    "missing field": (entry(license=""), [1], "license: Field required"),
    "bad digest": (entry(weights='file = "w.safetensors", sha256 = "ABC"'), [1], "weights.sha256"),
    "file and package": (
        entry(weights=f'file = "w", package = "p", resource = "r", sha256 = "{SHA}"'),
        [1],
        "either 'file'",
    ),
    "dot-dot escape": (entry(weights=f'file = "../w.safetensors", sha256 = "{SHA}"'), [1], "without '..'"),
    "absolute path": (entry(weights=f'file = "/etc/passwd", sha256 = "{SHA}"'), [1], "without '..'"),
    "unknown architecture": (entry(architecture='"no_such_net"'), [1], "timm has no architecture"),
    "unknown library": (entry(library='"keras"'), [1], "library: Input should be"),
    "head without classes": (entry(num_classes=""), [1], "'head' and 'num_classes' go together"),
    "bad id": (entry("NoDot"), [1], "id: String should match"),
    "unknown key": (entry(colour='"red"'), [1], "colour: Extra inputs are not permitted"),
    "mean per channel": (
        entry(preprocessing="{ input_size = 32, mean = [0.5], std = [0.5, 0.5, 0.5] }"),
        [1],
        "one value per channel",
    ),
    "duplicate id": (entry() + "\n" + entry(), [14], "already used by the entry on line 1"),
    "two bad entries": (
        entry() + "\n" + entry("x.y", license="") + "\n" + entry("z.z", head=""),
        [14, 26],
        "",
    ),
    "unknown top-level key": ("version = 2\n\n" + entry("ok.ok"), [1], "unknown top-level key 'version'"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_manifests_are_refused_naming_each_bad_entry_line(tmp_path: Path, case: str) -> None:
    text, lines, fragment = MALFORMED[case]
    (tmp_path / "w.safetensors").write_bytes(b"")
    path = tmp_path / "zoo.toml"
    path.write_text(text)
    with pytest.raises(ManifestError) as err:
        parse_manifest(path)
    assert err.value.code == "invalid-manifest"
    assert [p.split(":")[1] for p in err.value.problems] == [str(n) for n in lines]
    assert all(p.startswith(f"{path}:") for p in err.value.problems)
    assert fragment in err.value.message


def test_toml_syntax_errors_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "zoo.toml"
    path.write_text(entry() + 'id = "again"\n[[models]\n')
    with pytest.raises(ManifestError, match=r"not valid TOML: .*line 13"):
        parse_manifest(path)


def test_a_symlink_out_of_the_models_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "models", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (outside / "w.safetensors").write_bytes(b"x")
    (root / "link").symlink_to(outside)
    path = tmp_path / "zoo.toml"
    path.write_text(entry(weights=f'file = "link/w.safetensors", sha256 = "{SHA}"'))
    with pytest.raises(ManifestError, match="leaves the models root"):
        parse_manifest(path, models_root=root)


def test_package_resources_and_headless_timm_models(tmp_path: Path) -> None:
    path = tmp_path / "zoo.toml"
    path.write_text(
        entry(
            weights=f'package = "zoo", resource = "weights/x.safetensors", sha256 = "{SHA}"',
            head="",
            num_classes="",
        )
    )
    (e,) = parse_manifest(path)
    assert (e.weights.kind, e.weights.package, e.weights.filename) == (
        "package",
        "zoo",
        "weights/x.safetensors",
    )
    assert e.head is None and e.num_source_classes is None
    assert e.builder().eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 96)


def test_an_unreadable_manifest_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot be read"):
        load_manifest(tmp_path / "absent.toml")
    assert manifest_text("a", "b").count("[[models]]") == 2
