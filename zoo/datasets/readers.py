"""Dataset readers (a registry that refuses duplicates) and :func:`open_dataset`, the one entry point.

Built-in readers:

* ``imagefolder``: ``<dir>/<class name>/**/<image>``, torchvision's layout. Class folders are the direct
  sub-directories (hidden ones skipped); images are found recursively by extension; symlinked folders
  are not followed and symlinked files must resolve inside the allowed roots.
* ``manifest``: a ``.csv`` (header ``path,label``) or ``.parquet`` (columns ``path`` and ``label``) file.
  Paths are relative to the manifest's folder and must resolve inside the allowed roots.
* ``npz``: ``images`` (uint8, (N, H, W) or (N, H, W, C) with C in {1, 3, 4}), ``labels`` ((N,) ints) and
  optionally ``classes`` ((K,) strings, ``labels`` indexing it). Read member by member from the zip
  with the array size checked from the ``.npy`` header *before* anything is decompressed (zip bombs),
  and never with pickle.

Every reader returns a :class:`~zoo.datasets.Dataset` sorted by sample key.
"""

from __future__ import annotations

import csv
import os
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

import numpy as np

from estimators._registry import Registry
from zoo.datasets._dataset import ArrayImages, Dataset, FileImages
from zoo.datasets.images import DEFAULT_FORMATS, DEFAULT_MAX_PIXELS, extensions_for
from zoo.datasets.refs import AllowedRoots, ResolvedRef, RootsLike, check_relative_member, resolve_reference
from zoo.errors import DatasetFormatError, PathNotAllowedError, UnknownDatasetReaderError

__all__ = [
    "DEFAULT_MAX_ARRAY_BYTES",
    "DEFAULT_MAX_CLASSES",
    "DEFAULT_MAX_FILES",
    "DEFAULT_MAX_MANIFEST_BYTES",
    "READERS",
    "DatasetReader",
    "ReadOptions",
    "detect_reader",
    "open_dataset",
    "register_reader",
]

#: Most samples a dataset may list (a listing limit, applied before sampling; not the per-job image cap).
DEFAULT_MAX_FILES = 1_000_000
#: Most classes a dataset may have.
DEFAULT_MAX_CLASSES = 10_000
#: Largest manifest file read, in bytes.
DEFAULT_MAX_MANIFEST_BYTES = 256 * 1024 * 1024
#: Largest decompressed array in an ``.npz``, in bytes.
DEFAULT_MAX_ARRAY_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class ReadOptions:
    """Limits every reader applies; the service passes its settings here.

    Attributes:
        roots: the allowed roots (manifest entries and symlinked files must stay inside them).
        max_files: most samples listed.
        max_classes: most classes.
        max_manifest_bytes: largest manifest file.
        max_array_bytes: largest array inside an ``.npz``.
        max_image_pixels: pixel limit applied when images are decoded later.
        formats: Pillow formats decoded (and, for image folders, the extensions listed).
    """

    roots: AllowedRoots
    max_files: int = DEFAULT_MAX_FILES
    max_classes: int = DEFAULT_MAX_CLASSES
    max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    max_array_bytes: int = DEFAULT_MAX_ARRAY_BYTES
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    formats: tuple[str, ...] = DEFAULT_FORMATS


class DatasetReader(Protocol):
    """A dataset format: ``detect`` says whether a resolved path looks like it, ``read`` opens it."""

    def detect(self, path: Path) -> bool:
        """Whether ``path`` (resolved, existing) is in this format."""

    def read(self, ref: ResolvedRef, options: ReadOptions) -> Dataset:
        """Open the dataset at ``ref.path``.

        Raises:
            DatasetFormatError: the layout or contents are invalid or over a limit.
            PathNotAllowedError: an entry escapes the allowed roots.
        """


READERS: Registry[DatasetReader] = Registry("dataset reader", UnknownDatasetReaderError)


def register_reader(name: str) -> Callable[[type[DatasetReader]], type[DatasetReader]]:
    """Class decorator: instantiate the reader class and register it under ``name`` (duplicates raise)."""

    def decorate(cls: type[DatasetReader]) -> type[DatasetReader]:
        READERS.add(name, cls())
        return cls

    return decorate


def _format_error(message: str, param: str = "ref") -> DatasetFormatError:
    return DatasetFormatError(message, param=param)


_INT = re.compile(r"^[+-]?\d+$")


def _class_order(names: set[str]) -> tuple[str, ...]:
    """Sorted class names; numerically when all are integers ("2" before "10")."""
    if names and all(_INT.match(n) for n in names):
        return tuple(sorted(names, key=lambda n: (int(n), n)))
    return tuple(sorted(names))


