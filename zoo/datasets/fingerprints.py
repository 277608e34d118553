"""Dataset fingerprints: a content digest that re-checks in stats, not reads.

``fingerprint = sha256`` over, for every sample in key order, ``[key, class name, content id]`` (one
canonical JSON line each) after a header line with the class list. The content id is
``file:<size>:<sha256 of the bytes>`` for image files and ``array:<shape>:<sha256 of the bytes>`` for
rows of an array. So the fingerprint changes when any image, label, class or key changes, and does not
change when the folder is moved, copied or listed in another order.

Hashing every file on every run would cost a full read of the dataset. A :class:`StatCache` (one SQLite
file under a cache directory) remembers each file's digest together with its ``(device, inode, size,
mtime_ns, ctime_ns)``; when those still match, the digest is reused and a re-check costs one ``stat``
per file. ``ctime`` cannot be set from user space, so a file rewritten with a forged mtime still misses.
A file modified within :data:`RACY_WINDOW_NS` of being hashed could keep identical stats on a coarse
clock (git's "racily clean" problem), so such recent files are hashed but not cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo._hashing import file_sha256
from zoo.datasets._dataset import ArrayImages, Dataset, FileImages
from zoo.errors import DatasetError

__all__ = [
    "FINGERPRINT_VERSION",
    "RACY_WINDOW_NS",
    "StatCache",
    "StatRow",
    "file_sha256",
    "fingerprint",
    "stat_signature",
]

log = logging.getLogger(__name__)

FINGERPRINT_VERSION = "zoorank-dataset-v1"
#: Files whose mtime or ctime is this recent are not cached (see the module docstring).
RACY_WINDOW_NS = 2_000_000_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class _Stat:
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> _Stat:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class StatCache:
    """Persistent map ``resolved path -> (stat signature, sha256)`` in ``<cache_dir>/stat-cache.sqlite3``.

    Safe to share between processes (SQLite locking, 30 s busy timeout). It is only a cache: a corrupt
    or unwritable database is replaced or bypassed with a warning, never an error.

    Args:
        cache_dir: directory for the database (created if missing); None hashes every file, persists nothing.
        racy_window_ns: files changed more recently than this are not cached.
    """

    FILENAME = "stat-cache.sqlite3"

    def __init__(
        self, cache_dir: str | os.PathLike[str] | None, *, racy_window_ns: int = RACY_WINDOW_NS
    ) -> None:
        self.path = Path(cache_dir) / self.FILENAME if cache_dir is not None else None
        self.racy_window_ns = racy_window_ns
        self.hashed = 0  # files actually read by this instance (observable cost, for tests and logs)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30.0)
        try:
            conn.execute(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        try:
            return self._connect(self.path)
        except sqlite3.DatabaseError:
            log.warning("stat cache %s is corrupt; recreating it", self.path)
            try:
                self.path.unlink(missing_ok=True)
                return self._connect(self.path)
            except (OSError, sqlite3.Error):
                log.warning("stat cache %s cannot be recreated; hashing without it", self.path)
                return None
        except (OSError, sqlite3.Error):
            log.warning("stat cache %s cannot be opened; hashing without it", self.path)
            return None

    def digests(self, paths: Iterable[Path]) -> list[tuple[int, str]]:
        """``(size, sha256)`` per path, in order, hashing only files whose stats changed.

        Raises:
            DatasetError: a file vanished or cannot be read while fingerprinting.
        """
        paths = list(paths)
        conn = self._open()
        try:
            known = self._lookup(conn, paths) if conn is not None else {}
            out: list[tuple[int, str]] = []
            fresh: list[tuple[str, int, int, int, int, int, str]] = []
            now = time.time_ns()
            for path in paths:
                try:
                    st = _Stat.of(os.stat(path))
                    hit = known.get(str(path))
                    if hit is not None and hit[0] == st:
                        digest = hit[1]
                    else:
                        digest = file_sha256(path)
                        self.hashed += 1
                        after = _Stat.of(os.stat(path))
                        recent = now - max(after.mtime_ns, after.ctime_ns) < self.racy_window_ns
                        if after == st and not recent:
                            row = (str(path), st.dev, st.ino, st.size, st.mtime_ns, st.ctime_ns, digest)
                            fresh.append(row)
                except OSError as exc:
                    raise DatasetError(
                        f"cannot read {path.name!r} while fingerprinting: {exc.strerror}", param="ref"
                    ) from None
                out.append((st.size, digest))
            if conn is not None and fresh:
                try:
                    with conn:
                        conn.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)", fresh)
                except sqlite3.Error as exc:
                    log.warning("stat cache %s not updated: %s", self.path, exc)
            return out
        finally:
            if conn is not None:
                conn.close()

    @staticmethod
    def _lookup(conn: sqlite3.Connection, paths: list[Path]) -> dict[str, tuple[_Stat, str]]:
        out: dict[str, tuple[_Stat, str]] = {}
        names = [str(p) for p in paths]
        try:
            for start in range(0, len(names), 500):
                chunk = names[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    "SELECT path, dev, ino, size, mtime_ns, ctime_ns, sha256 FROM files "
                    f"WHERE path IN ({marks})",
                    chunk,
                )
                for path, dev, ino, size, mtime_ns, ctime_ns, digest in rows:
                    out[path] = (_Stat(dev, ino, size, mtime_ns, ctime_ns), digest)
        except sqlite3.Error as exc:
            log.warning("stat cache unreadable (%s); hashing every file", exc)
            return {}
        return out


def _line(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def fingerprint(dataset: Dataset, cache: StatCache | str | os.PathLike[str] | None = None) -> str:
    """Hex SHA-256 content digest of ``dataset`` (its samples, labels and classes; see module docstring).

    Args:
        dataset: the dataset (usually the full one; sampling is keyed separately).
        cache: a :class:`StatCache`, a cache directory for one, or None to hash every file.

    Raises:
        DatasetError: a file disappeared or became unreadable since the dataset was listed.
    """
    stat_cache = cache if isinstance(cache, StatCache) else StatCache(cache)
    h = hashlib.sha256()
    h.update(_line([FINGERPRINT_VERSION, list(dataset.classes)]))
    names = dataset.classes
    images = dataset.images
    if isinstance(images, FileImages):
        digests = stat_cache.digests(images.paths)
        for key, label, (size, digest) in zip(dataset.keys, dataset.labels, digests, strict=True):
            h.update(_line([key, names[int(label)], f"file:{size}:{digest}"]))
    elif isinstance(images, ArrayImages):
        arr = images.array
        shape = "x".join(str(s) for s in arr.shape[1:])
        for key, label, row in zip(dataset.keys, dataset.labels, images.index, strict=True):
            digest = hashlib.sha256(np.ascontiguousarray(arr[int(row)]).tobytes()).hexdigest()
            h.update(_line([key, names[int(label)], f"array:{shape}:{digest}"]))
    else:  # pragma: no cover - ImageSource is a closed union
        raise TypeError(f"unknown image source {type(images).__name__}")
    return h.hexdigest()


#: One file or folder in a :func:`stat_signature`: (path, device, inode, size, mtime_ns, ctime_ns).
StatRow = tuple[str, int, int, int, int, int]


def stat_signature(
    dataset: Dataset, *, as_of_ns: int | None = None, racy_window_ns: int = RACY_WINDOW_NS
) -> tuple[StatRow, ...] | None:
    """What a re-listing and re-fingerprinting of ``dataset`` would see, in stats alone.

    The stats of ``dataset.location``, of every folder under it (hidden ones aside, as the readers skip
    them) and of every image file. Adding, removing or renaming an entry changes its folder's mtime;
    rewriting a file changes its size, mtime or ctime (which user space cannot set back); so while the
    signature stays equal, reading the dataset again would list the same samples with the same digests.
    A manifest or ``.npz`` is ``location`` itself. Costs one ``stat`` per file and a ``scandir`` per
    folder, no read.

    Args:
        as_of_ns: the time (``time.time_ns()``) the signature must vouch for, default now: a caller that
            read the dataset passes the time the read began, so a change during the read is not trusted.
        racy_window_ns: changes this close to ``as_of_ns`` are not trusted (see the module docstring).

    Returns:
        The signature, or None when it cannot vouch for the content: a path is gone, or something changed
        after ``as_of_ns - racy_window_ns``.
    """
    rows: list[StatRow] = []
    newest = 0

    def add(path: str, st: os.stat_result) -> None:
        nonlocal newest
        rows.append((path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)

    try:
        top = os.fspath(dataset.location)
        add(top, os.stat(top))
        if os.path.isdir(top):
            stack = [top]
            while stack:
                with os.scandir(stack.pop()) as it:
                    for entry in it:
                        if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                            add(entry.path, entry.stat(follow_symlinks=False))
                            stack.append(entry.path)
        if isinstance(dataset.images, FileImages):
            for path in dataset.images.paths:
                name = os.fspath(path)
                add(name, os.stat(name))
    except OSError:
        return None
    if newest > (time.time_ns() if as_of_ns is None else as_of_ns) - racy_window_ns:
        return None
    return tuple(rows)
