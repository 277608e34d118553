"""Browse the folders of a named data root, for the dataset picker of the "New ranking" page.

The folder asked for is resolved with the service's own reference rules
(:func:`zoo.datasets.refs.resolve_reference` on ``root:relative/path``): ``..``, absolute paths, symlinks
out of the root and the like are refused with the same typed :class:`~zoo.errors.PathNotAllowedError` the
API gives. Entries whose target (after symlinks) lies outside every allowed root are not listed. Only
directories and files a dataset reader accepts (manifests and ``.npz``) are shown; hidden entries are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from service.settings import Settings
from zoo.datasets.refs import AllowedRoots, resolve_reference
from zoo.errors import DatasetNotFoundError, PathNotAllowedError

__all__ = ["DATASET_SUFFIXES", "Entry", "Listing", "list_folder"]

#: Files that are datasets by themselves (manifest or array file), besides ImageFolder directories.
DATASET_SUFFIXES = (".csv", ".parquet", ".npz")


@dataclass(frozen=True)
class Entry:
    """One listed child: its name, its path relative to the root, and whether it is a folder."""

    name: str
    relative: str
    is_dir: bool


@dataclass(frozen=True)
class Listing:
    """A folder's children.

    Attributes:
        root: the root name.
        relative: the folder, relative to the root ("" for the root itself).
        parent: the parent folder relative to the root, or None at the root.
        entries: folders first, then dataset files, each sorted by name, at most
            ``settings.ui_browse_max_entries`` (a folder of 100,000 images is not a 100,000-line page).
        truncated: entries left out beyond the cap.
        images: image files directly in this folder (a class folder of an ImageFolder has many).
    """

    root: str
    relative: str
    parent: str | None
    entries: tuple[Entry, ...]
    truncated: int
    images: int

    @property
    def reference(self) -> str:
        """The dataset reference of this folder (``root:relative``)."""
        return f"{self.root}:{self.relative}"


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def _clean(relative: str) -> str:
    parts = [p for p in PurePosixPath(relative.strip()).parts if p not in ("", ".", "/")]
    return "/".join(parts)


def list_folder(settings: Settings, root: str, relative: str = "") -> Listing:
    """The children of ``root:relative``.

    Raises:
        PathNotAllowedError: unknown root name, or the path escapes the root.
        DatasetNotFoundError: the folder does not exist.
    """
    roots = settings.dataset_roots
    if root not in roots:
        raise PathNotAllowedError(
            f"unknown data root {root!r}; configured roots: {', '.join(sorted(roots)) or 'none'}",
            param="root",
        )
    rel = _clean(relative)
    if rel:
        resolved = resolve_reference(f"{root}:{rel}", roots, base=None).path
    else:
        resolved = Path(roots[root]).resolve()
        if not resolved.is_dir():
            raise DatasetNotFoundError(f"data root {root!r} does not exist on this server", param="root")
    if not resolved.is_dir():
        raise PathNotAllowedError(f"{root}:{rel} is not a folder", param="path")
    allowed = AllowedRoots.of(roots)
    dirs: list[Entry] = []
    files: list[Entry] = []
    images = 0
    for child in resolved.iterdir():
        if child.name.startswith("."):
            continue
        try:
            target = child.resolve()
            is_dir = target.is_dir()
        except (OSError, RuntimeError):  # broken link or loop: not listable
            continue
        if allowed.containing(target) is None:
            continue
        name = child.name
        child_rel = f"{rel}/{name}" if rel else name
        if is_dir:
            dirs.append(Entry(name, child_rel, True))
        elif name.lower().endswith(DATASET_SUFFIXES):
            files.append(Entry(name, child_rel, False))
        elif name.lower().endswith(_IMAGE_SUFFIXES):
            images += 1
    ordered = sorted(dirs, key=lambda e: e.name) + sorted(files, key=lambda e: e.name)
    parent = None if not rel else "/".join(rel.split("/")[:-1])
    return Listing(
        root=root,
        relative=rel,
        parent=parent,
        entries=tuple(ordered[: settings.ui_browse_max_entries]),
        truncated=max(0, len(ordered) - settings.ui_browse_max_entries),
        images=images,
    )
