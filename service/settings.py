"""Every limit and location zoorank uses, in one frozen object read from ``ZOORANK_*`` environment variables.

The CLI builds one :class:`Settings` per invocation (``Settings.from_env()``) and passes it down; the HTTP
service (a later issue) does the same per process, so a limit is defined, documented and validated exactly
once. Nothing in ``service`` reads the environment anywhere else.

Variables (all optional; defaults in parentheses):

* ``ZOORANK_HOME``: cache root for features and data (``~/.cache/zoorank``).
* ``ZOORANK_DATA_ROOTS``: allowed dataset roots, ``os.pathsep``-joined (working directory and
  ``$ZOORANK_HOME/data``).
* ``ZOORANK_FEATURE_STORE``: feature-store directory (``$ZOORANK_HOME/features``).
* ``ZOORANK_BATCH_SIZE``: images per forward pass (64).
* ``ZOORANK_WORKERS``: image-decoding worker processes, 0 decodes inline (0).
* ``ZOORANK_DEVICE``: ``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N`` (``auto``).
* ``ZOORANK_THREADS``: torch intra-op threads, 0 keeps torch's default (0).
* ``ZOORANK_MAX_IMAGES``: most sampled images one ranking job may extract (20000).
* ``ZOORANK_MAX_MODELS``: most models one ranking job may rank (32).
* ``ZOORANK_CORRUPT_THRESHOLD``: largest tolerated fraction of undecodable images (0.01).
* ``ZOORANK_MAX_IMAGE_PIXELS``: largest image, width x height, that is decoded (40000000).
* ``ZOORANK_SCORERS``: default scorers, comma-separated (:data:`DEFAULT_SCORERS`).
* ``ZOORANK_MAX_PER_CLASS``: default per-class sample cap, 0 = no cap (100).
* ``ZOORANK_SEED``: default sampling seed (0).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from estimators.errors import ZoorankError

T = TypeVar("T")

#: Scorers run when the caller names none: cheap, well-established per-model scorers that cover both the
#: feature-based (LogME, H-score, TransRate, SFDA) and the source-head-based (LEEP, NCE) families, plus PED
#: (uses a model's source profile when it has one).
DEFAULT_SCORERS: tuple[str, ...] = ("logme", "leep", "nce", "hscore_shrinkage", "transrate", "sfda", "ped")

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class SettingsError(ZoorankError):
    """A ``ZOORANK_*`` variable or a settings override has an invalid value."""

    code = "invalid-settings"


class LimitExceededError(ZoorankError):
    """A request asks for more than a configured limit allows (images or models per job)."""

    code = "limit-exceeded"


def default_home() -> Path:
    """``~/.cache/zoorank`` (``$XDG_CACHE_HOME/zoorank`` when that is set)."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "zoorank"


