"""Register the models trained in this repository (``make zoo``) from ``zoo/artifacts/manifest.json``.

The manifest is written by the zoo-training script and is the single source of truth for these
entries: this module holds no per-model code. If the manifest does not exist (a fresh clone before
``make zoo`` and without committed weights), nothing is registered.

Manifest format: a JSON list of objects, one per model::

    {
      "id": "cnn4.fmnist",                       # arch.tag, unique in the zoo
      "arch": "cnn4",                            # built by zoo.archs.build(arch, num_classes)
      "source": "Fashion-MNIST",                 # source (training) dataset
      "file": "zoo/artifacts/cnn4.fmnist.safetensors",   # repo-relative; null = random-init control
      "sha256": "<64 hex>",                      # of that file; null only when file is null
      "num_classes": 10,                         # C_s of the source head
      "feature_dim": 128,                        # D, width of the head's input
      "head": "fc",                              # optional: final Linear's path (default: zoo.archs')
      "preprocessing": {"input_size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                        "channels": 3},          # zoo._api.Preprocessing fields
      "profile": "zoo/artifacts/cnn4.fmnist.profile.npz",  # or null
      "license": "Apache-2.0",
      "citation": "...",
      "tags": ["small"],                         # "trained" is always added; "control" when file is null
      "seed": 0,                                 # optional: init seed (used for random-init controls)
      "feature_layer": "...",                    # optional description
      "meta": {}                                 # optional extra metadata (accuracy, epochs, ...)
    }

Weight files must live under ``zoo/`` (they are resolved relative to the zoo package, see
:mod:`zoo.weights`) and should be ``.safetensors`` (fp16 is fine: it is upcast to float32 on load).
A malformed manifest raises ``ValueError`` at import, naming the file and the offending item.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from torch import nn

from zoo import archs
from zoo._api import Preprocessing, WeightsSource, ZooEntry, register_entry

__all__ = ["MANIFEST", "entries_from_manifest", "register_manifest"]

MANIFEST = Path(__file__).resolve().parents[1] / "artifacts" / "manifest.json"

_REQUIRED = {
    "id", "arch", "source", "file", "sha256", "num_classes", "feature_dim", "preprocessing", "profile",
    "license", "citation", "tags",
}  # fmt: skip
_OPTIONAL = {"head", "seed", "feature_layer", "meta"}
_ZOO_PREFIX = "zoo/"


def _build_arch(arch: str, num_classes: int) -> nn.Module:
    """Builder for trained entries (a module-level function, so entries stay picklable)."""
    return archs.build(arch, num_classes)


def _zoo_relative(path: Any, key: str, where: str) -> str:
    """A manifest path (repository-relative, under ``zoo/``) made relative to the ``zoo`` package."""
    if not isinstance(path, str) or not path.startswith(_ZOO_PREFIX):
        raise ValueError(f"{where}: {key!r} must be a repo-relative path under zoo/, got {path!r}")
    return path[len(_ZOO_PREFIX) :]


def _entry(item: Mapping[str, Any], where: str) -> ZooEntry:
    missing = _REQUIRED - set(item)
    unknown = set(item) - _REQUIRED - _OPTIONAL
    if missing or unknown:
        raise ValueError(f"{where}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
    file = item["file"]
    if file is None:
        weights = WeightsSource(kind="none")
    else:
        if item["sha256"] is None:
            raise ValueError(f"{where}: a weights file needs its 'sha256'")
        weights = WeightsSource(
            kind="file", filename=_zoo_relative(file, "file", where), sha256=item["sha256"]
        )
    pre = dict(item["preprocessing"])
    for key in ("mean", "std"):
        pre[key] = tuple(float(v) for v in pre[key])
    tags = tuple(dict.fromkeys([*item["tags"], "trained", *(["control"] if file is None else [])]))
    num_classes = int(item["num_classes"])
    head = item.get("head") or archs.get_arch(item["arch"]).head
    return ZooEntry(
        id=item["id"],
        arch=item["arch"],
        builder=partial(_build_arch, item["arch"], num_classes),
        weights=weights,
        preprocessing=Preprocessing(**pre),
        feature_layer=item.get("feature_layer", f"{head} input (after global average pooling)"),
        head=head,
        feature_dim=int(item["feature_dim"]),
        num_source_classes=num_classes,
        source=item["source"],
        license=item["license"],
        citation=item["citation"],
        profile=_zoo_relative(item["profile"], "profile", where) if item["profile"] is not None else None,
        tags=tags,
        meta={**item.get("meta", {}), **({"seed": int(item["seed"])} if "seed" in item else {})},
    )


def entries_from_manifest(path: Path = MANIFEST) -> list[ZooEntry]:
    """Parse the manifest at ``path`` into entries (without registering); [] when it does not exist.

    Raises:
        ValueError: the file is not a JSON list of well-formed model objects.
    """
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of model objects")
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise ValueError(f"{path}[{i}]: expected an object")
        try:
            out.append(_entry(item, f"{path}[{i}] ({item.get('id')!r})"))
        except (TypeError, KeyError, LookupError) as exc:
            raise ValueError(f"{path}[{i}] ({item.get('id')!r}): {exc}") from None
    return out


def register_manifest(path: Path = MANIFEST) -> list[ZooEntry]:
    """Register every entry of the manifest at ``path``; returns them."""
    return [register_entry(e) for e in entries_from_manifest(path)]


register_manifest()
