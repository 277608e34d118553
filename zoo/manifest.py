"""Zoo entries as data: a TOML manifest of torchvision or timm architectures with their own checkpoints.

A platform team adds its models by naming a manifest (``ZOORANK_ZOO_MANIFEST``) instead of writing Python:
every process (CLI, API, worker) calls :func:`load_manifest` with the same file and models root, so all of
them see the same entries. Each ``[[models]]`` table is validated with pydantic; every bad entry gives one
line naming the manifest line of its ``[[models]]`` header (:class:`~zoo.errors.ManifestError` carries
them all). Format::

    [[models]]
    id = "resnet18.acme_birds"          # arch.tag, unique in the zoo
    library = "torchvision"             # or "timm"
    architecture = "resnet18"           # a torchvision builder name or a timm model name
    num_classes = 200                   # C_s of the source head in the checkpoint (omit: headless timm)
    head = "fc"                         # dotted path of the final Linear (omit: headless timm)
    feature_dim = 512                   # D, the width of the feature vector (the head's input)
    feature_layer = "fc input: global average pool of layer4"
    source = "ImageNet-1k, fine-tuned on ACME birds"   # the source (pre-training) data
    license = "Apache-2.0"
    citation = "ACME model card v3"     # optional
    tags = ["birds"]                    # optional; "manifest" is always added
    weights = { file = "acme/resnet18_birds.safetensors", sha256 = "<64 hex digits>" }
    # or a file shipped in an installed package:
    # weights = { package = "acme_models", resource = "weights/r18.safetensors", sha256 = "..." }
    # optional in weights: key_map = "in_order" (other key names, same tensor order)
    preprocessing = { input_size = 224, resize = 256, crop = "center", interpolation = "bilinear",
                      mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225] }

``file`` is relative to the models root (``ZOORANK_MODELS_ROOT``, default the manifest's folder) and must
stay inside it (symlinks resolved). Weights are loaded like every entry's (:mod:`zoo.weights`): the SHA-256
is checked before a byte is parsed, ``.safetensors`` or a ``weights_only`` torch checkpoint, strict key
matching, head shape checked against ``feature_dim`` and ``num_classes``. :func:`check_manifest` does all of
that for every entry up front (``zoorank models --check``).
"""

from __future__ import annotations

import re
import threading
import tomllib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from zoo._api import ENTRIES, ENTRY_ID, Preprocessing, WeightsSource, ZooEntry, register_entry
from zoo.entries._builders import timm_model, torchvision_model
from zoo.errors import ManifestError, ZooError
from zoo.models import load_model

__all__ = ["ManifestCheck", "check_manifest", "forget_manifest", "load_manifest", "parse_manifest"]

_HEADER = re.compile(r"""^\s*\[\[\s*(?:models|"models"|'models')\s*\]\]""")
_KEY = r"""^\s*(?:{0}|"{0}"|'{0}')\s*="""
_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"
_PACKAGE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
_TAG = "manifest"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class _Weights(_Strict):
    file: str | None = Field(default=None, min_length=1, description="path under the models root")
    package: str | None = Field(default=None, pattern=_PACKAGE, description="installed package")
    resource: str | None = Field(default=None, min_length=1, description="file inside that package")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="64 lower-case hex digits")
    key_map: Literal["identity", "in_order"] = "identity"

    @model_validator(mode="after")
    def _one_source(self) -> _Weights:
        if (self.file is None) == (self.package is None):
            raise ValueError("give either 'file' (under the models root) or 'package' and 'resource'")
        if self.package is not None and self.resource is None:
            raise ValueError("'package' needs 'resource', the file's path inside the package")
        if self.file is not None and self.resource is not None:
            raise ValueError("'resource' goes with 'package', not with 'file'")
        for rel in (self.file, self.resource):
            if rel is not None and (Path(rel).is_absolute() or ".." in Path(rel).parts or "\\" in rel):
                raise ValueError(f"{rel!r} must be a relative path without '..'")
        return self


class _Preprocessing(_Strict):
    input_size: int = Field(ge=1, le=4096)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: Literal[1, 3] = 3
    resize: int | None = Field(default=None, ge=1, le=8192)
    crop: Literal["center", "none"] = "none"
    interpolation: Literal["bilinear", "bicubic", "nearest"] = "bilinear"

    @model_validator(mode="after")
    def _per_channel(self) -> _Preprocessing:
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"mean and std need one value per channel ({self.channels})")
        if not all(s > 0 for s in self.std):
            raise ValueError("every std must be > 0")
        return self