def _build(
    ref: ResolvedRef,
    fmt: str,
    options: ReadOptions,
    samples: list[tuple[str, str, Path]],
) -> Dataset:
    """Sort ``(key, class name, path)`` samples by key and assemble the dataset."""
    if not samples:
        raise _format_error(f"dataset {ref.ref!r} contains no images")
    samples.sort(key=lambda s: s[0])
    for a, b in zip(samples, samples[1:], strict=False):
        if a[0] == b[0]:
            raise _format_error(f"dataset {ref.ref!r} lists {a[0]!r} more than once")
    classes = _class_order({s[1] for s in samples})
    _check_classes(len(classes), options)
    index = {name: i for i, name in enumerate(classes)}
    return Dataset(
        ref=ref.ref,
        format=fmt,
        location=ref.path,
        classes=classes,
        keys=tuple(s[0] for s in samples),
        labels=np.array([index[s[1]] for s in samples], dtype=np.int64),
        images=FileImages(tuple(s[2] for s in samples)),
        max_pixels=options.max_image_pixels,
        formats=options.formats,
    )


def _check_classes(k: int, options: ReadOptions) -> None:
    if k > options.max_classes:
        raise _format_error(f"dataset has {k} classes; the limit is {options.max_classes}", "max_classes")


def _check_count(n: int, options: ReadOptions) -> None:
    if n > options.max_files:
        raise _format_error(f"dataset lists more than {options.max_files} images", "max_files")


@register_reader("imagefolder")
class ImageFolderReader:
    """``<root>/<class>/**/<image>``; see the module docstring."""

    def detect(self, path: Path) -> bool:
        """A directory."""
        return path.is_dir()

    def read(self, ref: ResolvedRef, options: ReadOptions) -> Dataset:
        """List the class folders and their images (no image is opened here)."""
        if not ref.path.is_dir():
            raise _format_error(f"{ref.ref!r} is not a directory")
        exts = extensions_for(options.formats)
        samples: list[tuple[str, str, Path]] = []
        with os.scandir(ref.path) as it:
            class_dirs = sorted(
                (e for e in it if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")),
                key=lambda e: e.name,
            )
        if not class_dirs:
            raise _format_error(f"{ref.ref!r} has no class folders (expected <dir>/<class>/<image>)")
        _check_classes(len(class_dirs), options)
        for entry in class_dirs:
            before = len(samples)
            self._walk(Path(entry.path), entry.name, ref.path, exts, options, samples)
            if len(samples) == before:
                kinds = "/".join(options.formats)
                raise _format_error(f"class folder {entry.name!r} contains no {kinds} images")
        return _build(ref, "imagefolder", options, samples)

    @staticmethod
    def _walk(
        folder: Path,
        label: str,
        top: Path,
        exts: frozenset[str],
        options: ReadOptions,
        out: list[tuple[str, str, Path]],
    ) -> None:
        stack = [folder]
        while stack:
            current = stack.pop()
            with os.scandir(current) as it:
                for e in it:
                    if e.name.startswith("."):
                        continue
                    if e.is_dir(follow_symlinks=False):
                        stack.append(Path(e.path))
                        continue
                    if os.path.splitext(e.name)[1].lower() not in exts:
                        continue
                    path = Path(e.path)
                    if e.is_symlink():
                        path = _resolve_link(path, top)
                        options.roots.require_inside(path, what=f"symlink {e.name!r}")
                        if not path.is_file():
                            continue
                    elif not e.is_file(follow_symlinks=False):
                        continue
                    out.append((PurePosixPath(*Path(e.path).relative_to(top).parts).as_posix(), label, path))
                    _check_count(len(out), options)


def _resolve_link(path: Path, top: Path) -> Path:
    """The target of a symlinked image; a link loop refuses the dataset (naming the link).

    Raises:
        DatasetFormatError: the link is part of a loop (Python 3.11 raises ``RuntimeError`` for it,
            later versions ``OSError`` with ``ELOOP``).
    """
    try:
        return path.resolve(strict=False)
    except (RuntimeError, OSError):
        rel = PurePosixPath(*path.relative_to(top).parts).as_posix()
        raise _format_error(f"symlink {rel!r} is a symlink loop; remove it or point it at an image") from None


def _normalise_member(raw: str) -> str:
    """The manifest path as a key: POSIX-normalised (``a/./b`` -> ``a/b``, ``x/../y`` -> ``y``)."""
    return os.path.normpath(raw).replace(os.sep, "/") if raw else raw


@register_reader("manifest")
class ManifestReader:
    """CSV or Parquet ``(path, label)`` manifest; see the module docstring."""

    def detect(self, path: Path) -> bool:
        """A ``.csv`` or ``.parquet`` file."""
        return path.is_file() and path.suffix.lower() in (".csv", ".parquet")

    def read(self, ref: ResolvedRef, options: ReadOptions) -> Dataset:
        """Parse the rows and resolve every path inside the roots (images are not opened here)."""
        path = ref.path
        if not path.is_file():
            raise _format_error(f"{ref.ref!r} is not a manifest file")
        size = path.stat().st_size
        if size > options.max_manifest_bytes:
            raise _format_error(
                f"manifest is {size} bytes; the limit is {options.max_manifest_bytes}", "max_manifest_bytes"
            )
        rows = self._rows_parquet(path) if path.suffix.lower() == ".parquet" else self._rows_csv(path)
        _check_count(len(rows), options)
        samples: list[tuple[str, str, Path]] = []
        for line, (member, label) in enumerate(rows, start=2):
            if not member or not label:
                raise _format_error(f"manifest row {line}: empty path or label")
            resolved = check_relative_member(member, path.parent, options.roots, what=f"manifest row {line}")
            samples.append((_normalise_member(member), label, resolved))
        return _build(ref, "manifest", options, samples)

    @staticmethod
    def _rows_csv(path: Path) -> list[tuple[str, str]]:
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f)
                header = [h.strip().lower() for h in next(reader, [])]
                if "path" not in header or "label" not in header:
                    raise _format_error("CSV manifest needs a header with 'path' and 'label' columns")
                ip, il = header.index("path"), header.index("label")
                rows = []
                for n, row in enumerate(reader, start=2):
                    if not row:
                        continue
                    if len(row) != len(header):
                        raise _format_error(
                            f"manifest row {n} has {len(row)} fields, the header has {len(header)}"
                        )
                    rows.append((row[ip].strip(), row[il].strip()))
                return rows
        except (UnicodeDecodeError, csv.Error) as exc:
            raise _format_error(f"manifest is not valid UTF-8 CSV: {exc}") from None

    @staticmethod
    def _rows_parquet(path: Path) -> list[tuple[str, str]]:
        import pyarrow as pa  # heavy: only Parquet manifests need pyarrow
        import pyarrow.parquet as pq  # heavy: as above

        try:
            table = pq.read_table(path, columns=["path", "label"])
        except (pa.ArrowException, OSError, KeyError) as exc:
            raise _format_error(
                f"Parquet manifest unreadable or missing 'path'/'label' columns: {exc}"
            ) from None
        paths = table.column("path").to_pylist()
        labels = table.column("label").to_pylist()
        if not all(isinstance(p, str) for p in paths):
            raise _format_error("Parquet manifest column 'path' must hold strings")
        if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in labels):
            raise _format_error("Parquet manifest column 'label' must hold strings or integers")
        return [(p.strip(), str(v).strip()) for p, v in zip(paths, labels, strict=True)]


