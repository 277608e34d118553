"""Feature extraction: images -> penultimate features (N, D) and source-head probabilities (N, C_s).

The model is any ``nn.Module`` with the zoo's feature contract (``zoo.models.load_model`` builds one)::

    features, logits = model(x)   # x (B, C, S, S) float; features (B, D); logits (B, C_s) or None

Pipeline, and why each step is where it is:

* **Decoding and geometry in DataLoader workers** (``num_workers`` processes; 0 decodes inline): each
  worker decodes one image under the pixel limit, converts its channels first (grey -> RGB by
  replication, RGB -> grey by luma, as the entry's ``Preprocessing.channels`` demands), resizes/crops
  with Pillow and writes it into the batch's one **uint8 HWC** array; images that fail are dropped there,
  so the main process receives a ready batch of decoded images and does no per-image work. uint8 is 4x
  less inter-process and host-to-device traffic than float, and a stack of HWC images *is* an NCHW batch
  in ``channels_last`` layout after a free permute. The first batch is decoded in the calling process
  while the workers start, which hides their start-up.
* **One host-to-device copy per batch**, from pinned memory when a model is on CUDA (the loader pins
  the batch in a background thread, so the copy is asynchronous).
* **Normalisation on the model's device**, batched: ``(x / 255 - mean) / std`` as one fused
  multiply-add per element, on the GPU when there is one.
* **Several models, one decode**: :func:`extract_features_many` feeds every batch to all models that
  share a preprocessing config (copied and normalised once per device), so a ranking of ten 32 px
  models decodes each image once instead of ten times. Each model's numbers are exactly those of
  :func:`extract_features` (same batches, same arithmetic), so no store key changes.
* **Forward** under ``torch.inference_mode`` with the model and input in ``channels_last`` (faster
  convolutions on CPU/oneDNN and tensor cores), in **bf16 autocast on CUDA only** (CPU bf16 is slower on
  most hosts and changes numbers for nothing).
* **Probabilities** are ``softmax(logits)`` computed in float64 and stored as float32, so every row sums
  to 1 within float32 rounding (the scorers' gate checks 1 +- 1e-6).
* **Corrupt images** (unreadable, truncated, over the pixel limit, wrong format) are skipped, counted and
  reported with their keys and reasons; the extraction fails with :class:`TooManyCorruptImagesError` as
  soon as their fraction exceeds ``corrupt_threshold`` (it can only grow), or when none decodes.

Rows keep the dataset's stable order (corrupt samples removed), so ``features[i]`` belongs to ``keys[i]``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from zoo._api import Preprocessing
from zoo.datasets._dataset import Dataset
from zoo.datasets.images import convert_channels
from zoo.errors import DatasetError, DatasetFormatError, ModelLoadError, TooManyCorruptImagesError, ZooError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CORRUPT_THRESHOLD",
    "DEFAULT_NUM_WORKERS",
    "EXTRACTOR_VERSION",
    "CorruptImage",
    "DeviceUnavailableError",
    "FeatureSet",
    "ImageTransform",
    "ProgressCallback",
    "check_corrupt",
    "check_device",
    "extract_features",
    "extract_features_many",
    "extractor_config",
]

#: Bumped whenever extraction can produce different numbers for the same inputs (part of store keys).
EXTRACTOR_VERSION = "1"
#: Images per forward pass (``Settings.batch_size``).
DEFAULT_BATCH_SIZE = 64
#: Decoding worker processes (``Settings.workers``); 0 decodes in the calling process.
DEFAULT_NUM_WORKERS = 0
#: Largest tolerated fraction of undecodable images (``Settings.corrupt_image_threshold``).
DEFAULT_CORRUPT_THRESHOLD = 0.01

#: ``progress(images_done, images_total)``, called once before the first batch and after every batch.
ProgressCallback = Callable[[int, int], None]

_RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}


class DeviceUnavailableError(ZooError):
    """The requested torch device does not exist on this machine (no CUDA, no MPS, no such index)."""

    code = "device-unavailable"


def check_device(device: str) -> str:
    """``device`` if this machine can run models on it, else a typed error that says what there is.

    Checked before any weights are loaded, so ``--device cuda`` on a machine without a GPU fails at once
    with one clear line instead of a torch traceback from deep inside model loading.

    Raises:
        DeviceUnavailableError: CUDA or MPS is not available, or the CUDA index is out of range.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise DeviceUnavailableError(f"unknown torch device {device!r}: {exc}", param="device") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceUnavailableError(
                f"device {device!r} requested, but this machine has no usable CUDA GPU "
                "(use --device cpu or ZOORANK_DEVICE=auto)",
                param="device",
            )
        if dev.index is not None and dev.index >= count:
            raise DeviceUnavailableError(
                f"device {device!r} requested, but this machine has {count} CUDA GPU(s) "
                f"(cuda:0 .. cuda:{count - 1})",
                param="device",
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceUnavailableError(
                f"device {device!r} requested, but Apple MPS is not available on this machine "
                "(use --device cpu or ZOORANK_DEVICE=auto)",
                param="device",
            )
    elif dev.type != "cpu":
        raise DeviceUnavailableError(
            f"device {device!r} is not supported (cpu, cuda, cuda:N or mps)", param="device"
        )
    return device


@dataclass(frozen=True)
class CorruptImage:
    """One sample that could not be used, with the decoder's reason."""

    key: str
    reason: str


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """What one model saw on one (sampled) dataset.

    Attributes:
        features: (N, D) float32 penultimate features, row ``i`` for ``keys[i]``.
        labels: (N,) int64 target labels indexing ``classes``.
        keys: (N,) sample keys, in the dataset's stable order.
        classes: (K,) target class names.
        probs: (N, C_s) float32 source-head probabilities (rows sum to 1), or None for headless models.
        corrupt: samples skipped because they could not be decoded (not in the rows above).
        total: samples attempted, ``N + len(corrupt)``.
    """

    features: np.ndarray
    labels: np.ndarray
    keys: tuple[str, ...]
    classes: tuple[str, ...]
    probs: np.ndarray | None
    corrupt: tuple[CorruptImage, ...] = ()
    total: int = -1

    def __post_init__(self) -> None:
        n = len(self.keys)
        if self.features.ndim != 2 or self.features.shape[0] != n or self.labels.shape != (n,):
            raise ValueError(
                f"FeatureSet parts disagree: features {self.features.shape}, "
                f"labels {self.labels.shape}, {n} keys"
            )
        if self.probs is not None and (self.probs.ndim != 2 or self.probs.shape[0] != n):
            raise ValueError(f"FeatureSet probs must be ({n}, C_s), got {self.probs.shape}")
        if self.total == -1:
            object.__setattr__(self, "total", n + len(self.corrupt))
        if self.total != n + len(self.corrupt):
            raise ValueError(f"FeatureSet total {self.total} != {n} rows + {len(self.corrupt)} corrupt")

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def corrupt_fraction(self) -> float:
        """Fraction of attempted samples that could not be decoded."""
        return len(self.corrupt) / self.total if self.total else 0.0

    def check_corrupt(self, threshold: float = DEFAULT_CORRUPT_THRESHOLD) -> None:
        """Re-apply a corrupt-image threshold (e.g. to a stored result computed under another one).

        Raises:
            TooManyCorruptImagesError: more than ``threshold`` of the samples were undecodable.
        """
        check_corrupt(self.corrupt, self.total, threshold)


def check_corrupt(corrupt: Sequence[CorruptImage], total: int, threshold: float) -> None:
    """Raise when ``len(corrupt) / total`` exceeds ``threshold`` (at the threshold passes).

    Raises:
        TooManyCorruptImagesError: with the count, the total and up to five example keys and reasons.
    """
    if len(corrupt) > threshold * total + 1e-9:
        examples = "; ".join(f"{c.key}: {c.reason}" for c in corrupt[:5])
        raise TooManyCorruptImagesError(
            f"{len(corrupt)} of {total} images could not be decoded, more than the corrupt-image "
            f"threshold {threshold:g} allows (e.g. {examples})",
            param="corrupt_image_threshold",
            corrupt=len(corrupt),
            total=total,
        )


class ImageTransform:
    """Decoded PIL image -> uint8 tensor (S, S, C) following an entry's :class:`Preprocessing`.

    Steps: channel conversion first (so resizing sees the model's colour space; a grey image for an RGB
    model is replicated after resizing instead, which gives identical pixels for a third of the work), then

    * ``crop="center"``: resize the shorter side to ``resize`` (or ``input_size``) as torchvision's
      ``Resize(int)`` does (longer side ``int(short * long / short_side)``), then centre-crop
      ``input_size`` (offsets rounded like torchvision's ``CenterCrop``);
    * ``crop="none"``: resize straight to ``input_size x input_size`` (``resize`` is ignored).

    Normalisation is *not* done here (see the module docstring). Picklable, so workers can use it.
    """

    def __init__(self, prep: Preprocessing) -> None:
        if prep.channels not in (1, 3):
            raise ValueError(f"Preprocessing.channels must be 1 or 3, got {prep.channels}")
        if len(prep.mean) != prep.channels or len(prep.std) != prep.channels:
            raise ValueError(f"Preprocessing mean/std need {prep.channels} values each")
        if any(s <= 0 for s in prep.std):
            raise ValueError("Preprocessing std values must be > 0")
        if prep.input_size < 1:
            raise ValueError("Preprocessing.input_size must be >= 1")
        if prep.crop == "center" and (prep.resize or prep.input_size) < prep.input_size:
            raise ValueError("Preprocessing.resize must be >= input_size for a centre crop")
        if prep.interpolation not in _RESAMPLE:
            raise ValueError(f"unknown interpolation {prep.interpolation!r}")
        self.channels = prep.channels
        self.size = prep.input_size
        self.short = prep.resize or prep.input_size
        self.crop = prep.crop
        self.resample = _RESAMPLE[prep.interpolation]

    def __call__(self, img: Image.Image) -> torch.Tensor:
        """The (S, S, C) uint8 tensor for ``img``."""
        return torch.from_numpy(self.array(img))

    def array(self, img: Image.Image) -> np.ndarray:
        """The (S, S, C) uint8 array for ``img`` (what :meth:`__call__` wraps)."""
        # A grey source for an RGB model is resized while still grey and replicated at the end: Pillow
        # resizes each band independently, so this is bit-identical and a third of the resizing work.
        grey_modes = ("1", "L", "I", "F", "I;16", "I;16L", "I;16B", "I;16N")
        grey_source = self.channels == 3 and img.mode in grey_modes
        img = convert_channels(img, 1 if grey_source else self.channels)
        s = self.size
        if self.crop == "center":
            w, h = img.size
            if w <= h:
                nw, nh = self.short, int(self.short * h / w)
            else:
                nw, nh = int(self.short * w / h), self.short
            if (nw, nh) != (w, h):
                img = img.resize((nw, nh), self.resample)
            left, top = int(round((nw - s) / 2.0)), int(round((nh - s) / 2.0))
            if (nw, nh) != (s, s):
                img = img.crop((left, top, left + s, top + s))
        elif img.size != (s, s):
            img = img.resize((s, s), self.resample)
        arr = np.array(img, dtype=np.uint8)  # a writable copy: (S, S) or (S, S, 3)
        if arr.ndim == 2:
            return np.repeat(arr[:, :, None], self.channels, axis=2)
        return arr


#: One decoded batch as a worker hands it over: ``(images, rows, failed)``.
#: ``images`` is (G, S, S, C) uint8 holding only the G images that decoded (a torch tensor when the
#: loader pins memory, else a numpy array), ``rows`` their G dataset indices, ``failed`` the
#: ``(index, reason)`` pairs of the samples that did not decode.
Batch = tuple[Any, list[int], list[tuple[int, str]]]


class _Decoded(TorchDataset[Batch]):
    """Worker-side view of a dataset, fetched a batch at a time.

    ``__getitems__`` (which the DataLoader prefers over per-item ``__getitem__``) decodes the images of
    one batch straight into a single (G, S, S, C) uint8 array of the images that decoded, so all
    per-image work (decode, channel conversion, resize/crop, collation and dropping failed images)
    happens in the worker and the main process receives one ready batch. Plain numpy and lists travel
    from a worker as one pickled message; a tensor would need a shared-memory file descriptor handed
    over a socket, which costs more than copying a batch of small images, so a tensor is returned only
    when ``as_tensor`` is set (the loader's pinning thread pins tensors only, for CUDA copies).
    """

    def __init__(self, dataset: Dataset, transform: ImageTransform, *, as_tensor: bool = False) -> None:
        self.dataset = dataset
        self.transform = transform
        self.as_tensor = as_tensor

    def __len__(self) -> int:
        return len(self.dataset)

    def _one(self, i: int) -> np.ndarray | str:
        try:
            img = self.dataset.load_image(i)
        except DatasetError as exc:  # UnreadableImageError / ImageLimitError from the decoder
            return exc.message or type(exc).__name__
        try:
            return self.transform.array(img)
        except (OSError, ValueError) as exc:  # e.g. a mode Pillow cannot convert
            return f"{type(exc).__name__}: {exc}"

    def __getitems__(self, indices: list[int]) -> Batch:
        t = self.transform
        out = np.empty((len(indices), t.size, t.size, t.channels), dtype=np.uint8)
        rows: list[int] = []
        failed: list[tuple[int, str]] = []
        for i in indices:
            got = self._one(i)
            if isinstance(got, str):
                failed.append((int(i), " ".join(got.split()) or "undecodable"))
            else:
                out[len(rows)] = got
                rows.append(int(i))
        images = out[: len(rows)]
        return (torch.from_numpy(images) if self.as_tensor else images), rows, failed

    def __getitem__(self, i: int) -> Batch:
        return self.__getitems__([i])


def _no_collate(batch: Any) -> Any:
    """``__getitems__`` already returns a collated batch."""
    return batch


def _batches(source: _Decoded, batches: list[list[int]], num_workers: int, pin: bool) -> Iterator[Batch]:
    """The decoded batches in order: the loader workers' output, with the first batch decoded here.

    Starting worker processes takes tens of milliseconds (fork, worker set-up, the first decode), time
    in which the model would sit idle. So the workers are started first and decode from the second
    batch on, while this process decodes the first batch itself and runs the model on it; by the time it
    asks for the second batch, the workers are running. The batches are the same either way.
    """
    if num_workers == 0 or len(batches) < 2:
        loader: DataLoader[Batch] = DataLoader(
            source, batch_sampler=batches, collate_fn=_no_collate, num_workers=0, pin_memory=pin
        )
        yield from loader
        return
    loader = DataLoader(
        source,
        batch_sampler=batches[1:],
        collate_fn=_no_collate,
        num_workers=num_workers,
        prefetch_factor=4,
        pin_memory=pin,
    )
    workers = iter(loader)  # forks the workers, which start prefetching at once
    images, idx, failed = source.__getitems__(batches[0])
    yield (images.pin_memory() if pin else images), idx, failed
    yield from workers


def _module_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def extractor_config(dataset: Dataset, device: str | torch.device, *, amp: bool = True) -> dict[str, Any]:
    """Everything about the extraction itself that can change the stored numbers (a store-key part).

    Includes the decode policy (pixel limit and formats decide which images are skipped) and the
    numeric precision (bf16 autocast on CUDA gives different features than float32 on CPU).
    """
    dev = torch.device(device)
    return {
        "version": EXTRACTOR_VERSION,
        "precision": "bf16-autocast" if (amp and dev.type == "cuda") else "float32",
        "max_image_pixels": dataset.max_pixels,
        "formats": list(dataset.formats),
    }


def _split_output(out: Any, batch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise ModelLoadError("feature model must return (features, logits or None)")
    feats, logits = out
    if not isinstance(feats, torch.Tensor) or feats.ndim != 2 or feats.shape[0] != batch:
        shape = tuple(feats.shape) if isinstance(feats, torch.Tensor) else type(feats).__name__
        raise ModelLoadError(f"feature model returned features of shape {shape}; expected ({batch}, D)")
    if logits is not None and (
        not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != batch
    ):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ModelLoadError(f"feature model returned logits of shape {shape}; expected ({batch}, C_s)")
    return feats, logits


def extract_features(
    model: nn.Module,
    dataset: Dataset,
    preprocessing: Preprocessing,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_workers: int = DEFAULT_NUM_WORKERS,
    corrupt_threshold: float = DEFAULT_CORRUPT_THRESHOLD,
    amp: bool = True,
    progress: ProgressCallback | None = None,
) -> FeatureSet:
    """Run ``model`` over every sample of ``dataset``.

    Args:
        model: feature model on its target device (``zoo.models.load_model(entry, device)``). It is put
            in eval mode and converted to ``channels_last`` in place.
        dataset: the (already sampled) target dataset.
        preprocessing: the entry's input pipeline (``entry.preprocessing``).
        batch_size: images per forward pass (``Settings.batch_size``), >= 1.
        num_workers: decoding processes (``Settings.workers``), >= 0; 0 decodes inline.
        corrupt_threshold: largest tolerated fraction of undecodable images, in [0, 1].
        amp: bf16 autocast when the model is on CUDA (ignored elsewhere).
        progress: ``progress(images_done, images_total)``; the CLI draws its bar and images/s from it.

    Returns:
        Features (N, D) float32, probs (N, C_s) float32 or None, labels, keys and the corrupt list.

    Raises:
        TooManyCorruptImagesError: the corrupt fraction exceeds ``corrupt_threshold``, or nothing decoded.
        ModelLoadError: the model breaks the (features, logits) contract or produces non-finite features.
        ValueError: a parameter is out of range.
    """
    return extract_features_many(
        [model],
        dataset,
        preprocessing,
        batch_size=batch_size,
        num_workers=num_workers,
        corrupt_threshold=corrupt_threshold,
        amp=amp,
        progress=progress,
    )[0]


class _Sink:
    """One model's output buffers, allocated at its first batch: features (N, D), probs (N, C_s)."""

    def __init__(self, index: int, total: int) -> None:
        self.index = index
        self.total = total
        self.features: np.ndarray | None = None
        self.probs: np.ndarray | None = None
        self.has_head = False

    def fail(self, message: str) -> ModelLoadError:
        return ModelLoadError(message, param="model", model_index=self.index)

    def put(self, rows: np.ndarray, feats: torch.Tensor, logits: torch.Tensor | None) -> None:
        if self.features is None:
            self.has_head = logits is not None
            self.features = np.empty((self.total, feats.shape[1]), dtype=np.float32)
            if logits is not None:
                self.probs = np.empty((self.total, logits.shape[1]), dtype=np.float32)
        if self.has_head != (logits is not None):
            raise self.fail("feature model returned logits for some batches only")
        if feats.shape[1] != self.features.shape[1] or (
            logits is not None and self.probs is not None and logits.shape[1] != self.probs.shape[1]
        ):
            raise self.fail("feature model changed its output width between batches")
        self.features[rows] = feats.float().cpu().numpy()
        if logits is not None and self.probs is not None:
            # float64 softmax so every row sums to 1 within float32 rounding (the scorers' gate).
            self.probs[rows] = torch.softmax(logits.double(), dim=1).float().cpu().numpy()


def extract_features_many(
    models: Sequence[nn.Module],
    dataset: Dataset,
    preprocessing: Preprocessing,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_workers: int = DEFAULT_NUM_WORKERS,
    corrupt_threshold: float = DEFAULT_CORRUPT_THRESHOLD,
    amp: bool = True,
    progress: ProgressCallback | None = None,
) -> list[FeatureSet]:
    """Run several models that share one preprocessing config over ``dataset``, decoding each image once.

    Every batch is decoded (in the loader workers), copied to each device that holds a model once and
    normalised there once, then fed to every model in turn. The result for each model is exactly what
    :func:`extract_features` would return for it alone: the same batches, the same arithmetic.

    Args:
        models: feature models (see :func:`extract_features`), possibly on different devices; each is
            put in eval mode and converted to ``channels_last`` in place.
        dataset, preprocessing, batch_size, num_workers, corrupt_threshold, amp, progress: as for
            :func:`extract_features` (``progress`` counts images, which all models see together).

    Returns:
        One :class:`FeatureSet` per model, in the order of ``models``.

    Raises:
        TooManyCorruptImagesError: the corrupt fraction exceeds ``corrupt_threshold``, or nothing decoded
            (a property of the dataset, so it concerns every model).
        ModelLoadError: a model breaks the (features, logits) contract or produces non-finite features;
            ``exc.context["model_index"]`` says which one (the others' results are discarded).
        ValueError: a parameter is out of range, or ``models`` is empty.
    """
    if not models:
        raise ValueError("extract_features_many needs at least one model")
    if batch_size < 1:
        raise ValueError(f"The 'batch_size' parameter must be >= 1. Got {batch_size!r} instead.")
    if num_workers < 0:
        raise ValueError(f"The 'num_workers' parameter must be >= 0. Got {num_workers!r} instead.")
    if not 0.0 <= corrupt_threshold <= 1.0:
        raise ValueError(
            f"The 'corrupt_threshold' parameter must be in [0, 1]. Got {corrupt_threshold!r} instead."
        )
    if len(dataset) == 0:
        raise DatasetFormatError("cannot extract features from an empty dataset", param="dataset")
    transform = ImageTransform(preprocessing)
    devices = [_module_device(m) for m in models]
    for m in models:
        m.eval()
        m.to(memory_format=torch.channels_last)
    total = len(dataset)
    pin = any(d.type == "cuda" for d in devices)
    source = _Decoded(dataset, transform, as_tensor=pin)
    batches = [list(range(i, min(i + batch_size, total))) for i in range(0, total, batch_size)]
    # (x / 255 - mean) / std  ==  x * scale + shift, with scale = 1 / (255 std), shift = -mean / std
    affine: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
    for dev in dict.fromkeys(devices):
        std = torch.tensor(preprocessing.std, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
        mean = torch.tensor(preprocessing.mean, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
        affine[dev] = (1.0 / (255.0 * std), -mean / std)
    autocasts = [amp and d.type == "cuda" for d in devices]
    sinks = [_Sink(k, total) for k in range(len(models))]
    ok = np.zeros(total, dtype=bool)
    corrupt: list[CorruptImage] = []
    done = 0
    if progress is not None:
        progress(0, total)
    with torch.inference_mode():
        for images, idx, failed in _batches(source, batches, num_workers, pin):
            corrupt.extend(CorruptImage(dataset.keys[i], reason) for i, reason in failed)
            check_corrupt(corrupt, total, corrupt_threshold)
            if idx:
                rows = np.asarray(idx, dtype=np.int64)
                host = torch.as_tensor(images)
                inputs: dict[torch.device, torch.Tensor] = {}
                for k, (model, dev) in enumerate(zip(models, devices, strict=True)):
                    if dev not in inputs:  # one host-to-device copy and one normalisation per device
                        scale, shift = affine[dev]
                        xb = host.to(dev, non_blocking=True).permute(0, 3, 1, 2)  # NHWC = channels_last
                        inputs[dev] = torch.addcmul(shift, xb.float(), scale).contiguous(
                            memory_format=torch.channels_last
                        )
                    ctx: contextlib.AbstractContextManager[Any] = (
                        torch.autocast(device_type="cuda", dtype=torch.bfloat16)
                        if autocasts[k]
                        else contextlib.nullcontext()
                    )
                    with ctx:
                        try:
                            feats, logits = _split_output(model(inputs[dev]), len(idx))
                        except ModelLoadError as exc:
                            raise sinks[k].fail(exc.message) from None
                    sinks[k].put(rows, feats, logits)
                ok[rows] = True
            done += len(idx) + len(failed)
            if progress is not None:
                progress(done, total)
    keep = np.flatnonzero(ok)
    if keep.size == 0:
        raise TooManyCorruptImagesError(
            f"none of the {total} images could be decoded", param="corrupt_image_threshold", total=total
        )
    labels = dataset.labels[keep].astype(np.int64)
    keys = tuple(dataset.keys[int(i)] for i in keep)
    out = []
    for sink in sinks:
        assert sink.features is not None  # every decoded batch went through every model
        features = np.ascontiguousarray(sink.features[keep])
        if not np.isfinite(features).all():  # checked once here, not with a device sync per batch
            raise sink.fail("feature model produced non-finite features")
        out.append(
            FeatureSet(
                features=features,
                labels=labels.copy(),
                keys=keys,
                classes=dataset.classes,
                probs=None if sink.probs is None else np.ascontiguousarray(sink.probs[keep]),
                corrupt=tuple(corrupt),
                total=total,
            )
        )
    return out