class _Entry(_Strict):
    id: str = Field(pattern=ENTRY_ID.pattern)
    library: Literal["torchvision", "timm"]
    architecture: str = Field(pattern=_NAME, max_length=200)
    num_classes: int | None = Field(default=None, ge=1, le=1_000_000)
    head: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
    feature_dim: int = Field(ge=1, le=1_000_000)
    feature_layer: str = Field(min_length=1, max_length=500)
    source: str = Field(min_length=1, max_length=500)
    license: str = Field(min_length=1, max_length=200)
    citation: str = Field(default="", max_length=2000)
    tags: tuple[str, ...] = ()
    weights: _Weights
    preprocessing: _Preprocessing

    @model_validator(mode="after")
    def _head(self) -> _Entry:
        if (self.head is None) != (self.num_classes is None):
            raise ValueError("'head' and 'num_classes' go together: both for a classifier, neither headless")
        if self.head is None and self.library == "torchvision":
            raise ValueError("torchvision models need their 'head' and 'num_classes'")
        return self


def _known(library: str, architecture: str) -> bool:
    """Whether ``library`` can build ``architecture`` (imports the library: seconds, once per process)."""
    if library == "timm":
        import timm  # heavy: timm's model registry, only for manifests that name timm models

        return bool(timm.is_model(architecture))
    from torchvision import models  # heavy: torchvision's model zoo, only for manifests that name it

    return architecture in models.list_models()


def _header_lines(text: str, count: int) -> list[int]:
    """The 1-based line of each ``[[models]]`` header; the ``models =`` line for an inline array."""
    lines = text.splitlines()
    headers = [i + 1 for i, line in enumerate(lines) if _HEADER.match(line)]
    if len(headers) == count:
        return headers
    key = re.compile(_KEY.format("models"))
    at = next((i + 1 for i, line in enumerate(lines) if key.match(line)), 1)
    return [at] * count


def _key_line(text: str, key: str) -> int:
    pattern = re.compile(_KEY.format(re.escape(key)) + r"|^\s*\[\[?\s*" + re.escape(key) + r"\s*\]")
    return next((i + 1 for i, line in enumerate(text.splitlines()) if pattern.match(line)), 1)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else str(err["msg"]))
    return "; ".join(parts)


