"""Decode one image safely: allowed formats only, a pixel limit checked on the header, warnings as errors.

Target datasets are user data, so every image is treated as hostile:

* ``Image.open(fp, formats=...)`` only tries the allowed decoders (no FITS, no EPS, no surprises);
* the pixel count is read from the header and compared with ``max_pixels`` *before* ``load()``, so a
  PNG whose IHDR claims 60000 x 60000 is refused without allocating 3.6 GB;
* Pillow's own ``DecompressionBombWarning`` is turned into an error;
* any exception from a decoder becomes :class:`UnreadableImageError` with a short reason, so the caller
  can count the image and carry on (a dataset fails only above its corrupt-image threshold).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from zoo.errors import ImageLimitError, UnreadableImageError

__all__ = [
    "DEFAULT_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "FORMAT_EXTENSIONS",
    "convert_channels",
    "decode_image",
    "extensions_for",
]

#: Largest image decoded, width x height (40 MP). Matches the ``max_image_pixels`` setting's role; a
#: 40 MP RGB image is 120 MB decoded, well below Pillow's own 179 MP bomb error.
DEFAULT_MAX_PIXELS = 40_000_000
#: Pillow decoders tried by default: the formats datasets actually use, nothing exotic.
DEFAULT_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP")
#: File name extensions (lower case) per Pillow format, for listing image folders.
FORMAT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "PNG": (".png",),
    "WEBP": (".webp",),
    "BMP": (".bmp",),
    "GIF": (".gif",),
    "TIFF": (".tif", ".tiff"),
}


def extensions_for(formats: Sequence[str]) -> frozenset[str]:
    """Lower-case file extensions of the given Pillow formats (unknown formats contribute none)."""
    return frozenset(ext for f in formats for ext in FORMAT_EXTENSIONS.get(f.upper(), ()))


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageLimitError(
            f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}",
            param="max_image_pixels",
        )


def decode_image(
    path: str | Path,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: Sequence[str] = DEFAULT_FORMATS,
) -> Image.Image:
    """Open and fully decode one image file.

    Args:
        path: the image file (already checked to be inside an allowed root).
        max_pixels: refuse images with more than this many pixels (header check, before decoding).
        formats: Pillow format names that may decode the file.

    Returns:
        The decoded image, in whatever mode the file has (see :func:`convert_channels`).

    Raises:
        ImageLimitError: the header announces more than ``max_pixels`` pixels.
        UnreadableImageError: the file is missing, truncated, corrupt or not in an allowed format.
    """
    try:
        with warnings.catch_warnings():
            # Pillow's advice-style UserWarnings (e.g. palette transparency in bytes) are noise on a
            # user's terminal and would break `--quiet`; the bomb warning is an error instead.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # We own the file object, so Pillow leaves the decoded image intact when it is closed
            # (``Image.close`` would destroy the pixel data); ``load`` reads everything it needs.
            with open(path, "rb") as fp:
                img = Image.open(fp, formats=list(formats))
                _check_pixels(img.width, img.height, max_pixels)
                img.load()
                return img
    except ImageLimitError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageLimitError(f"decompression bomb: {exc}", param="max_image_pixels") from None
    except Image.DecompressionBombWarning as exc:
        raise ImageLimitError(f"decompression bomb: {exc}", param="max_image_pixels") from None
    except UnidentifiedImageError:
        raise UnreadableImageError(f"not a {'/'.join(formats)} image", param="path") from None
    except MemoryError:
        raise ImageLimitError("image does not fit in memory", param="max_image_pixels") from None
    # Pillow's decoders raise a zoo of types on corrupt input (OSError, SyntaxError, ValueError,
    # struct.error, IndexError, EOFError, ...): each one means "this file is unreadable", never a bug here.
    except Exception as exc:
        raise UnreadableImageError(f"{type(exc).__name__}: {exc}", param="path") from None


def image_from_array(array: np.ndarray, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Wrap one uint8 image array, (H, W) or (H, W, C) with C in {1, 3, 4}, as a PIL image.

    Raises:
        ImageLimitError: more than ``max_pixels`` pixels.
        UnreadableImageError: wrong dtype or shape, or no pixels at all (a zero height or width).
    """
    if array.dtype != np.uint8:
        raise UnreadableImageError(f"image array must be uint8, got {array.dtype}", param="images")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise UnreadableImageError(f"image array has shape {array.shape}", param="images")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise UnreadableImageError(f"image array is empty (shape {array.shape})", param="images")
    _check_pixels(array.shape[1], array.shape[0], max_pixels)
    return Image.fromarray(np.ascontiguousarray(array))


def convert_channels(img: Image.Image, channels: int) -> Image.Image:
    """Convert any decoded image to 8-bit grey (``channels=1``, mode ``L``) or RGB (``channels=3``).

    Grey images are replicated to three channels for RGB models; colour images become luma
    (ITU-R 601-2, Pillow's ``L`` conversion) for grey models. Alpha is dropped, as torchvision's
    ImageFolder does. 16-bit and 32-bit integer modes are scaled to 8 bits (``>> 8``) instead of clipped.
    """
    target = "L" if channels == 1 else "RGB"
    if img.mode == target:
        return img
    if img.mode.startswith("I;16") or img.mode == "I":
        arr = np.asarray(img).astype(np.int64)
        img = Image.fromarray((np.clip(arr, 0, 65535) >> 8).astype(np.uint8))
    elif img.mode == "F":
        img = Image.fromarray(np.clip(np.asarray(img), 0, 255).astype(np.uint8))
    with warnings.catch_warnings():  # "palette images with transparency ..." advice: alpha is dropped anyway
        warnings.simplefilter("ignore", UserWarning)
        return img.convert(target)
