"""The in-memory description of a labelled target dataset, independent of the format it was read from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.datasets.images import DEFAULT_FORMATS, DEFAULT_MAX_PIXELS, decode_image, image_from_array

__all__ = ["ArrayImages", "Dataset", "FileImages", "ImageSource"]


@dataclass(frozen=True, eq=False)
class FileImages:
    """Images stored as files; ``paths[i]`` is the resolved absolute path of sample ``i``."""

    paths: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, i: int, *, max_pixels: int, formats: Sequence[str]) -> Image.Image:
        """Decode sample ``i`` (see :func:`~zoo.datasets.images.decode_image`)."""
        return decode_image(self.paths[i], max_pixels=max_pixels, formats=formats)

    def take(self, indices: np.ndarray) -> FileImages:
        """The samples at ``indices``, in that order."""
        return FileImages(tuple(self.paths[int(i)] for i in indices))


@dataclass(frozen=True, eq=False)
class ArrayImages:
    """Images held in one uint8 array, ``array[index[i]]`` being sample ``i``.

    Attributes:
        array: (M, H, W) grey or (M, H, W, C) with C in {1, 3, 4}, uint8.
        index: (N,) int64 rows of ``array`` in sample order (a subset shares the array, no copy).
    """

    array: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def load(self, i: int, *, max_pixels: int, formats: Sequence[str]) -> Image.Image:
        """Sample ``i`` as a PIL image (``formats`` does not apply to arrays)."""
        return image_from_array(self.array[int(self.index[i])], max_pixels=max_pixels)

    def take(self, indices: np.ndarray) -> ArrayImages:
        """The samples at ``indices``, in that order."""
        return ArrayImages(self.array, self.index[np.asarray(indices, dtype=np.int64)])


ImageSource = FileImages | ArrayImages


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled image dataset with a stable sample order.

    Samples are sorted by ``keys`` (code-point order) whatever the on-disk listing order, so the same
    content always yields the same order, the same fingerprint and the same feature rows.

    Attributes:
        ref: the reference it was opened from (provenance only).
        format: reader name (``imagefolder``, ``manifest``, ``npz``).
        location: resolved dataset folder, manifest or npz file.
        classes: (K,) class names; label ``k`` means ``classes[k]``. Sorted (numerically when every name
            is an integer, as in ``0 .. 9``).
        keys: (N,) unique sample keys: the path relative to the dataset folder (or manifest folder), or
            the zero-padded row index for arrays.
        labels: (N,) int64 in ``[0, K)``.
        images: where the pixels come from.
    """

    ref: str
    format: str
    location: Path
    classes: tuple[str, ...]
    keys: tuple[str, ...]
    labels: np.ndarray
    images: ImageSource
    max_pixels: int = field(default=DEFAULT_MAX_PIXELS, repr=False)
    formats: tuple[str, ...] = field(default=DEFAULT_FORMATS, repr=False)

    def __post_init__(self) -> None:
        n = len(self.keys)
        if len(self.labels) != n or len(self.images) != n:
            raise ValueError(
                f"dataset parts disagree: {n} keys, {len(self.labels)} labels, {len(self.images)} images"
            )

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def num_classes(self) -> int:
        """K, the number of classes (including classes that a subset may no longer contain)."""
        return len(self.classes)

    def class_counts(self) -> dict[str, int]:
        """Samples per class name, in class order."""
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return {name: int(c) for name, c in zip(self.classes, counts, strict=True)}

    def load_image(self, i: int) -> Image.Image:
        """Decode sample ``i`` under this dataset's pixel limit and format allow-list.

        Raises:
            UnreadableImageError: the image is corrupt (``ImageLimitError``: over the pixel limit).
        """
        return self.images.load(i, max_pixels=self.max_pixels, formats=self.formats)

    def subset(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        """The samples at ``indices`` (any order in, dataset order out); classes are kept as they are."""
        idx = np.unique(np.asarray(indices, dtype=np.int64))
        if idx.size and (idx[0] < 0 or idx[-1] >= len(self)):
            raise IndexError(f"subset indices must lie in [0, {len(self)})")
        return Dataset(
            ref=self.ref,
            format=self.format,
            location=self.location,
            classes=self.classes,
            keys=tuple(self.keys[int(i)] for i in idx),
            labels=self.labels[idx].copy(),
            images=self.images.take(idx),
            max_pixels=self.max_pixels,
            formats=self.formats,
        )