@dataclass(frozen=True)
class Settings:
    """Limits and locations of one zoorank process.

    Attributes:
        home: cache root; relative paths are resolved against the working directory at load time.
        data_roots: directories dataset references must resolve under (symlinks resolved first), so that a
            service can never be pointed at ``/etc``. The CLI allows the working directory by default.
        feature_store_dir: where extracted features are cached (content-addressed).
        batch_size: images per forward pass.
        workers: image-decoding worker processes (0 decodes in the calling process).
        device: ``auto`` picks CUDA when available, else CPU.
        torch_threads: torch intra-op threads; 0 leaves torch's default.
        max_images_per_job: most sampled images one ranking may extract (per model).
        max_models_per_job: most models one ranking may include.
        corrupt_image_threshold: largest tolerated fraction of images that fail to decode; above it the
            dataset is rejected instead of silently ranking on a different sample.
        max_image_pixels: images with more pixels are refused before decoding (decompression bombs).
        default_scorers: scorers used when a request names none.
        default_max_per_class: per-class sample cap used when a request gives none (None = no cap).
        seed: default seed of the stratified sampling.
    """

    home: Path = field(default_factory=default_home)
    data_roots: tuple[Path, ...] = ()
    feature_store_dir: Path | None = None
    batch_size: int = 64
    workers: int = 0
    device: str = "auto"
    torch_threads: int = 0
    max_images_per_job: int = 20_000
    max_models_per_job: int = 32
    corrupt_image_threshold: float = 0.01
    max_image_pixels: int = 40_000_000
    default_scorers: tuple[str, ...] = DEFAULT_SCORERS
    default_max_per_class: int | None = 100
    seed: int = 0

    def __post_init__(self) -> None:
        home = Path(self.home).expanduser().absolute()
        object.__setattr__(self, "home", home)
        roots = self.data_roots or (Path.cwd(), home / "data")
        object.__setattr__(self, "data_roots", tuple(Path(r).expanduser().absolute() for r in roots))
        store = self.feature_store_dir if self.feature_store_dir is not None else home / "features"
        object.__setattr__(self, "feature_store_dir", Path(store).expanduser().absolute())
        object.__setattr__(self, "default_scorers", tuple(self.default_scorers))
        self._validate()

    def _validate(self) -> None:
        positive = {
            "batch_size": self.batch_size,
            "max_images_per_job": self.max_images_per_job,
            "max_models_per_job": self.max_models_per_job,
            "max_image_pixels": self.max_image_pixels,
        }
        for name, value in positive.items():
            if value < 1:
                raise SettingsError(f"setting {name} must be >= 1, got {value}", param=name)
        for name, value in {"workers": self.workers, "torch_threads": self.torch_threads}.items():
            if value < 0:
                raise SettingsError(f"setting {name} must be >= 0, got {value}", param=name)
        if not 0.0 <= self.corrupt_image_threshold <= 1.0:
            raise SettingsError(
                f"setting corrupt_image_threshold must be in [0, 1], got {self.corrupt_image_threshold}",
                param="corrupt_image_threshold",
            )
        if self.default_max_per_class is not None and self.default_max_per_class < 1:
            raise SettingsError(
                f"setting default_max_per_class must be >= 1 or None, got {self.default_max_per_class}",
                param="default_max_per_class",
            )
        if not _DEVICE.match(self.device):
            raise SettingsError(
                f"setting device must be auto, cpu, mps, cuda or cuda:N, got {self.device!r}", param="device"
            )
        if not self.default_scorers:
            raise SettingsError(
                "setting default_scorers must name at least one scorer", param="default_scorers"
            )

    @property
    def store_dir(self) -> Path:
        """The feature-store directory (always set after construction)."""
        assert self.feature_store_dir is not None
        return self.feature_store_dir

    @property
    def data_dir(self) -> Path:
        """``$ZOORANK_HOME/data``: where ``make demo`` prepares its dataset."""
        return self.home / "data"

    def resolve_device(self) -> str:
        """The concrete torch device string (``auto`` becomes ``cuda`` when available, else ``cpu``)."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some fields replaced (validated like the original); None values are ignored."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (paths as strings), e.g. for ``zoorank inspect`` or a service health page."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) for v in value]
            out[f.name] = value
        return out

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``ZOORANK_*`` variables from ``env`` (default ``os.environ``), then apply ``overrides``.

        Raises:
            SettingsError: a variable cannot be parsed or is out of range (names the variable).
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        source: dict[str, str] = {}  # field name -> the variable it was read from

        def take(var: str, name: str, parse: Callable[[str], Any]) -> None:
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                return
            source[name] = var
            try:
                values[name] = parse(raw.strip())
            except ValueError as exc:
                raise SettingsError(f"{var}={raw!r} is invalid: {exc}", param=var) from None

        take("ZOORANK_HOME", "home", Path)
        take("ZOORANK_DATA_ROOTS", "data_roots", _parse_paths)
        take("ZOORANK_FEATURE_STORE", "feature_store_dir", Path)
        take("ZOORANK_BATCH_SIZE", "batch_size", int)
        take("ZOORANK_WORKERS", "workers", int)
        take("ZOORANK_DEVICE", "device", str)
        take("ZOORANK_THREADS", "torch_threads", int)
        take("ZOORANK_MAX_IMAGES", "max_images_per_job", int)
        take("ZOORANK_MAX_MODELS", "max_models_per_job", int)
        take("ZOORANK_CORRUPT_THRESHOLD", "corrupt_image_threshold", float)
        take("ZOORANK_MAX_IMAGE_PIXELS", "max_image_pixels", int)
        take("ZOORANK_SCORERS", "default_scorers", parse_names)
        take("ZOORANK_MAX_PER_CLASS", "default_max_per_class", _parse_cap)
        take("ZOORANK_SEED", "seed", int)
        given = {k: v for k, v in overrides.items() if v is not None}
        values.update(given)
        try:
            return cls(**values)
        except SettingsError as exc:
            var = source.get(exc.param or "") if exc.param not in given else None
            if var is None:
                raise
            raise SettingsError(f"{var}={env[var]!r} is invalid: {exc.message}", param=var) from None


def parse_names(raw: str) -> tuple[str, ...]:
    """Split a comma-separated list of names, dropping blanks and duplicates (order kept)."""
    names = [part.strip() for part in raw.split(",")]
    return tuple(dict.fromkeys(n for n in names if n))


def _parse_paths(raw: str) -> tuple[Path, ...]:
    paths = tuple(Path(p) for p in raw.split(os.pathsep) if p.strip())
    if not paths:
        raise ValueError("no directory given")
    return paths


def _parse_cap(raw: str) -> int | None:
    value = int(raw)
    if value < 0:
        raise ValueError("must be >= 0")
    return None if value == 0 else value