def _read_npy_member(zf: zipfile.ZipFile, name: str, max_bytes: int) -> np.ndarray:
    """Read one ``.npy`` member without pickle, checking its size from the header before decompressing."""
    try:
        with zf.open(name) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise _format_error(f"npz member {name!r}: unsupported .npy version {version}")
            if dtype.hasobject:
                raise _format_error(f"npz member {name!r} holds Python objects (pickle is never loaded)")
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            nbytes = count * dtype.itemsize
            if nbytes > max_bytes:
                raise _format_error(
                    f"npz member {name!r} is {nbytes} bytes decompressed; the limit is {max_bytes}",
                    "max_array_bytes",
                )
            data = f.read(nbytes)  # decompresses at most nbytes, whatever the zip headers claim
            if len(data) != nbytes:
                raise _format_error(f"npz member {name!r} is truncated")
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise _format_error(f"npz member {name!r} unreadable: {exc}") from None
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return arr.reshape(shape, order="F" if fortran else "C")


@register_reader("npz")
class NpzReader:
    """``.npz`` with ``images``, ``labels`` and optional ``classes``; see the module docstring."""

    def detect(self, path: Path) -> bool:
        """A ``.npz`` file."""
        return path.is_file() and path.suffix.lower() == ".npz"

    def read(self, ref: ResolvedRef, options: ReadOptions) -> Dataset:
        """Load and validate the arrays (the images stay in memory: they are small by construction)."""
        try:
            zf = zipfile.ZipFile(ref.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise _format_error(f"{ref.ref!r} is not a valid .npz file: {exc}") from None
        with zf:
            members = set(zf.namelist())
            for required in ("images.npy", "labels.npy"):
                if required not in members:
                    raise _format_error(f"npz needs arrays 'images' and 'labels'; found {sorted(members)}")
            images = _read_npy_member(zf, "images.npy", options.max_array_bytes)
            labels = _read_npy_member(zf, "labels.npy", options.max_array_bytes)
            classes_arr = None
            if "classes.npy" in members:
                classes_arr = _read_npy_member(zf, "classes.npy", options.max_array_bytes)
        if images.dtype != np.uint8:
            raise _format_error(f"npz 'images' must be uint8, got {images.dtype}")
        if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3, 4)):
            raise _format_error(
                f"npz 'images' must be (N, H, W) or (N, H, W, C) with C in 1/3/4; got {images.shape}"
            )
        n = images.shape[0]
        if n == 0:
            raise _format_error(f"dataset {ref.ref!r} contains no images")
        _check_count(n, options)
        if labels.shape != (n,) or labels.dtype.kind not in "iu":
            raise _format_error(f"npz 'labels' must be ({n},) integers; got {labels.shape} {labels.dtype}")
        if classes_arr is not None:
            if classes_arr.ndim != 1 or classes_arr.dtype.kind != "U":
                raise _format_error("npz 'classes' must be a 1-D array of strings")
            names = tuple(str(c) for c in classes_arr)
            if len(set(names)) != len(names):
                raise _format_error("npz 'classes' has duplicate names")
            if labels.min() < 0 or labels.max() >= len(names):
                raise _format_error(f"npz 'labels' must index 'classes' (0 .. {len(names) - 1})")
            classes = names
            codes = labels.astype(np.int64)
        else:
            uniq = np.unique(labels)
            classes = tuple(str(int(u)) for u in uniq)
            codes = np.searchsorted(uniq, labels).astype(np.int64)
        _check_classes(len(classes), options)
        width = len(str(n - 1))
        return Dataset(
            ref=ref.ref,
            format="npz",
            location=ref.path,
            classes=classes,
            keys=tuple(f"{i:0{width}d}" for i in range(n)),
            labels=codes,
            images=ArrayImages(images, np.arange(n, dtype=np.int64)),
            max_pixels=options.max_image_pixels,
            formats=options.formats,
        )


