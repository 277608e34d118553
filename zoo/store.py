"""Content-addressed feature store: one read-only safetensors file per (model, preprocessing, data, ...).

Key
    ``sha256(canonical JSON of {model, preprocessing, dataset, sampling, extractor})`` where ``model`` is
    the weights digest (:func:`entry_digest`), ``dataset`` the dataset fingerprint, ``sampling`` the
    ``SamplingSpec`` with its algorithm version and ``extractor`` the extraction config with
    ``EXTRACTOR_VERSION`` (``zoo.features.extractor_config``). Any change to any part gives a new key;
    nothing is ever invalidated in place. Keys are validated as 64 hex digits before they touch a path.

File
    ``<root>/<key[:2]>/<key>.safetensors``: tensors ``features`` (N, D) F32, ``labels`` (N,) I64 and,
    for models with a source head, ``probs`` (N, C_s) F32. The safetensors ``__metadata__`` carries one
    JSON document (keys, classes, corrupt list, key components) and a SHA-256 over the tensor bytes and
    that document, so a single file is the single commit point (no data/metadata pair that a crash
    could split) and silent corruption is detected on read.

Writes
    temp file in the same directory -> write -> ``fsync`` -> ``chmod 0o444`` -> ``os.replace`` ->
    ``fsync`` of the directory. A crash at any point leaves either no entry or the complete entry; stray
    temp files are invisible to readers and removed by :meth:`FeatureStore.remove_stale_temp`. Concurrent
    writers of one key each write their own temp file and the last rename wins (their contents are
    equivalent); :meth:`FeatureStore.get_or_compute` also takes a per-key ``flock`` so that concurrent
    workers compute a key once instead of racing.

Reads
    the file is memory-mapped read-only and the arrays are views into the map, so they are read-only
    (``flags.writeable`` is False) and cost no copy. A file that fails validation raises
    :class:`FeatureStoreError` from :meth:`get`; :meth:`get_or_compute` moves it to ``quarantine/`` and
    recomputes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import mmap
import os
import re
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save as safetensors_save

from zoo._api import ZooEntry
from zoo.errors import FeatureStoreError
from zoo.features import CorruptImage, FeatureSet

__all__ = ["STORE_FORMAT", "FeatureKey", "FeatureStore", "canonical_json", "entry_digest"]

log = logging.getLogger(__name__)

#: Version of the file layout and metadata schema (part of every key).
STORE_FORMAT = "zoorank-features-v1"
_KEY = re.compile(r"^[0-9a-f]{64}$")
_MAX_HEADER = 100_000_000  # safetensors' own MAX_HEADER_SIZE
_DTYPES: dict[str, np.dtype[Any]] = {"F32": np.dtype("<f4"), "I64": np.dtype("<i8")}
_TENSORS = {"features": "F32", "labels": "I64", "probs": "F32"}


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, tuples as lists, NaN refused."""
    return json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _plain(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _plain(asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def entry_digest(entry: ZooEntry) -> str:
    """Digest identifying what a zoo entry computes: id, architecture, weights and feature layer.

    The weights' SHA-256 is what really identifies the network; the id, head and feature layer are
    included because the same weights can be read out at another layer. For random-init controls
    (``weights.kind == "none"``) features are only reproducible if the builder is seeded.
    """
    return hashlib.sha256(
        canonical_json(
            {
                "id": entry.id,
                "arch": entry.arch,
                "weights": asdict(entry.weights),
                "feature_layer": entry.feature_layer,
                "head": entry.head,
                "feature_dim": entry.feature_dim,
            }
        ).encode("utf-8")
    ).hexdigest()


@dataclass(frozen=True)
class FeatureKey:
    """The components that determine a stored feature set; :attr:`digest` is the store key.

    Attributes:
        model: model digest (:func:`entry_digest`, or any stable digest of the weights).
        preprocessing: ``Preprocessing.to_dict()``.
        dataset: dataset fingerprint (``zoo.datasets.fingerprint``).
        sampling: ``SamplingSpec.to_dict()``.
        extractor: ``zoo.features.extractor_config(...)``.
    """

    model: str
    preprocessing: Mapping[str, Any]
    dataset: str
    sampling: Mapping[str, Any]
    extractor: Mapping[str, Any]
    format: str = field(default=STORE_FORMAT)

    def components(self) -> dict[str, Any]:
        """JSON-ready form, recorded in the stored file for provenance."""
        return {
            "format": self.format,
            "model": self.model,
            "preprocessing": _plain(self.preprocessing),
            "dataset": self.dataset,
            "sampling": _plain(self.sampling),
            "extractor": _plain(self.extractor),
        }

    @property
    def digest(self) -> str:
        """Hex SHA-256 of the canonical JSON of :meth:`components`."""
        return hashlib.sha256(canonical_json(self.components()).encode("utf-8")).hexdigest()


def _key_str(key: FeatureKey | str) -> str:
    k = key.digest if isinstance(key, FeatureKey) else key
    if not isinstance(k, str) or not _KEY.match(k):
        raise FeatureStoreError(f"feature-store key must be 64 lower-case hex digits, got {k!r}", param="key")
    return k


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FeatureStore:
    """Content-addressed, crash-safe cache of :class:`~zoo.features.FeatureSet` objects.

    Args:
        root: store directory (``Settings.feature_store_dir``); created on first write.
    """

    SUFFIX = ".safetensors"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # -- paths -------------------------------------------------------------------------------------

    def path_for(self, key: FeatureKey | str) -> Path:
        """Where the entry for ``key`` lives (it may not exist)."""
        k = _key_str(key)
        return self.root / k[:2] / f"{k}{self.SUFFIX}"

    def __contains__(self, key: object) -> bool:
        """Whether an entry exists for ``key`` (not verified; :meth:`get` verifies)."""
        if not isinstance(key, FeatureKey | str):
            return False
        try:
            return self.path_for(key).is_file()
        except FeatureStoreError:
            return False

    def keys(self) -> list[str]:
        """Keys of every committed entry, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name[: -len(self.SUFFIX)]
            for p in self.root.glob(f"??/*{self.SUFFIX}")
            if _KEY.match(p.name[:64])
        )

    # -- write -------------------------------------------------------------------------------------

    def put(self, key: FeatureKey | str, fs: FeatureSet) -> Path:
        """Store ``fs`` under ``key`` atomically; returns the entry's path.

        Raises:
            FeatureStoreError: the store directory is not writable.
        """
        k = _key_str(key)
        tensors: dict[str, np.ndarray] = {
            "features": np.ascontiguousarray(fs.features, dtype="<f4"),
            "labels": np.ascontiguousarray(fs.labels, dtype="<i8"),
        }
        if fs.probs is not None:
            tensors["probs"] = np.ascontiguousarray(fs.probs, dtype="<f4")
        doc = canonical_json(
            {
                "format": STORE_FORMAT,
                "key": k,
                "components": key.components() if isinstance(key, FeatureKey) else None,
                "keys": list(fs.keys),
                "classes": list(fs.classes),
                "corrupt": [[c.key, c.reason] for c in fs.corrupt],
                "total": fs.total,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
        checksum = _checksum(tensors, doc)
        blob = safetensors_save(tensors, metadata={"zoorank": doc, "sha256": checksum})
        final = self.path_for(k)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{k}.", suffix=".tmp", dir=final.parent)
        except OSError as exc:
            raise FeatureStoreError(f"feature store {self.root} is not writable: {exc}") from None
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
                os.fchmod(f.fileno(), 0o444)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return final

    # -- read --------------------------------------------------------------------------------------

    def get(self, key: FeatureKey | str) -> FeatureSet | None:
        """The stored feature set for ``key``, or None when there is none.

        Arrays are read-only views of a read-only memory map.

        Raises:
            FeatureStoreError: an entry exists but is truncated, malformed or fails its checksum.
        """
        k = _key_str(key)
        path = self.path_for(k)
        try:
            f = open(path, "rb")  # noqa: SIM115 - the map outlives the descriptor on purpose
        except (FileNotFoundError, NotADirectoryError):  # ENOTDIR: a file where a folder should be
            return None
        except OSError as exc:
            raise FeatureStoreError(f"feature-store entry {k[:12]} unreadable: {exc}", param="key") from None
        with f:
            try:
                size = os.fstat(f.fileno()).st_size
                if size < 8:
                    raise ValueError(f"file of {size} bytes")
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as exc:
                raise FeatureStoreError(
                    f"feature-store entry {k[:12]} is corrupt: {exc}", param="key"
                ) from None
        try:
            return _parse(mm, k)
        except (ValueError, KeyError, TypeError, json.JSONDecodeError, struct.error) as exc:
            raise FeatureStoreError(f"feature-store entry {k[:12]} is corrupt: {exc}", param="key") from None

    # -- both --------------------------------------------------------------------------------------

    def get_or_compute(
        self, key: FeatureKey | str, compute: Callable[[], FeatureSet]
    ) -> tuple[FeatureSet, bool]:
        """Return the stored set for ``key``, computing and storing it first if needed.

        Concurrent callers with the same key (threads or processes sharing ``root``) serialise on a
        per-key lock, so ``compute`` runs once; a corrupt entry is quarantined and recomputed.

        Returns:
            ``(feature set, reused)`` where ``reused`` says whether it came from the store.
        """
        k = _key_str(key)
        hit = self._get_or_quarantine(k)
        if hit is not None:
            return hit, True
        with self._lock(k):
            hit = self._get_or_quarantine(k)  # another process may have finished it meanwhile
            if hit is not None:
                return hit, True
            fs = compute()
            self.put(key, fs)
        stored = self.get(k)
        if stored is None:
            raise FeatureStoreError(f"feature-store entry {k[:12]} vanished right after it was written")
        return stored, False

    def _get_or_quarantine(self, k: str) -> FeatureSet | None:
        try:
            return self.get(k)
        except FeatureStoreError as exc:
            self.quarantine(k, reason=str(exc))
            return None

    def quarantine(self, key: FeatureKey | str, *, reason: str = "") -> Path | None:
        """Move the entry for ``key`` out of the way (into ``<root>/quarantine/``); returns its new path."""
        k = _key_str(key)
        src = self.path_for(k)
        dst_dir = self.root / "quarantine"
        dst = dst_dir / f"{k}.{time.time_ns()}{self.SUFFIX}"
        try:
            dst_dir.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise FeatureStoreError(f"cannot quarantine corrupt entry {k[:12]}: {exc}", param="key") from None
        log.warning("feature-store entry %s quarantined: %s", k[:12], reason)
        return dst

    @contextlib.contextmanager
    def _lock(self, k: str) -> Iterator[None]:
        lock_dir = self.root / ".locks"
        try:
            lock_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_dir / f"{k}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise FeatureStoreError(f"feature store {self.root} is not writable: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if this process dies
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def remove_stale_temp(self, older_than_s: float = 3600.0) -> int:
        """Delete temp files left by crashed writers (older than ``older_than_s``); returns the count."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_s
        removed = 0
        for p in self.root.glob("??/.*.tmp"):
            with contextlib.suppress(OSError):
                if p.stat().st_mtime < cutoff:
                    p.unlink()
                    removed += 1
        return removed


def _checksum(tensors: Mapping[str, np.ndarray], doc: str) -> str:
    """SHA-256 over every tensor's name and bytes (in name order) and the metadata document."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode("ascii") + b"\0")
        h.update(np.ascontiguousarray(tensors[name]).reshape(-1).view(np.uint8).data)
    h.update(doc.encode("utf-8"))
    return h.hexdigest()


def _parse(mm: mmap.mmap, key: str) -> FeatureSet:
    """Validate a mapped safetensors file and build read-only array views into it."""
    size = len(mm)
    (n,) = struct.unpack("<Q", mm[:8])
    if n > _MAX_HEADER or 8 + n > size:
        raise ValueError(f"header length {n} does not fit a {size}-byte file")
    header = json.loads(bytes(mm[8 : 8 + n]).decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or "zoorank" not in meta or "sha256" not in meta:
        raise ValueError("zoorank metadata missing")
    base = 8 + n
    spans: list[tuple[int, int, str]] = []
    arrays: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name not in _TENSORS or info.get("dtype") != _TENSORS[name]:
            raise ValueError(f"unexpected tensor {name!r} ({info.get('dtype')})")
        shape = [int(s) for s in info["shape"]]
        start, end = (int(v) for v in info["data_offsets"])
        dtype = _DTYPES[info["dtype"]]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if (
            min(shape, default=1) < 0
            or end - start != count * dtype.itemsize
            or start < 0
            or base + end > size
        ):
            raise ValueError(f"tensor {name!r} has inconsistent offsets")
        spans.append((start, end, name))
        arrays[name] = np.frombuffer(mm, dtype=dtype, count=count, offset=base + start).reshape(shape)
    # safetensors invariant: tensors tile the data region exactly, no gaps, no overlaps.
    spans.sort()
    cursor = 0
    for start, end, name in spans:
        if start != cursor:
            raise ValueError(f"tensor {name!r} overlaps or leaves a gap")
        cursor = end
    if base + cursor != size:
        raise ValueError("trailing bytes after the last tensor")
    doc = meta["zoorank"]
    if _checksum(arrays, doc) != meta["sha256"]:
        raise ValueError("checksum mismatch")
    info = json.loads(doc)
    if info.get("format") != STORE_FORMAT or info.get("key") != key:
        raise ValueError("entry belongs to another key or format")
    if "features" not in arrays or "labels" not in arrays:
        raise ValueError("features or labels missing")
    labels, classes = arrays["labels"], tuple(info["classes"])
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= len(classes)):
        raise ValueError("labels out of range of the classes")
    return FeatureSet(
        features=arrays["features"],
        labels=labels,
        keys=tuple(info["keys"]),
        classes=classes,
        probs=arrays.get("probs"),
        corrupt=tuple(CorruptImage(str(a), str(b)) for a, b in info["corrupt"]),
        total=int(info["total"]),
    )
