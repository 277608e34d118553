"""Target datasets: safe references, readers, fingerprints, stratified sampling and image decoding.

Typical use (the CLI and the worker do exactly this)::

    ds = open_dataset(ref, settings.data_roots, base=Path.cwd(), max_image_pixels=settings.max_image_pixels)
    digest = fingerprint(ds, settings.home / "cache")        # full dataset; re-checks cost only stats
    spec = SamplingSpec(max_per_class=100, max_samples=settings.max_images_per_job, seed=settings.seed)
    sample = subsample(ds, spec)
"""

from zoo.datasets._dataset import ArrayImages, Dataset, FileImages, ImageSource
from zoo.datasets.fingerprints import StatCache, fingerprint
from zoo.datasets.images import DEFAULT_FORMATS, DEFAULT_MAX_PIXELS, convert_channels, decode_image
from zoo.datasets.readers import READERS, DatasetReader, ReadOptions, open_dataset, register_reader
from zoo.datasets.refs import AllowedRoots, ResolvedRef, resolve_reference
from zoo.datasets.sampling import SamplingSpec, stratified_indices, subsample

__all__ = [
    "DEFAULT_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "READERS",
    "AllowedRoots",
    "ArrayImages",
    "Dataset",
    "DatasetReader",
    "FileImages",
    "ImageSource",
    "ReadOptions",
    "ResolvedRef",
    "SamplingSpec",
    "StatCache",
    "convert_channels",
    "decode_image",
    "fingerprint",
    "open_dataset",
    "register_reader",
    "resolve_reference",
    "stratified_indices",
    "subsample",
]