def detect_reader(path: Path) -> str:
    """Name of the first registered reader whose ``detect`` accepts ``path``.

    Raises:
        DatasetFormatError: no reader recognises it.
    """
    for name in READERS.names():
        if READERS.get(name).detect(path):
            return name
    raise _format_error(
        f"cannot tell the dataset format of {path.name!r}: expected a folder, .csv, .parquet or .npz"
    )


def open_dataset(
    ref: str,
    roots: RootsLike,
    *,
    base: str | os.PathLike[str] | None = None,
    reader: str | None = None,
    max_files: int = DEFAULT_MAX_FILES,
    max_classes: int = DEFAULT_MAX_CLASSES,
    max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES,
    max_array_bytes: int = DEFAULT_MAX_ARRAY_BYTES,
    max_image_pixels: int = DEFAULT_MAX_PIXELS,
    formats: Sequence[str] = DEFAULT_FORMATS,
) -> Dataset:
    """Resolve a dataset reference under the allowed roots and read it.

    Args:
        ref: dataset reference (see :func:`~zoo.datasets.refs.resolve_reference`).
        roots: allowed roots (``Settings.data_roots``, a name -> directory mapping, or ``AllowedRoots``).
        base: directory bare relative references resolve against (the CLI's working directory).
        reader: reader name; None detects it from the path (folder, ``.csv``/``.parquet``, ``.npz``).
        max_files, max_classes, max_manifest_bytes, max_array_bytes: listing limits (see ``ReadOptions``).
        max_image_pixels: pixel limit applied when images are decoded (``Settings.max_image_pixels``).
        formats: Pillow formats that may be decoded.

    Returns:
        The dataset, samples sorted by key.

    Raises:
        PathNotAllowedError: the reference (or a manifest entry or symlink) escapes the allowed roots.
        DatasetNotFoundError: nothing exists at the reference.
        DatasetFormatError: the contents are invalid or over a limit.
        UnknownDatasetReaderError: ``reader`` is not registered (the message lists the valid names).
    """
    allowed = AllowedRoots.of(roots)
    try:
        resolved = resolve_reference(ref, allowed, base=base, must_exist=True)
    except RuntimeError as exc:  # Python 3.11's pathlib reports a symlink loop this way
        raise _format_error(f"dataset {ref!r} cannot be resolved: {exc}") from None
    name = reader if reader is not None else detect_reader(resolved.path)
    impl = READERS.get(name)
    options = ReadOptions(
        roots=allowed,
        max_files=max_files,
        max_classes=max_classes,
        max_manifest_bytes=max_manifest_bytes,
        max_array_bytes=max_array_bytes,
        max_image_pixels=max_image_pixels,
        formats=tuple(f.upper() for f in formats),
    )
    try:
        return impl.read(resolved, options)
    except PermissionError:
        raise _format_error(f"dataset {ref!r} is not readable (permission denied)") from None
    except (PathNotAllowedError, DatasetFormatError):
        raise
    except OSError as exc:
        raise _format_error(f"dataset {ref!r} could not be read: {exc.strerror or exc}") from None
    except RuntimeError as exc:  # a symlink loop met by pathlib below the reader (Python 3.11)
        raise _format_error(f"dataset {ref!r} could not be read: {exc}") from None
