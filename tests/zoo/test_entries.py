"""The zoo registry as data: every entry's id, digests, metadata and declared dims are checked.

Parametrized over the registry itself (timm / torchvision style), so a new entry is tested the moment it
is registered. Feature dims are measured on a zeros input through a random-init build: no weights and no
network are needed, so the catalogue entries are checked too.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from estimators.errors import DuplicateRegistrationError
from zoo import ENTRIES, get_entry, list_entries, register_entry
from zoo._api import ENTRY_ID, SHA256, ZooEntry
from zoo.entries.trained import entries_from_manifest
from zoo.errors import UnknownModelError
from zoo.models import feature_dim_of, random_model
from zoo.weights import hub_name_prefix

IDS = ENTRIES.names()
BUILTIN = {
    "mobilenet_v2.tv_in1k",
    "efficientnet_lite0.in1k",
    "efficientnet_lite1.in1k",
    "efficientnet_lite2.in1k",
    "digit_cnn.mnist",
}
KIND_TAGS = {"builtin", "catalogue", "trained"}


def test_builtin_and_catalogue_entries_are_registered() -> None:
    assert set(IDS) >= BUILTIN
    assert {e.id for e in list_entries(tags=("builtin",))} == BUILTIN
    assert len(list_entries(tags=("catalogue",))) >= 8


@pytest.mark.parametrize("entry_id", IDS)
def test_id_is_arch_dot_tag(entry_id: str) -> None:
    entry = get_entry(entry_id)
    assert entry.id == entry_id
    assert ENTRY_ID.match(entry.id)
    assert entry.id.split(".")[0] == entry.arch


@pytest.mark.parametrize("entry_id", IDS)
def test_digest_format(entry_id: str) -> None:
    w = get_entry(entry_id).weights
    if w.sha256 is not None:
        assert SHA256.match(w.sha256)
    if w.kind == "hub":
        prefix = hub_name_prefix(w.filename)
        assert prefix is not None, f"hub file {w.filename!r} must be named <arch>-<sha256[:8]>.<ext>"
        assert w.sha256 is None or w.sha256.startswith(prefix)
        assert w.url is not None and w.url.startswith("https://") and w.url.endswith("/" + w.filename)
    elif w.kind in ("package", "file"):
        assert w.sha256 is not None, "shipped and repository files must record their full digest"
        assert w.filename and not Path(w.filename).is_absolute() and ".." not in Path(w.filename).parts
        assert (w.package is not None) == (w.kind == "package")
    else:
        assert w.kind == "none" and not w.filename and w.sha256 is None
    assert w.key_map in ("identity", "in_order")


@pytest.mark.parametrize("entry_id", IDS)
def test_required_metadata(entry_id: str) -> None:
    entry = get_entry(entry_id)
    assert entry.license.strip() and entry.citation.strip() and entry.source.strip()
    assert entry.feature_layer.strip()
    assert len(set(entry.tags) & KIND_TAGS) == 1, f"exactly one of {sorted(KIND_TAGS)} in tags"
    if entry.weights.kind == "none":
        assert "control" in entry.tags
    pre = entry.preprocessing
    assert pre.input_size > 0 and pre.channels in (1, 3)
    assert len(pre.mean) == len(pre.std) == pre.channels
    assert all(s > 0 for s in pre.std)
    if pre.crop == "center":
        assert pre.resize is not None and pre.resize >= pre.input_size
    assert entry.feature_dim > 0
    assert (entry.head is None) == (entry.num_source_classes is None)
    json.dumps(entry.to_dict())  # publishable as JSON


@pytest.mark.parametrize("entry_id", IDS)
def test_declared_dims_match_the_real_network(entry_id: str) -> None:
    entry = get_entry(entry_id)
    model = random_model(entry)  # built once: convnext_tiny / vit_b_16 take seconds to initialise
    pre = entry.preprocessing
    with torch.no_grad():
        feats, logits = model(torch.zeros(2, pre.channels, pre.input_size, pre.input_size))
    assert feats.shape == (2, entry.feature_dim) and feats.dtype == torch.float32
    if entry.num_source_classes is None:
        assert logits is None
    else:
        assert logits is not None and logits.shape == (2, entry.num_source_classes)
    if "num_params" in entry.meta:  # recomputed, as torchvision's schema test does
        n = sum(p.numel() for p in model.parameters())
        assert n == entry.meta["num_params"]


@pytest.mark.parametrize("entry_id", ["digit_cnn.mnist", "mobilenet_v2.tv_in1k", "resnet18.tv_in1k"])
def test_feature_dim_of_measures_the_network(entry_id: str) -> None:
    entry = get_entry(entry_id)
    assert feature_dim_of(entry) == entry.feature_dim
    wrong = replace(entry, feature_dim=entry.feature_dim + 1)
    assert feature_dim_of(wrong) == entry.feature_dim  # measured, not read back from the entry


@pytest.mark.parametrize("entry_id", [e.id for e in list_entries(tags=("torchvision",))])
def test_torchvision_entries_match_torchvision_metadata(entry_id: str) -> None:
    """URL, file name and (for 224-px entries) preprocessing agree with torchvision's own Weights enum."""
    from torchvision import models
    from torchvision.transforms import InterpolationMode

    entry = get_entry(entry_id)
    name = entry.meta.get("torchvision_weights", "IMAGENET1K_V1")
    weights = models.get_model_weights(entry.arch)[name]
    assert weights.url == entry.weights.url
    assert weights.meta["num_params"] == entry.meta["num_params"]
    assert len(weights.meta["categories"]) == entry.num_source_classes
    if "catalogue" in entry.tags:
        kw = weights.transforms.keywords
        pre = entry.preprocessing
        assert (pre.input_size, pre.resize, pre.crop) == (
            kw["crop_size"],
            kw.get("resize_size", 256),
            "center",
        )
        interp = kw.get("interpolation", InterpolationMode.BILINEAR).value
        assert pre.interpolation == interp
        assert (pre.mean, pre.std) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def test_duplicate_id_raises_and_keeps_the_original() -> None:
    original = get_entry("mobilenet_v2.tv_in1k")
    with pytest.raises(DuplicateRegistrationError, match="mobilenet_v2.tv_in1k"):
        register_entry(replace(original, license="changed"))
    assert get_entry("mobilenet_v2.tv_in1k") is original


