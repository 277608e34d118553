"""Atomic writes: the destination holds the old content or the new one, and no temporary file is left."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoo.atomic import atomic_path, write_text_atomic


def test_write_replaces_the_content_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.json"]


def test_a_failed_write_keeps_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.json"]


def test_the_temporary_keeps_the_suffix_numpy_needs(tmp_path: Path) -> None:
    """``np.savez`` appends ``.npz`` to a name without it: the rename would then miss the file."""
    target = tmp_path / "arrays.npz"
    with atomic_path(target) as tmp:
        np.savez_compressed(tmp, x=np.arange(3))
    with np.load(target) as data:
        assert data["x"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arrays.npz"]
