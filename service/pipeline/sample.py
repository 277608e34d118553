"""The sample stage: resolve a dataset reference under the allowed roots, fingerprint it, draw the sample."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from estimators.errors import ZoorankError
from service.errors import DatasetChangedError, TooFewClassesError
from service.settings import LimitExceededError, Settings

if TYPE_CHECKING:
    from zoo.datasets import Dataset
from typing import TYPE_CHECKING

from zoo.atomic import write_text_atomic
from zoo.datasets import SamplingSpec, fingerprint, open_dataset, subsample
from zoo.datasets.fingerprints import RACY_WINDOW_NS, StatRow, stat_signature
from zoo.datasets.readers import DEFAULT_MAX_CLASSES, DEFAULT_MAX_FILES
from zoo.datasets.refs import AllowedRoots, resolve_reference
from zoo.datasets.remote import RemoteOptions, open_remote_dataset, resolve_remote
from zoo.errors import TooManyCorruptImagesError, UnreadableImageError

if TYPE_CHECKING:
    from zoo.datasets import Dataset, SamplingSpec


@dataclass(frozen=True)
class DecodeFailure:
    """One image that failed to decode: its key in the dataset and why."""

    key: str
    code: str
    reason: str


def find_corrupt(ds: Dataset, *, examples: int = 10) -> tuple[int, list[DecodeFailure]]:
    """Decode every image of ``ds`` (under its pixel limit and format allow-list) and count failures.

    Returns:
        (number of images that failed to decode, the first ``examples`` of them).
    """

    count = 0
    listed: list[DecodeFailure] = []
    for i, key in enumerate(ds.keys):
        try:
            ds.load_image(i)
        except UnreadableImageError as exc:
            count += 1
            if len(listed) < examples:
                listed.append(DecodeFailure(key, exc.code, exc.message))
    return count, listed


def allowed_roots(settings: Settings, base: Path | None) -> AllowedRoots:
    """The roots a reference may resolve under: the named roots and ``uploads``, plus ``base`` when given.

    The CLI passes its working directory as ``base``: its user may rank what is under it (they already
    have that access), and ``name:path`` resolves through the named roots whatever that directory is.
    The API passes None and is bounded by the configured roots alone.
    """
    roots = AllowedRoots.of(dict(settings.dataset_roots))
    return roots if base is None else roots.with_unnamed(Path(base).absolute())


@dataclass(frozen=True)
class SampleSummary:
    """What a job stores about its sample (JSON-ready); enough to rebuild it and to fill ``dataset``.

    Attributes:
        reference: the reference as given.
        fingerprint: content fingerprint of the whole dataset.
        reader: the reader that read it.
        classes: (K,) class names in label order.
        available: images in the dataset before sampling.
        sampling: the effective ``SamplingSpec.to_dict()`` (after the per-job image cap).
        num_sampled: images in the sample.
        class_counts: class name -> images in the sample.
    """

    reference: str
    fingerprint: str
    reader: str
    classes: tuple[str, ...]
    available: int
    sampling: Mapping[str, Any]
    num_sampled: int
    class_counts: Mapping[str, int]

    def spec(self) -> SamplingSpec:
        """The effective sampling spec."""

        return SamplingSpec(
            max_per_class=self.sampling["max_per_class"],
            max_samples=self.sampling["max_samples"],
            seed=int(self.sampling["seed"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "reference": self.reference,
            "fingerprint": self.fingerprint,
            "reader": self.reader,
            "classes": list(self.classes),
            "available": self.available,
            "sampling": dict(self.sampling),
            "num_sampled": self.num_sampled,
            "class_counts": dict(self.class_counts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SampleSummary:
        """Inverse of :meth:`to_dict`."""
        return cls(
            reference=str(data["reference"]),
            fingerprint=str(data["fingerprint"]),
            reader=str(data["reader"]),
            classes=tuple(str(c) for c in data["classes"]),
            available=int(data["available"]),
            sampling=dict(data["sampling"]),
            num_sampled=int(data["num_sampled"]),
            class_counts={str(k): int(v) for k, v in data["class_counts"].items()},
        )


@dataclass(frozen=True)
class Sample:
    """The dataset and its sample. ``data`` is what every model sees; ``digest`` the content fingerprint.

    ``part`` is None for a whole sample; for a part of one (a budget round's new images,
    ``service.pipeline.budget``) it identifies which part ``data`` holds, and is part of its features'
    store key.
    """

    full: Dataset
    digest: str
    spec: SamplingSpec
    data: Dataset
    reference: str
    part: Mapping[str, Any] | None = None

    def summary(self) -> SampleSummary:
        """The JSON-ready record of this sample."""
        return SampleSummary(
            reference=self.reference,
            fingerprint=self.digest,
            reader=self.full.format,
            classes=tuple(self.full.classes),
            available=len(self.full),
            sampling=self.spec.to_dict(),
            num_sampled=len(self.data),
            class_counts=self.data.class_counts(),
        )


def remote_options(settings: Settings) -> RemoteOptions:
    """The limits and cache of object-storage datasets (``ZOORANK_REMOTE_*``)."""
    return RemoteOptions(
        cache_dir=settings.home / "remote",
        max_files=settings.remote_max_files,
        max_bytes=settings.remote_max_bytes,
        threads=settings.remote_threads,
        timeout_s=settings.remote_timeout_s,
        cache_bytes=settings.remote_cache_bytes,
    )


def open_target(dataset_ref: str, settings: Settings, *, base: Path | None) -> tuple[Dataset, str]:
    """Resolve ``dataset_ref`` under :func:`allowed_roots`, read it, and fingerprint its content.

    A reference under an object-storage root (``lake:path``) is listed, mirrored locally and read from
    the mirror; its fingerprint is that of the listing (:mod:`zoo.datasets.remote`).

    Raises:
        PathNotAllowedError, DatasetNotFoundError, DatasetFormatError.
        StorageError, LimitExceededError: a remote dataset cannot be fetched, or is over a limit.
    """
    remote = resolve_remote(dataset_ref, settings.remote_roots)
    if remote is not None:
        return open_remote_dataset(
            remote,
            remote_options(settings),
            max_files=DEFAULT_MAX_FILES,
            max_image_pixels=settings.max_image_pixels,
            max_classes=max(settings.max_classes, DEFAULT_MAX_CLASSES),
        )
    ds = open_dataset(
        dataset_ref,
        allowed_roots(settings, base),
        base=base,
        max_image_pixels=settings.max_image_pixels,
        # the reader's own cap bounds the listing; ZOORANK_MAX_CLASSES is checked by :func:`sample`
        max_classes=max(settings.max_classes, DEFAULT_MAX_CLASSES),
    )
    return ds, fingerprint(ds, settings.home / "cache")


class SampleMemo:
    """Samples this process drew recently, each with its dataset's
    :func:`~zoo.datasets.fingerprints.stat_signature`; a hit is re-checked against the stats before use.

    An identical request (the API answers most of them from the ranking cache) then costs a ``stat`` per
    file instead of a listing, a fingerprint lookup and a sampling pass; a dataset whose files, folders or
    reference changed misses and is read again. Remote datasets (object storage) are never memoized.
    Bounded by the files its samples' datasets hold together (each costs about half a kilobyte: its path,
    key and stats), least recently used first out; a dataset larger than the bound is not remembered,
    ``max_files`` 0 keeps nothing. One memo serves one :class:`Settings` (the job engine owns one).
    Thread-safe (the API's worker threads share it).
    """

    def __init__(self, max_files: int, *, racy_window_ns: int = RACY_WINDOW_NS) -> None:
        """``racy_window_ns``: a dataset changed this shortly before it was read is not remembered."""
        self.max_files = max_files
        self.racy_window_ns = racy_window_ns
        self._items: OrderedDict[tuple[str, str | None, str], tuple[Sample, tuple[StatRow, ...]]] = (
            OrderedDict()
        )
        self._files = 0  # rows of every signature held
        self._lock = threading.Lock()
        self.hits = 0  # answers served from the memo (observable, for tests and logs)

    @staticmethod
    def key(dataset_ref: str, spec: SamplingSpec, base: Path | None) -> tuple[str, str | None, str]:
        """What names one sample: the reference, the base it resolves against and the requested spec."""
        return dataset_ref, None if base is None else str(base), json.dumps(spec.to_dict(), sort_keys=True)

    def get(self, key: tuple[str, str | None, str], settings: Settings, base: Path | None) -> Sample | None:
        """The memoized sample of ``key`` if its reference still resolves to the same place and its
        dataset's stats are unchanged; None otherwise (and the stale entry is dropped)."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
        if item is None:
            return None
        smp, signature = item
        try:
            resolved = resolve_reference(key[0], allowed_roots(settings, base), base=base, must_exist=True)
        except (ZoorankError, OSError, RuntimeError):  # read it again: that reports the error properly
            resolved = None
        current = stat_signature(smp.full, racy_window_ns=self.racy_window_ns)
        if resolved is None or resolved.path != smp.full.location or current != signature:
            with self._lock:
                if self._items.get(key) is item:
                    self._drop(key)
            return None
        with self._lock:
            self.hits += 1
        return smp

    def put(self, key: tuple[str, str | None, str], smp: Sample, signature: tuple[StatRow, ...]) -> None:
        """Remember ``smp`` under ``key`` with its dataset's signature as of the start of its read."""
        if len(signature) > self.max_files:
            return
        with self._lock:
            if key in self._items:
                self._drop(key)
            self._items[key] = (smp, signature)
            self._files += len(signature)
            while self._files > self.max_files:
                self._drop(next(iter(self._items)))

    def _drop(self, key: tuple[str, str | None, str]) -> None:
        _, signature = self._items.pop(key)
        self._files -= len(signature)


def sample(
    dataset_ref: str,
    spec: SamplingSpec,
    settings: Settings,
    *,
    base: Path | None,
    memo: SampleMemo | None = None,
) -> Sample:
    """Read, fingerprint and sample the dataset; apply the per-job image cap only when it bites.

    The sample's images are decoded once (:func:`check_decodes`), so a dataset over the corrupt-image
    limit is refused here, before a job is queued, by every front end alike. With a ``memo``, a sample
    drawn before with the same arguments is reused while its dataset's stats are unchanged
    (:class:`SampleMemo`); the answer is the same either way.

    Raises:
        PathNotAllowedError, DatasetNotFoundError, DatasetFormatError: the dataset cannot be used.
        TooFewClassesError: the sample has fewer than two classes.
        LimitExceededError: more classes than ``settings.max_classes``.
        TooManyCorruptImagesError: more of the sampled images fail to decode than
            ``settings.corrupt_image_threshold`` allows.
    """

    key = SampleMemo.key(dataset_ref, spec, base)
    remote = resolve_remote(dataset_ref, settings.remote_roots) is not None
    if memo is not None and not remote:
        hit = memo.get(key, settings, base)
        if hit is not None:
            return hit
    began_ns = time.time_ns()
    full, digest = open_target(dataset_ref, settings, base=base)
    if full.num_classes > settings.max_classes:
        raise LimitExceededError(
            f"the dataset has {full.num_classes} classes; the limit is {settings.max_classes} "
            "(ZOORANK_MAX_CLASSES)",
            param="dataset",
        )
    data = subsample(full, spec)
    if len(data) > settings.max_images_per_job:
        # Cap only when needed, so that the limit's value is not part of every feature-store key.
        spec = replace(spec, max_samples=settings.max_images_per_job)
        data = subsample(full, spec)
    present = sum(1 for n in data.class_counts().values() if n > 0)
    if present < 2:
        raise TooFewClassesError(
            f"the sample of {dataset_ref!r} has {present} class(es) with images; ranking needs at least 2",
            param="dataset",
        )
    check_decodes(data, digest, spec, settings)
    smp = Sample(full=full, digest=digest, spec=spec, data=data, reference=dataset_ref)
    if memo is not None and not remote:
        # stats taken after the read, vouching for the time it began: a dataset that changed while it
        # was read (or just before) leaves nothing to remember
        signature = stat_signature(full, as_of_ns=began_ns, racy_window_ns=memo.racy_window_ns)
        if signature is not None:
            memo.put(key, smp, signature)
    return smp


def check_decodes(data: Dataset, digest: str, spec: SamplingSpec, settings: Settings) -> None:
    """Refuse a sample with more undecodable images than ``settings.corrupt_image_threshold`` allows.

    Decodes every sampled image once per (dataset content, sampling): the count is kept in the home
    cache under the fingerprint and the spec, so a repeated request (a feature-store hit) decodes
    nothing. The same rule as the extraction's (``zoo.features.check_corrupt``): more than
    ``threshold * len(data)`` failures.

    Raises:
        TooManyCorruptImagesError: with the count, the size of the sample and up to five examples.
    """
    key = hashlib.sha256(json.dumps([digest, spec.to_dict()], sort_keys=True).encode()).hexdigest()
    memo = settings.home / "cache" / "decode" / f"{key}.json"
    try:
        found = json.loads(memo.read_text(encoding="utf-8"))
        corrupt, examples = int(found["corrupt"]), [str(e) for e in found["examples"]]
    except (OSError, ValueError, KeyError, TypeError):
        count, listed = find_corrupt(data, examples=5)
        corrupt, examples = count, [f"{f.key}: {f.reason}" for f in listed]
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(memo, json.dumps({"corrupt": corrupt, "examples": examples}))
        except OSError:
            pass  # an unwritable cache costs a decode pass next time, never the request
    total = len(data)
    if total and corrupt > settings.corrupt_image_threshold * total + 1e-9:
        raise TooManyCorruptImagesError(
            f"{corrupt} of {total} sampled images could not be decoded, more than the corrupt-image "
            f"threshold {settings.corrupt_image_threshold:g} allows (e.g. {'; '.join(examples)})",
            param="dataset",
            corrupt=corrupt,
            total=total,
        )


def resample(summary: SampleSummary, settings: Settings) -> Sample:
    """Rebuild a job's sample in a worker from its summary (API references: no ``base``).

    Raises:
        DatasetError: the dataset cannot be read any more, or its content changed since the job was
            submitted (code ``dataset-changed``).
    """

    full, digest = open_target(summary.reference, settings, base=None)
    if digest != summary.fingerprint:
        raise DatasetChangedError(
            f"the content of {summary.reference!r} changed since the job was submitted; submit it again",
            param="dataset",
        )
    spec = summary.spec()
    return Sample(
        full=full, digest=digest, spec=spec, data=subsample(full, spec), reference=summary.reference
    )
