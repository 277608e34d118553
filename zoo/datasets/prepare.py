"""Write bundled offline datasets to disk as ImageFolders: ``python -m zoo.datasets.prepare NAME DEST``.

``animal-mnist``: the PyPI package ``animal-mnist==0.4`` (MIT; installed ``--no-deps`` by ``zoo.assets``,
because its own loader imports tensorflow) ships 10,000 28x28 uint8 animal silhouettes, 1,000 per class,
as two gzip-compressed pickles of numpy arrays. This writes them as ``DEST/<class>/<index>.png``.

* The label order (0 bear, 1 bird, 2 cat, 3 cow, 4 dog, 5 elephant, 6 giraffe, 7 horse, 8 sheep,
  9 zebra) matches the package description's alphabetical list and was checked by eye on a contact sheet
  of ten images per label (bears, perched birds, sitting cats, ..., striped zebras): all ten rows match.
* The files are verified against pinned SHA-256 digests, then unpickled with an allow-list that admits
  only numpy's array reconstructor, ``ndarray`` and ``dtype``: a tampered file cannot run code.
* The folder is built under a temporary name and renamed into place, so ``DEST`` is either complete or
  absent; re-running on a complete ``DEST`` is a no-op.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import io
import os
import pickle
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from zoo.errors import DatasetError, DatasetFormatError, DatasetNotFoundError

__all__ = ["ANIMAL_MNIST_CLASSES", "PREPARERS", "load_animal_mnist", "main", "prepare", "write_imagefolder"]

ANIMAL_MNIST_CLASSES: tuple[str, ...] = (
    "bear",
    "bird",
    "cat",
    "cow",
    "dog",
    "elephant",
    "giraffe",
    "horse",
    "sheep",
    "zebra",
)
_ANIMAL_FILES = {
    "data": ("animal_data_version_3.gz", "68a30346781a0984f839463a4615d2decb899d1ce65091bb92586311754a34ce"),
    "labels": (
        "animal_label_version_3.gz",
        "dec8dba7c469830989fbab46825021a08a38470753a512f27ada847eced97b57",
    ),
}
#: Largest decompressed pickle accepted (the real data file is 7.8 MB).
_MAX_PICKLE_BYTES = 64 * 1024 * 1024
_COMPLETE = ".complete"


# numpy's array reconstructor, taken from the public pickle protocol rather than a private import
# (it moved from numpy.core to numpy._core in numpy 2; pickles name either).
_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild plain numpy arrays (no other global is importable)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data pickle") from None


def _load_array_pickle(path: Path, sha256: str | None) -> np.ndarray:
    raw = path.read_bytes()
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        raise DatasetFormatError(f"{path.name} does not match its pinned SHA-256 digest", param="source")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
            data = gz.read(_MAX_PICKLE_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise DatasetFormatError(f"{path.name} is not a valid gzip file: {exc}", param="source") from None
    if len(data) > _MAX_PICKLE_BYTES:
        raise DatasetFormatError(f"{path.name} decompresses to more than {_MAX_PICKLE_BYTES} bytes")
    try:
        obj = _ArrayUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DatasetFormatError(f"{path.name} is not a pickled numpy array: {exc}", param="source") from None
    if not isinstance(obj, np.ndarray) or obj.dtype.hasobject:
        raise DatasetFormatError(f"{path.name} does not hold a numeric numpy array", param="source")
    return obj


def animal_mnist_dir() -> Path:
    """The installed package's data folder (found without importing the package).

    Raises:
        DatasetNotFoundError: ``animal-mnist`` is not installed (run ``make assets``).
    """
    spec = importlib.util.find_spec("animal_mnist")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotFoundError(
            "the animal-mnist package is not installed; run `make assets` "
            "(pip install --no-deps animal-mnist==0.4)",
            param="source",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "Animal_MNIST"


def load_animal_mnist(source: Path | None = None, *, verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Animal-MNIST as arrays.

    Args:
        source: folder holding ``animal_{data,label}_version_3.gz`` (default: the installed package's).
        verify: check the pinned SHA-256 digests (turned off only for synthetic test fixtures).

    Returns:
        images (N, 28, 28) uint8 and labels (N,) int64 in ``[0, 10)`` indexing :data:`ANIMAL_MNIST_CLASSES`.

    Raises:
        DatasetNotFoundError: the files are missing.
        DatasetFormatError: a digest or the array layout is wrong.
    """
    folder = source if source is not None else animal_mnist_dir()
    arrays = {}
    for part, (name, digest) in _ANIMAL_FILES.items():
        path = folder / name
        if not path.is_file():
            raise DatasetNotFoundError(f"{path} does not exist", param="source")
        arrays[part] = _load_array_pickle(path, digest if verify else None)
    images, labels = arrays["data"], arrays["labels"]
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DatasetFormatError(
            f"Animal-MNIST images must be (N, H, W) uint8, got {images.shape} {images.dtype}", param="source"
        )
    if labels.shape != (images.shape[0],) or labels.dtype.kind not in "iu":
        raise DatasetFormatError(
            f"Animal-MNIST labels must be ({images.shape[0]},) ints, got {labels.shape}", param="source"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(ANIMAL_MNIST_CLASSES)):
        raise DatasetFormatError("Animal-MNIST labels must lie in [0, 10)")
    return images, labels.astype(np.int64)