@pytest.mark.parametrize("bad_id", ["MobileNet.v2", "no_tag", "a.b.c", "digit cnn.mnist"])
def test_malformed_id_raises(bad_id: str) -> None:
    bad = replace(get_entry("digit_cnn.mnist"), id=bad_id)
    with pytest.raises(ValueError, match="arch.tag"):
        register_entry(bad)
    assert bad.id not in ENTRIES


@pytest.mark.parametrize("digest", ["0" * 63, "A" * 64, "b0353104"])
def test_malformed_digest_raises(digest: str) -> None:
    entry = get_entry("digit_cnn.mnist")
    bad = replace(entry, id="digit_cnn.bad_digest", weights=replace(entry.weights, sha256=digest))
    with pytest.raises(ValueError, match="sha256"):
        register_entry(bad)
    assert "digit_cnn.bad_digest" not in ENTRIES


def test_list_entries_filters_by_pattern_and_tags() -> None:
    assert [e.id for e in list_entries("efficientnet_lite*")] == [
        "efficientnet_lite0.in1k",
        "efficientnet_lite1.in1k",
        "efficientnet_lite2.in1k",
    ]
    assert [e.id for e in list_entries("resnet50.*", tags=("catalogue",))] == [
        "resnet50.tv2_in1k",
        "resnet50.tv_in1k",
    ]
    assert [e.id for e in list_entries(tags=("builtin", "timm"))] == [
        "efficientnet_lite0.in1k",
        "efficientnet_lite1.in1k",
        "efficientnet_lite2.in1k",
    ]
    assert list_entries("nothing_like_this*") == []
    assert list_entries(tags=("builtin", "catalogue")) == []
    ids = [e.id for e in list_entries()]
    assert ids == sorted(ids) == IDS


def test_unknown_id_lists_valid_ids() -> None:
    with pytest.raises(UnknownModelError, match="mobilenet_v2.tv_in1k"):
        get_entry("mobilenet_v9.tv_in1k")


# --- the trained-model manifest (written by `make zoo`) --------------------------------------------------

_ITEM = {
    "id": "cnn4.unit_test",
    "arch": "cnn4",
    "source": "Fashion-MNIST",
    "file": "zoo/artifacts/cnn4.unit_test.safetensors",
    "sha256": "ab" * 32,
    "num_classes": 10,
    "feature_dim": 128,
    "preprocessing": {"input_size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "channels": 3},
    "profile": None,
    "license": "Apache-2.0",
    "citation": "zoorank",
    "tags": ["small"],
}


def _write(tmp_path: Path, items: object) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    return path


def test_manifest_missing_registers_nothing(tmp_path: Path) -> None:
    assert entries_from_manifest(tmp_path / "absent.json") == []


def test_manifest_items_become_entries(tmp_path: Path) -> None:
    control = {**_ITEM, "id": "cnn4.random", "file": None, "sha256": None, "seed": 3}
    trained, rand = entries_from_manifest(_write(tmp_path, [_ITEM, control]))
    assert isinstance(trained, ZooEntry)
    assert trained.weights.kind == "file"
    assert trained.weights.filename == "artifacts/cnn4.unit_test.safetensors"  # relative to the zoo package
    assert trained.weights.sha256 == "ab" * 32
    assert trained.preprocessing.mean == (0.5, 0.5, 0.5) and trained.preprocessing.input_size == 32
    assert trained.head == "fc"  # from zoo.archs when the manifest does not say
    assert trained.tags == ("small", "trained")
    assert rand.weights.kind == "none" and rand.tags == ("small", "trained", "control")
    assert rand.meta["seed"] == 3
    assert feature_dim_of(trained) == 128
    # the seeded control is reproducible
    a, b = random_model(rand), random_model(rand)
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ({"id": "x.y"}, "JSON list"),
        ([{k: v for k, v in _ITEM.items() if k != "license"}], "missing keys"),
        ([{**_ITEM, "colour": "red"}], "unknown keys"),
        ([{**_ITEM, "file": "/etc/passwd"}], "under zoo/"),
        ([{**_ITEM, "sha256": None}], "sha256"),
        ([{**_ITEM, "arch": "no_such_arch"}], "no_such_arch"),
    ],
)
def test_malformed_manifest_raises(tmp_path: Path, items: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        entries_from_manifest(_write(tmp_path, items))
