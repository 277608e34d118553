"""The data-root folder browser stays inside the roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import Settings
from service.ui.browse import list_folder
from zoo.errors import DatasetNotFoundError, PathNotAllowedError


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Settings, Path, Path]:
    data, outside = tmp_path / "data", tmp_path / "outside"
    (data / "shapes" / "circle").mkdir(parents=True)
    (data / "shapes" / "circle" / "0.png").write_bytes(b"")
    (data / "manifest.csv").write_text("path,label\n")
    (data / "notes.txt").write_text("")
    (data / ".hidden").mkdir()
    outside.mkdir()
    (data / "escape").symlink_to(outside)
    settings = Settings.from_env({}, home=tmp_path / "home", data_roots={"data": data})
    return settings, data, outside


def test_lists_folders_then_dataset_files_and_hides_the_rest(roots: tuple[Settings, Path, Path]) -> None:
    settings, _, _ = roots
    listing = list_folder(settings, "data")
    assert [(e.name, e.is_dir) for e in listing.entries] == [("shapes", True), ("manifest.csv", False)]
    assert listing.parent is None and listing.reference == "data:"


def test_subfolder_knows_its_parent_and_counts_images(roots: tuple[Settings, Path, Path]) -> None:
    settings, _, _ = roots
    listing = list_folder(settings, "data", "shapes/circle")
    assert listing.parent == "shapes" and listing.images == 1 and listing.entries == ()


@pytest.mark.parametrize("path", ["../outside", "..", "escape", "shapes/../../outside", "escape/x"])
def test_escapes_are_refused(roots: tuple[Settings, Path, Path], path: str) -> None:
    settings, _, _ = roots
    with pytest.raises(PathNotAllowedError):
        list_folder(settings, "data", path)


def test_unknown_root_and_missing_folder(roots: tuple[Settings, Path, Path]) -> None:
    settings, _, _ = roots
    with pytest.raises(PathNotAllowedError):
        list_folder(settings, "nope")
    with pytest.raises(DatasetNotFoundError):
        list_folder(settings, "data", "missing")


def test_long_folders_are_truncated(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for i in range(12 + 5):
        (data / f"d{i:04d}").mkdir(parents=True)
    settings = Settings.from_env(
        {}, home=tmp_path / "home", data_roots={"data": data}, ui_browse_max_entries=12
    )
    listing = list_folder(settings, "data")
    assert len(listing.entries) == 12 and listing.truncated == 5