def write_imagefolder(
    dest: Path,
    images: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    *,
    per_class: int | None = None,
    force: bool = False,
) -> Path:
    """Write ``images`` as ``dest/<class>/<index:05d>.png``, atomically (temp folder + rename).

    Args:
        dest: the ImageFolder to create.
        images: (N, H, W) or (N, H, W, 3) uint8.
        labels: (N,) ints indexing ``classes``.
        classes: class (folder) names.
        per_class: keep only the first ``per_class`` images of each class (None: all).
        force: replace an existing ``dest``.

    Returns:
        ``dest``. When it already holds a complete folder (and not ``force``) nothing is written.

    Raises:
        DatasetError: ``dest`` exists but is not a folder this function completed (refuses to overwrite).
    """
    dest = Path(dest)
    if dest.exists() and not force:
        if (dest / _COMPLETE).is_file():
            return dest
        raise DatasetError(
            f"{dest} exists and was not written by prepare; pass --force to replace it", param="dest"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name in classes:
            (tmp / name).mkdir()
        seen = np.zeros(len(classes), dtype=np.int64)
        for i, (img, label) in enumerate(zip(images, labels, strict=True)):
            k = int(label)
            if per_class is not None and seen[k] >= per_class:
                continue
            seen[k] += 1
            Image.fromarray(img).save(tmp / classes[k] / f"{i:05d}.png", optimize=False)
        (tmp / _COMPLETE).write_text(f"{int(seen.sum())} images\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


@dataclass(frozen=True)
class Preparer:
    """One preparable dataset: what it is and how to write it."""

    summary: str
    run: Callable[[Path, argparse.Namespace], Path]


def _prepare_animal_mnist(dest: Path, args: argparse.Namespace) -> Path:
    images, labels = load_animal_mnist(args.source, verify=not args.no_verify)
    return write_imagefolder(
        dest, images, labels, ANIMAL_MNIST_CLASSES, per_class=args.per_class, force=args.force
    )


PREPARERS: dict[str, Preparer] = {
    "animal-mnist": Preparer(
        "Animal-MNIST: 10 x 1000 28x28 grey silhouettes (PyPI animal-mnist 0.4, MIT)", _prepare_animal_mnist
    ),
}


def prepare(name: str, dest: str | os.PathLike[str], **options: Any) -> Path:
    """Programmatic form of the command line (options as the long flags, e.g. ``per_class=50``)."""
    defaults = {"source": None, "no_verify": False, "per_class": None, "force": False}
    args = argparse.Namespace(**{**defaults, **options})
    try:
        preparer = PREPARERS[name]
    except KeyError:
        valid = ", ".join(sorted(PREPARERS))
        raise DatasetNotFoundError(f"unknown dataset {name!r}; valid: {valid}", param="name") from None
    return preparer.run(Path(dest), args)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m zoo.datasets.prepare", description="Write a bundled dataset as an ImageFolder."
    )
    parser.add_argument("name", choices=sorted(PREPARERS), help="dataset to write")
    parser.add_argument("dest", type=Path, help="ImageFolder to create")
    parser.add_argument("--per-class", type=int, default=None, help="keep the first N images of each class")
    parser.add_argument(
        "--source", type=Path, default=None, help="folder with the raw files (default: the package)"
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the pinned-digest check (test fixtures)"
    )
    parser.add_argument("--force", action="store_true", help="replace DEST if it exists")
    args = parser.parse_args(argv)
    if args.per_class is not None and args.per_class < 1:
        parser.error("--per-class must be >= 1")
    try:
        dest = PREPARERS[args.name].run(args.dest, args)
    except DatasetError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 1
    sys.stdout.write(f"{args.name}: {dest}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
