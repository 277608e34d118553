"""Atomic file writes: a reader sees the old file or the new one, never a half-written one.

Write to a temporary file beside the destination (same directory, so the same file system), then rename it
over the destination (``os.replace`` is atomic on POSIX). The feature store adds ``fsync`` and a read-only
mode for its own durability promise (:mod:`zoo.store`); everything else writes through here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "write_text_atomic"]


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` when the block succeeds.

    The temporary name keeps ``path``'s suffix (``numpy.savez`` adds ``.npz`` to a name without it) and
    carries the process id, so concurrent writers never share one. On an exception it is removed and
    ``path`` is left as it was.
    """
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path``'s content with ``text`` (UTF-8) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
