"""Errors of the model zoo, the dataset readers and the feature store (all under ``ZoorankError``)."""

from __future__ import annotations

from estimators.errors import ZoorankError


class ZooError(ZoorankError):
    """A zoo entry could not be found, verified or loaded."""

    code = "zoo-error"


class UnknownModelError(ZooError, LookupError):
    """No zoo entry is registered under the requested id."""

    code = "unknown-model"

    def __str__(self) -> str:
        return self.message


class WeightsNotFoundError(ZooError):
    """The weights file is not present locally and cannot be downloaded (offline)."""

    code = "weights-not-found"


class WeightsIntegrityError(ZooError):
    """The weights file does not match its recorded SHA-256 digest (or its shapes do not fit)."""

    code = "weights-integrity"


class ModelLoadError(ZooError):
    """A verified weights file could not be turned into a working model."""

    code = "model-load-failed"


class ManifestError(ZooError):
    """A zoo manifest (``ZOORANK_ZOO_MANIFEST``) is not valid TOML or holds malformed entries.

    Attributes:
        problems: one line per bad entry, each naming the manifest's line.
    """

    code = "invalid-manifest"

    def __init__(self, message: str, *, problems: tuple[str, ...] = (), param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.problems = problems or (message,)


class DatasetError(ZoorankError):
    """A target dataset reference could not be resolved or read."""

    code = "dataset-error"


class PathNotAllowedError(DatasetError):
    """A dataset reference points outside the configured allowed roots."""

    code = "path-not-allowed"


class DatasetNotFoundError(DatasetError):
    """The referenced dataset does not exist."""

    code = "dataset-not-found"


class DatasetFormatError(DatasetError):
    """The dataset exists but its layout or contents are invalid."""

    code = "dataset-format"


class UnknownDatasetReaderError(DatasetError, LookupError):
    """No dataset reader is registered under that name."""

    code = "unknown-dataset-reader"

    def __str__(self) -> str:
        return self.message


class TooManyCorruptImagesError(DatasetError):
    """More images failed to decode than the configured threshold allows."""

    code = "too-many-corrupt-images"


class UnreadableImageError(DatasetError):
    """One image could not be decoded (corrupt, truncated or not an allowed format); it is counted."""

    code = "unreadable-image"


class ImageLimitError(UnreadableImageError):
    """One image exceeds the pixel limit (decompression-bomb guard); refused before decoding."""

    code = "image-limit"


class StorageError(DatasetError):
    """Object storage holding a dataset failed: unreachable, access denied, or over its time limit.

    The message names the reference and the data root, never the endpoint or a credential.
    """

    code = "storage-error"


class FeatureStoreError(ZoorankError):
    """The content-addressed feature store is unreadable or inconsistent."""

    code = "feature-store-error"