def _inside(root: Path, relative: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ValueError(f"weights.file {relative!r} leaves the models root {root}")
    return path


def _entry(spec: _Entry, path: Path, line: int, root: Path) -> ZooEntry:
    w = spec.weights
    if w.file is not None:
        weights = WeightsSource(
            kind="file", filename=str(_inside(root, w.file)), sha256=w.sha256, key_map=w.key_map
        )
    else:
        weights = WeightsSource(
            kind="package", filename=w.resource or "", package=w.package, sha256=w.sha256, key_map=w.key_map
        )
    build = torchvision_model if spec.library == "torchvision" else timm_model
    classes = spec.num_classes if spec.head is not None else 0
    return ZooEntry(
        id=spec.id,
        arch=spec.architecture,
        builder=partial(build, spec.architecture, classes),
        weights=weights,
        preprocessing=Preprocessing(**spec.preprocessing.model_dump()),
        feature_layer=spec.feature_layer,
        head=spec.head,
        feature_dim=spec.feature_dim,
        num_source_classes=spec.num_classes,
        source=spec.source,
        license=spec.license,
        citation=spec.citation,
        tags=tuple(dict.fromkeys([*spec.tags, _TAG])),
        meta={"manifest": str(path), "line": line, "library": spec.library},
    )


def parse_manifest(path: Path, models_root: Path | None = None) -> list[ZooEntry]:
    """Validate the manifest at ``path`` into zoo entries (nothing is registered, no weights are read).

    Args:
        path: the TOML file.
        models_root: folder that ``weights.file`` paths are relative to (default: the manifest's folder).

    Raises:
        ManifestError: the file cannot be read, is not TOML, or has bad entries; ``problems`` holds one
            ``<path>:<line>: ...`` line per bad entry (duplicate ids included).
    """
    path = path.expanduser().absolute()
    root = (models_root or path.parent).expanduser().absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(
            f"zoo manifest {path} cannot be read: {exc}", param="ZOORANK_ZOO_MANIFEST"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(
            f"zoo manifest {path} is not valid TOML: {exc}", param="ZOORANK_ZOO_MANIFEST"
        ) from None
    problems: list[str] = []
    for key in sorted(set(data) - {"models"}):
        problems.append(f"{path}:{_key_line(text, key)}: unknown top-level key {key!r} (expected [[models]])")
    models = data.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
        problems.append(
            f"{path}:{_key_line(text, 'models')}: 'models' must be an array of tables ([[models]])"
        )
        models = []
    lines = _header_lines(text, len(models))
    out: list[ZooEntry] = []
    seen: dict[str, int] = {}
    for raw, line in zip(models, lines, strict=True):
        name = raw.get("id")
        label = f"{path}:{line}: entry {name!r}" if isinstance(name, str) else f"{path}:{line}: entry"
        try:
            spec = _Entry.model_validate(raw)
            if spec.id in seen:
                raise ValueError(f"id {spec.id!r} is already used by the entry on line {seen[spec.id]}")
            if not _known(spec.library, spec.architecture):
                raise ValueError(f"{spec.library} has no architecture {spec.architecture!r}")
            entry = _entry(spec, path, line, root)
        except ValidationError as exc:
            problems.append(f"{label}: {_describe(exc)}")
            continue
        except ValueError as exc:
            problems.append(f"{label}: {exc}")
            continue
        seen[spec.id] = line
        out.append(entry)
    if problems:
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        raise ManifestError(
            f"zoo manifest {path}: {count}: " + " | ".join(problems),
            problems=tuple(problems),
            param="ZOORANK_ZOO_MANIFEST",
        )
    return out


_lock = threading.Lock()
_loaded: dict[Path, tuple[tuple[Any, ...], tuple[ZooEntry, ...]]] = {}
_owner: dict[str, Path] = {}


def load_manifest(path: Path, models_root: Path | None = None) -> tuple[ZooEntry, ...]:
    """Validate the manifest and register its entries; a second call with an unchanged file does nothing.

    When the file (or the models root) has changed since the last call, its entries are replaced by the
    new ones. An id that another source (the built-in zoo, a Python module, another manifest) already
    registered is refused with the manifest line.

    Raises:
        ManifestError: the manifest is invalid (see :func:`parse_manifest`) or collides with the zoo.
    """
    path = path.expanduser().absolute()
    try:
        st = path.stat()
        stamp: tuple[Any, ...] = (
            st.st_size,
            st.st_mtime_ns,
            None if models_root is None else str(models_root),
        )
    except OSError as exc:
        raise ManifestError(
            f"zoo manifest {path} cannot be read: {exc}", param="ZOORANK_ZOO_MANIFEST"
        ) from None
    with _lock:
        cached = _loaded.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        entries = parse_manifest(path, models_root)
        taken = [
            f"{path}:{e.meta['line']}: entry {e.id!r}: the id is already in the zoo"
            + (f" (from {_owner[e.id]})" if e.id in _owner else " (built in or registered by Python code)")
            for e in entries
            if e.id in ENTRIES and _owner.get(e.id) != path
        ]
        if taken:
            raise ManifestError(
                f"zoo manifest {path}: " + " | ".join(taken),
                problems=tuple(taken),
                param="ZOORANK_ZOO_MANIFEST",
            )
        for old in cached[1] if cached is not None else ():
            ENTRIES.discard(old.id)
            _owner.pop(old.id, None)
        for entry in entries:
            register_entry(entry)
            _owner[entry.id] = path
        registered = tuple(entries)
        _loaded[path] = (stamp, registered)
        return registered


def forget_manifest(path: Path) -> None:
    """Unregister the entries :func:`load_manifest` registered from ``path`` (tests clean up with it)."""
    path = path.expanduser().absolute()
    with _lock:
        _, entries = _loaded.pop(path, (None, ()))
        for entry in entries:
            ENTRIES.discard(entry.id)
            _owner.pop(entry.id, None)


@dataclass(frozen=True)
class ManifestCheck:
    """The outcome of loading one manifest entry for real (``zoorank models --check``)."""

    id: str
    line: int
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "line": self.line, "ok": self.ok, "detail": self.detail}


def check_manifest(path: Path, models_root: Path | None = None) -> list[ManifestCheck]:
    """Validate the manifest, then load every entry's weights: digest, strict state dict, head shape.

    Nothing is registered. Each entry's network is built on the CPU and dropped again.

    Raises:
        ManifestError: the manifest itself is invalid (nothing could be checked).
    """
    out = []
    for entry in parse_manifest(path, models_root):
        line = int(entry.meta["line"])
        try:
            load_model(entry, "cpu", download=False)
        except ZooError as exc:
            out.append(ManifestCheck(entry.id, line, False, f"{exc.code}: {exc.message}"))
            continue
        out.append(
            ManifestCheck(entry.id, line, True, f"sha256 {entry.weights.sha256} verified, weights fit")
        )
    return out
