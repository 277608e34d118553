"""Every limit and location zoorank uses, in one frozen pydantic-settings object read from the environment.

The CLI builds one :class:`Settings` per invocation (``Settings.from_env()``), the HTTP service one per
process and every worker one per process, so a limit is defined, documented and validated exactly once.
Nothing in ``service`` reads the environment anywhere else. ``Settings(**fields)`` reads the process
environment too (pydantic-settings); keyword arguments win over variables. ``Settings.from_env(env)`` reads
an explicit mapping instead (tests, subprocess hand-over via :meth:`Settings.to_env`).

Every invalid value raises :class:`SettingsError` (code ``invalid-settings``) naming the variable and its
value when it came from the environment (``ZOORANK_BATCH_SIZE='0' is invalid: ...``), the field otherwise.

Variables (all optional; defaults in parentheses):

Locations and the pipeline

* ``ZOORANK_HOME``: cache root for features, data, fingerprints and the embedded Redis (``~/.cache/zoorank``).
* ``ZOORANK_DATA_ROOTS``: allowed dataset roots, ``:``-separated ``name=/abs/path`` entries; a bare path is
  named after its last component (``data=$ZOORANK_HOME/data``). A reference may then be
  ``name:relative/path`` (see :mod:`zoo.datasets.refs`). The roots bound what the HTTP API may read; the
  CLI also reads under its working directory (its user already has that access). A root may also be an
  object-storage URL, ``lake=s3://bucket/prefix`` (:mod:`zoo.datasets.remote`; credentials and endpoint
  from the storage library's own chain: ``AWS_*`` variables, ``AWS_ENDPOINT_URL``, fsspec config).
* ``ZOORANK_REMOTE_MAX_FILES``: most objects a remote dataset folder may list, checked before any download
  (200000).
* ``ZOORANK_REMOTE_MAX_BYTES``: most bytes a remote dataset folder may list, checked before any download
  (10737418240).
* ``ZOORANK_REMOTE_THREADS``: parallel downloads when mirroring a remote dataset, 1..256 (16).
* ``ZOORANK_REMOTE_TIMEOUT_S``: time limit of listing and mirroring one remote dataset (1800).
* ``ZOORANK_REMOTE_CACHE_BYTES``: size cap of the local mirrors under ``$ZOORANK_HOME/remote``; least
  recently used mirrors are evicted (21474836480).
* ``ZOORANK_FEATURE_STORE``: feature-store directory, shared by all workers (``$ZOORANK_HOME/features``).
* ``ZOORANK_BATCH_SIZE``: images per forward pass, 1..65536 (64).
* ``ZOORANK_WORKERS``: image-decoding worker processes, 0 decodes inline, at most 256 (0).
* ``ZOORANK_DEVICE``: ``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N`` (``auto``).
* ``ZOORANK_THREADS``: torch intra-op threads, 0 keeps torch's default, at most 1024 (0).
* ``ZOORANK_MAX_IMAGES``: most sampled images one ranking job may extract (20000).
* ``ZOORANK_MAX_MODELS``: most models one ranking job may rank (32).
* ``ZOORANK_MAX_CLASSES``: most classes a ranked dataset may have (1000).
* ``ZOORANK_CORRUPT_THRESHOLD``: largest tolerated fraction of undecodable images, in [0, 1] (0.01).
* ``ZOORANK_MAX_IMAGE_PIXELS``: largest image, width x height, that is decoded (40000000).
* ``ZOORANK_SCORERS``: default scorers, comma-separated (:data:`DEFAULT_SCORERS`).
* ``ZOORANK_ENSEMBLE_SCORER``: the ensemble scorer whose teams the ensembles section recommends
  (:data:`DEFAULT_ENSEMBLE_SCORER`).
* ``ZOORANK_MAX_PER_CLASS``: default per-class sample cap, 0 = no cap (100).
* ``ZOORANK_SEED``: default sampling seed, 0 <= seed < 2**32 (0).
* ``ZOORANK_ZOO_MANIFEST``: a TOML file of extra zoo entries (:mod:`zoo.manifest`), loaded by the CLI, the
  API and every worker (none).
* ``ZOORANK_MODELS_ROOT``: folder that the manifest's ``weights.file`` paths are relative to (the
  manifest's folder).
* ``ZOORANK_UPLOADS_DIR``: where uploaded datasets are extracted; it is the dataset root named ``uploads``
  (``$ZOORANK_HOME/uploads``).
* ``ZOORANK_UPLOAD_MAX_BYTES``: largest uploaded archive (1073741824).
* ``ZOORANK_UPLOAD_MAX_FILES``: most members an uploaded archive may hold (50000).
* ``ZOORANK_UPLOAD_MAX_EXTRACTED_BYTES``: most bytes an upload may extract to (4294967296).
* ``ZOORANK_UPLOAD_MAX_RATIO``: largest extracted-to-archive size ratio (zip bombs) (100).
* ``ZOORANK_UPLOAD_TTL_S``: how long an uploaded dataset is kept (86400).

Service (API, job engine, workers)

* ``REDIS_URL`` or ``ZOORANK_REDIS_URL``: ``redis://``, ``rediss://`` or ``unix://`` URL of the shared Redis;
  unset means embedded mode (``zoorank serve`` starts a private ``redis-server``).
* ``ZOORANK_CACHE_TTL_S``: how long a finished ranking (and its per-model score cells) stays cached (604800).
* ``ZOORANK_JOB_TTL_S``: how long a job's state and events are kept after it ends (604800).
* ``ZOORANK_RECONCILE_IDLE_S``: an unfinished job without an event for this long gets the parts that have no
  message in any queue (waiting, delayed or running) and no live worker on them re-sent (a Redis crash may
  have lost their messages; parts are idempotent) (30).
* ``ZOORANK_RECONCILE_INTERVAL_S``: how often the reconcile runs; every API and worker process takes part,
  one of them (elected through a Redis key that lives one interval) runs it each time (15).
* ``ZOORANK_JOB_DEADLINE_S``: a job still unfinished this long after submission is failed (21600).
* ``ZOORANK_MAX_QUEUED_JOBS_PER_KEY``: most queued jobs per API key (100).
* ``ZOORANK_MAX_CONCURRENT_JOBS_PER_KEY``: most running jobs per API key (4).
* ``ZOORANK_REQUESTS_PER_MINUTE``: requests per minute per API key (600).
* ``ZOORANK_MAX_BODY_BYTES``: largest request body (1048576).
* ``ZOORANK_MAX_HEADER_BYTES``: largest total of a request's header fields, names and values (32768).
* ``ZOORANK_API_KEYS``: comma-separated SHA-256 hex digests of the accepted API keys (none: auth off).
* ``ZOORANK_MODEL_CACHE_SIZE``: models a worker keeps loaded (LRU), 1..256 (4).
* ``ZOORANK_EXTRACT_TIME_LIMIT_S``: time limit of one model's extraction (14400; CPU extraction is
  slow); an ``extract`` message of a group of n models has n times this limit.
* ``ZOORANK_EXTRACT_GROUP_SIZE``: most models in one ``extract`` message (models of a job that share a
  preprocessing config go together, each image decoded once for all of them), 1..256 (16).
* ``ZOORANK_SHARED_DECODE_MIB``: most MiB of model parameters one shared decode keeps loaded (1024).
* ``ZOORANK_SCORE_TIME_LIMIT_S``: time limit of one ``score`` or ``finalise`` message (3600).
* ``ZOORANK_MAX_RETRIES``: retries of a message that failed unexpectedly, 0..20 (3).
* ``ZOORANK_RETRY_BACKOFF_MS``: first retry delay; it doubles per retry (1000).
* ``ZOORANK_SAMPLE_MEMO_FILES``: most dataset files (and folders) the API's memo of samples holds, about
  half a kilobyte each; an identical request reuses its sample while those files' stats are unchanged;
  0 reads every dataset again (250000).
* ``ZOORANK_WORKER_POLL_MS``: longest wait of an idle worker between two looks at its queues; each
  stage hop of a job (extract -> score -> finalise) can wait this long (100).
* ``ZOORANK_HEARTBEAT_TIMEOUT_MS``: a worker silent this long is dead and its messages are redelivered
  (60000; the SIGKILL test uses 2000).
* ``ZOORANK_EVENTS_MAXLEN``: progress events kept per job stream (1000).
* ``ZOORANK_HOST`` / ``ZOORANK_PORT``: where ``zoorank serve`` listens (127.0.0.1 / 8000).
* ``ZOORANK_UI``: serve the dashboard, ``true``/``false`` (true).
* ``ZOORANK_SESSION_SECRET``: dashboard cookie signing secret, at least 32 characters (none: random per
  process).
* ``ZOORANK_SESSION_MAX_AGE_S``: how long a dashboard login lasts (28800).
* ``ZOORANK_UI_PAGE_SIZE`` / ``ZOORANK_UI_BROWSE_MAX_ENTRIES``: jobs per dashboard page, entries listed per
  folder in the dataset browser (20 / 200).
* ``ZOORANK_UI_FLASH_TTL_S``: how long a refused dashboard form keeps its values and error for the page
  its redirect shows (900).
"""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import torch
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from estimators import list_scorers
from estimators.errors import LimitExceededError  # LimitExceededError: re-exported
from service.errors import SettingsError
from zoo.datasets.remote import check_root_url
from zoo.home import default_home

__all__ = [
    "DEFAULT_ENSEMBLE_SCORER",
    "DEFAULT_SCORERS",
    "REPLACED_DEFAULT_SCORERS",
    "LimitExceededError",
    "Settings",
    "SettingsError",
    "UPLOADS_ROOT",
    "parse_names",
    "parse_roots",
    "split_roots",
]

#: Scorers run when the caller names none, chosen on the offline benchmark (docs/benchmark.md,
#: benchmark/results/quality.md) among the sets of up to three scorers that stay near the Gram floor at
#: N=10,000, D=2,048, C=100: the mean rank of the closed-form leave-one-out ridge-probe accuracy and
#: H-score (mean tau_w 0.660 over 12 targets against the fine-tune truth; the default it replaced,
#: probe_cv + hscore, 0.663, but probe_cv's iterative cross-validation does not finish in 900 s there).
DEFAULT_SCORERS: tuple[str, ...] = ("ridge_loo", "hscore")
#: The default before ``ridge_loo`` replaced ``probe_cv`` in it; the benchmark and the estimator timings
#: show it beside the default.
REPLACED_DEFAULT_SCORERS: tuple[str, ...] = ("probe_cv", "hscore")
#: The ensemble scorer whose teams the ensembles section recommends, chosen on the offline benchmark's team
#: truth (``benchmark.quality.choose_ensemble_default``: the highest mean tau_w over every 3-team of the
#: fine-tuned models, 12 targets): mean_leep 0.574 (per target 0.24-0.81), ens_eep 0.568 (0.21-0.82),
#: OSBORN -0.051 (-0.62-0.56, over the teams of the models it may score).
DEFAULT_ENSEMBLE_SCORER = "mean_leep"

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_ROOT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
#: A data root given as a URL (``s3://bucket/prefix``) rather than a directory.
_URL_ROOT = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
#: Name of the dataset root that holds uploaded datasets (``uploads:<id>``).
UPLOADS_ROOT = "uploads"
#: Largest seed: the sampling RNG takes 32-bit seeds, so a larger one would silently alias a smaller one.
SEED_LIMIT = 2**32
#: Largest per-class cap (``ZOORANK_MAX_PER_CLASS``; the CLI's ``--max-per-class`` has the same bound).
MAX_PER_CLASS_LIMIT = 2**31 - 1


def parse_names(raw: str) -> tuple[str, ...]:
    """Split a comma-separated list of names, dropping blanks and duplicates (order kept)."""
    names = [part.strip() for part in raw.split(",")]
    return tuple(dict.fromkeys(n for n in names if n))


def split_roots(raw: str) -> list[tuple[str, str]]:
    """Split ``ZOORANK_DATA_ROOTS`` into ``(name, location)`` pairs (name "" for a bare entry).

    Entries are ``:``-separated; the ``:`` of a URL's ``scheme://`` does not split (``lake=s3://b/p``).
    """
    pieces: list[str] = []
    for piece in raw.split(os.pathsep):
        if piece.startswith("//") and pieces:
            pieces[-1] = f"{pieces[-1]}{os.pathsep}{piece}"
        else:
            pieces.append(piece)
    out: list[tuple[str, str]] = []
    for part in pieces:
        part = part.strip()
        if not part:
            continue
        name, sep, location = part.partition("=")
        if not sep:
            name, location = "", part
        out.append((name.strip(), location.strip()))
    return out


def parse_roots(raw: str) -> dict[str, Path]:
    """Parse the directory roots of ``ZOORANK_DATA_ROOTS``: ``name=/abs/path`` entries or bare absolute paths.

    A bare path is named after its last component (``/srv/data/imagenet`` -> ``imagenet``). URL roots
    (``lake=s3://bucket/prefix``) are skipped here; :func:`parse_remote_roots` reads them.

    Raises:
        ValueError: an empty list, a relative path, an invalid or duplicate name.
    """
    out: dict[str, Path] = {}
    entries = split_roots(raw)
    for name, location in entries:
        if not _URL_ROOT.match(location):
            _add_root(out, name, Path(location).expanduser())
    if not entries:
        raise ValueError("no directory given")
    return out


def parse_remote_roots(raw: str) -> dict[str, str]:
    """Parse the URL roots of ``ZOORANK_DATA_ROOTS`` (``lake=s3://bucket/prefix``); directories are skipped.

    Raises:
        ValueError: a URL root without a name, or one :func:`zoo.datasets.remote.check_root_url` refuses.
    """
    out: dict[str, str] = {}
    for name, location in split_roots(raw):
        if _URL_ROOT.match(location):
            _add_remote_root(out, name, location)
    return out


def _add_remote_root(out: dict[str, str], name: str, url: str) -> None:
    if not name:
        raise ValueError(f"object-storage root {url!r} needs a name (name=s3://bucket/prefix)")
    if not _ROOT_NAME.match(name):
        raise ValueError(f"data root name {name!r} must match {_ROOT_NAME.pattern}")
    if name in out:
        raise ValueError(f"data root name {name!r} is given twice; name the roots explicitly (name=/path)")
    out[name] = check_root_url(url)


def _add_root(out: dict[str, Path], name: str, path: Path) -> None:
    if not path.is_absolute():
        raise ValueError(f"data root {str(path)!r} must be an absolute path")
    name = name or path.name or "root"
    if not _ROOT_NAME.match(name):
        raise ValueError(f"data root name {name!r} must match {_ROOT_NAME.pattern}")
    if name in out:
        raise ValueError(f"data root name {name!r} is given twice; name the roots explicitly (name=/path)")
    out[name] = path


def _default_roots(home: Path) -> dict[str, Path]:
    # Only the data folder: a server must not expose the directory it happens to be started in. The CLI
    # reads under its working directory anyway (``service.pipeline.sample.allowed_roots`` with ``base``).
    return {"data": home / "data"}


# The environment mapping ``from_env`` reads (None: ``os.environ``), seen by the settings source below.
_ENV: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("zoorank_env", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """The pydantic-settings environment source, reading an explicit mapping when ``from_env`` gave one."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = _ENV.get()
        if env is None:
            return super()._load_env_vars()
        return parse_env_vars(env, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def _env(*names: str) -> Any:
    """``validation_alias`` for a field read from these variables (first one found wins)."""
    return AliasChoices(*names) if len(names) > 1 else names[0]


class Settings(BaseSettings):
    """Limits and locations of one zoorank process (CLI, API server or worker). See the module docstring.

    Attributes:
        home: cache root; relative paths are resolved against the working directory at load time.
        named_roots: root name -> directory; dataset references must resolve under one of them (symlinks
            resolved first), so that a service can never be pointed at ``/etc``. Constructor argument
            ``data_roots`` accepts a sequence of directories, a name -> directory mapping or the variable's
            text.
        feature_store_dir: where extracted features are cached (content-addressed, shared by workers).
        batch_size, workers, device, torch_threads: extraction knobs.
        max_images_per_job, max_models_per_job, max_classes: per-job limits.
        corrupt_image_threshold: largest tolerated fraction of images that fail to decode.
        max_image_pixels: images with more pixels are refused before decoding (decompression bombs).
        default_scorers, default_max_per_class, seed: defaults of a ranking request.
        default_ensemble_scorer: whose teams the ensembles section recommends.
        redis_url ... session_secret: the service's settings (module docstring).
    """

    model_config = SettingsConfigDict(
        env_prefix="ZOORANK_",
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        env_ignore_empty=True,
        validate_default=True,
    )

    # --- locations and pipeline ---
    home: Path = Field(default_factory=default_home, validation_alias=_env("ZOORANK_HOME"))
    named_roots: Annotated[dict[str, Path], NoDecode] = Field(
        default_factory=dict, validation_alias=_env("ZOORANK_DATA_ROOTS")
    )
    # The URL entries of ZOORANK_DATA_ROOTS; its own alias first, so that an init argument cannot collide.
    remote_roots: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, validation_alias=_env("remote_roots", "ZOORANK_DATA_ROOTS")
    )
    feature_store_dir: Path | None = Field(default=None, validation_alias=_env("ZOORANK_FEATURE_STORE"))
    batch_size: int = Field(default=64, ge=1, le=65536, validation_alias=_env("ZOORANK_BATCH_SIZE"))
    workers: int = Field(default=0, ge=0, le=256, validation_alias=_env("ZOORANK_WORKERS"))
    device: str = Field(default="auto", validation_alias=_env("ZOORANK_DEVICE"))
    torch_threads: int = Field(default=0, ge=0, le=1024, validation_alias=_env("ZOORANK_THREADS"))
    max_images_per_job: int = Field(
        default=20_000, ge=1, le=10_000_000, validation_alias=_env("ZOORANK_MAX_IMAGES")
    )
    max_models_per_job: int = Field(default=32, ge=1, le=10_000, validation_alias=_env("ZOORANK_MAX_MODELS"))
    max_classes: int = Field(default=1000, ge=2, le=1_000_000, validation_alias=_env("ZOORANK_MAX_CLASSES"))
    corrupt_image_threshold: float = Field(
        default=0.01, ge=0.0, le=1.0, allow_inf_nan=False, validation_alias=_env("ZOORANK_CORRUPT_THRESHOLD")
    )
    max_image_pixels: int = Field(
        default=40_000_000, ge=1, le=2**40, validation_alias=_env("ZOORANK_MAX_IMAGE_PIXELS")
    )
    default_scorers: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_SCORERS, validation_alias=_env("ZOORANK_SCORERS")
    )
    default_ensemble_scorer: str = Field(
        default=DEFAULT_ENSEMBLE_SCORER, min_length=1, validation_alias=_env("ZOORANK_ENSEMBLE_SCORER")
    )
    default_max_per_class: Annotated[int | None, NoDecode] = Field(
        default=100, validation_alias=_env("ZOORANK_MAX_PER_CLASS")
    )
    seed: int = Field(default=0, ge=0, lt=SEED_LIMIT, validation_alias=_env("ZOORANK_SEED"))
    zoo_manifest: Path | None = Field(default=None, validation_alias=_env("ZOORANK_ZOO_MANIFEST"))
    models_root: Path | None = Field(default=None, validation_alias=_env("ZOORANK_MODELS_ROOT"))
    uploads_dir: Path | None = Field(default=None, validation_alias=_env("ZOORANK_UPLOADS_DIR"))
    upload_max_bytes: int = Field(
        default=1 << 30, ge=1024, le=1 << 40, validation_alias=_env("ZOORANK_UPLOAD_MAX_BYTES")
    )
    upload_max_files: int = Field(
        default=50_000, ge=1, le=10_000_000, validation_alias=_env("ZOORANK_UPLOAD_MAX_FILES")
    )
    upload_max_extracted_bytes: int = Field(
        default=4 << 30, ge=1024, le=1 << 42, validation_alias=_env("ZOORANK_UPLOAD_MAX_EXTRACTED_BYTES")
    )
    upload_max_ratio: float = Field(
        default=100.0, ge=1.0, le=1e6, allow_inf_nan=False, validation_alias=_env("ZOORANK_UPLOAD_MAX_RATIO")
    )
    upload_ttl_s: int = Field(
        default=86400, ge=60, le=365 * 86400, validation_alias=_env("ZOORANK_UPLOAD_TTL_S")
    )
    remote_max_files: int = Field(
        default=200_000, ge=1, le=100_000_000, validation_alias=_env("ZOORANK_REMOTE_MAX_FILES")
    )
    remote_max_bytes: int = Field(
        default=10 << 30, ge=1, le=1 << 50, validation_alias=_env("ZOORANK_REMOTE_MAX_BYTES")
    )
    remote_threads: int = Field(default=16, ge=1, le=256, validation_alias=_env("ZOORANK_REMOTE_THREADS"))
    remote_timeout_s: float = Field(
        default=1800.0,
        gt=0,
        le=7 * 86400,
        allow_inf_nan=False,
        validation_alias=_env("ZOORANK_REMOTE_TIMEOUT_S"),
    )
    remote_cache_bytes: int = Field(
        default=20 << 30, ge=1, le=1 << 52, validation_alias=_env("ZOORANK_REMOTE_CACHE_BYTES")
    )

    # --- service ---
    redis_url: str | None = Field(default=None, validation_alias=_env("ZOORANK_REDIS_URL", "REDIS_URL"))
    cache_ttl_s: int = Field(
        default=7 * 86400, ge=1, le=365 * 86400, validation_alias=_env("ZOORANK_CACHE_TTL_S")
    )
    job_ttl_s: int = Field(
        default=7 * 86400, ge=60, le=365 * 86400, validation_alias=_env("ZOORANK_JOB_TTL_S")
    )
    job_deadline_s: int = Field(
        default=6 * 3600, ge=1, le=30 * 86400, validation_alias=_env("ZOORANK_JOB_DEADLINE_S")
    )
    reconcile_idle_s: int = Field(
        default=30, ge=0, le=30 * 86400, validation_alias=_env("ZOORANK_RECONCILE_IDLE_S")
    )
    reconcile_interval_s: int = Field(
        default=15, ge=1, le=86400, validation_alias=_env("ZOORANK_RECONCILE_INTERVAL_S")
    )
    max_queued_jobs_per_key: int = Field(
        default=100, ge=1, le=1_000_000, validation_alias=_env("ZOORANK_MAX_QUEUED_JOBS_PER_KEY")
    )
    max_concurrent_jobs_per_key: int = Field(
        default=4, ge=1, le=10_000, validation_alias=_env("ZOORANK_MAX_CONCURRENT_JOBS_PER_KEY")
    )
    requests_per_minute: int = Field(
        default=600, ge=1, le=1_000_000, validation_alias=_env("ZOORANK_REQUESTS_PER_MINUTE")
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, le=1 << 30, validation_alias=_env("ZOORANK_MAX_BODY_BYTES")
    )
    max_header_bytes: int = Field(
        default=32_768, ge=1024, le=1 << 24, validation_alias=_env("ZOORANK_MAX_HEADER_BYTES")
    )
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias=_env("ZOORANK_API_KEYS")
    )
    model_cache_size: int = Field(default=4, ge=1, le=256, validation_alias=_env("ZOORANK_MODEL_CACHE_SIZE"))
    extract_time_limit_s: int = Field(
        default=4 * 3600, ge=1, le=7 * 86400, validation_alias=_env("ZOORANK_EXTRACT_TIME_LIMIT_S")
    )
    #: Most models one ``extract`` message carries: the uncached models of a job that share a
    #: preprocessing config go together (each image decoded once for all), in groups of at most this many.
    extract_group_size: int = Field(
        default=16, ge=1, le=256, validation_alias=_env("ZOORANK_EXTRACT_GROUP_SIZE")
    )
    #: Most MiB of parameters of the models one shared decode keeps loaded (a larger group is extracted in
    #: chunks, each decoding the images once).
    shared_decode_mib: int = Field(
        default=1024, ge=1, le=1 << 20, validation_alias=_env("ZOORANK_SHARED_DECODE_MIB")
    )
    score_time_limit_s: int = Field(
        default=3600, ge=1, le=7 * 86400, validation_alias=_env("ZOORANK_SCORE_TIME_LIMIT_S")
    )
    max_retries: int = Field(default=3, ge=0, le=20, validation_alias=_env("ZOORANK_MAX_RETRIES"))
    retry_backoff_ms: int = Field(
        default=1000, ge=10, le=3_600_000, validation_alias=_env("ZOORANK_RETRY_BACKOFF_MS")
    )
    heartbeat_timeout_ms: int = Field(
        default=60_000, ge=500, le=86_400_000, validation_alias=_env("ZOORANK_HEARTBEAT_TIMEOUT_MS")
    )
    worker_poll_ms: int = Field(
        default=100, ge=10, le=10_000, validation_alias=_env("ZOORANK_WORKER_POLL_MS")
    )
    sample_memo_files: int = Field(
        default=250_000, ge=0, le=100_000_000, validation_alias=_env("ZOORANK_SAMPLE_MEMO_FILES")
    )
    events_maxlen: int = Field(
        default=1000, ge=10, le=1_000_000, validation_alias=_env("ZOORANK_EVENTS_MAXLEN")
    )
    host: str = Field(
        default="127.0.0.1", min_length=1, max_length=255, validation_alias=_env("ZOORANK_HOST")
    )
    port: int = Field(default=8000, ge=1, le=65535, validation_alias=_env("ZOORANK_PORT"))
    ui: bool = Field(default=True, validation_alias=_env("ZOORANK_UI"))
    #: Whether ``/openapi.json``, ``/docs`` and ``/redoc`` need the API key (default yes, like other routes).
    docs_require_key: bool = Field(default=True, validation_alias=_env("ZOORANK_DOCS_REQUIRE_KEY"))
    #: Let unexpected exceptions (bugs) reach the terminal with their traceback instead of one line (CLI).
    debug: bool = Field(default=False, validation_alias=_env("ZOORANK_DEBUG"))
    session_secret: SecretStr | None = Field(
        default=None, min_length=32, validation_alias=_env("ZOORANK_SESSION_SECRET")
    )
    session_max_age_s: int = Field(
        default=8 * 3600, ge=60, le=30 * 86400, validation_alias=_env("ZOORANK_SESSION_MAX_AGE_S")
    )
    ui_page_size: int = Field(default=20, ge=1, le=500, validation_alias=_env("ZOORANK_UI_PAGE_SIZE"))
    ui_browse_max_entries: int = Field(
        default=200, ge=1, le=100_000, validation_alias=_env("ZOORANK_UI_BROWSE_MAX_ENTRIES")
    )
    ui_flash_ttl_s: int = Field(default=900, ge=10, le=86400, validation_alias=_env("ZOORANK_UI_FLASH_TTL_S"))

    # --- construction ---------------------------------------------------------------------------

    def __init__(self, **values: Any) -> None:
        given = {k: v for k, v in values.items() if k != "data_roots" or v is not None}
        if "data_roots" in given and "named_roots" not in given:
            given["named_roots"] = given.pop("data_roots")
        if "named_roots" in given and "remote_roots" not in given:
            given["remote_roots"] = given["named_roots"]  # its URL entries; the directories are skipped
        try:
            super().__init__(**given)
        except ValidationError as exc:
            raise _settings_error(exc, given, _ENV.get()) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the environment (``os.environ`` or ``from_env``'s mapping); no dotenv."""
        return init_settings, _MappingEnvSource(settings_cls)

    @field_validator("home", "feature_store_dir", "zoo_manifest", "models_root", "uploads_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().absolute()

    @field_validator("named_roots", mode="before")
    @classmethod
    def _roots(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_roots(value)
        if isinstance(value, Mapping):
            out: dict[str, Path] = {}
            for name, path in value.items():
                if not (isinstance(path, str) and _URL_ROOT.match(path)):
                    _add_root(out, str(name), Path(path).expanduser())
            return out
        if isinstance(value, list | tuple):
            out = {}
            for path in value:
                if isinstance(path, str) and _URL_ROOT.match(path):
                    raise ValueError(f"object-storage root {path!r} needs a name (name=s3://bucket/prefix)")
                _add_root(out, "", Path(path).expanduser().absolute())
            if not out:
                raise ValueError("at least one data root is required")
            return out
        return value

    @field_validator("remote_roots", mode="before")
    @classmethod
    def _remote(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_remote_roots(value)
        out: dict[str, str] = {}
        if isinstance(value, Mapping):
            for name, url in value.items():
                if isinstance(url, str) and _URL_ROOT.match(url):
                    _add_remote_root(out, str(name), url)
        return out  # a sequence of directories names no URL root

    @field_validator("default_scorers", mode="before")
    @classmethod
    def _scorers(cls, value: Any) -> Any:
        names = parse_names(value) if isinstance(value, str) else tuple(value)
        if not names:
            raise ValueError("must name at least one scorer")
        return names

    @field_validator("default_ensemble_scorer")
    @classmethod
    def _ensemble_scorer(cls, value: str) -> str:
        names = list_scorers("ensemble")
        if value not in names:
            raise ValueError(f"must name an ensemble scorer, one of: {', '.join(names)}")
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        keys = parse_names(value) if isinstance(value, str) else tuple(value)
        for key in keys:
            if not _SHA256.match(str(key)):
                raise ValueError("each API key must be given as the lowercase SHA-256 hex digest of the key")
        return keys

    @field_validator("default_max_per_class", mode="before")
    @classmethod
    def _cap(cls, value: Any) -> Any:
        if value is None:
            return None
        number = int(value) if isinstance(value, str) else value
        if isinstance(number, bool) or not isinstance(number, int):
            raise ValueError("must be an integer")
        if number < 0:
            raise ValueError("must be >= 0 (0 = no cap)")
        if number > MAX_PER_CLASS_LIMIT:  # the sampler counts in 64-bit integers; no job needs more
            raise ValueError(f"must be <= {MAX_PER_CLASS_LIMIT}")
        return None if number == 0 else number

    @field_validator("device", mode="after")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError(f"must be auto, cpu, mps, cuda or cuda:N, got {value!r}")
        return value

    @field_validator("redis_url", mode="after")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(_REDIS_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(_REDIS_SCHEMES)}")
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.named_roots and not self.remote_roots:
            object.__setattr__(self, "named_roots", _default_roots(self.home))
        object.__setattr__(
            self, "named_roots", {n: p.expanduser().absolute() for n, p in self.named_roots.items()}
        )
        if self.feature_store_dir is None:
            object.__setattr__(self, "feature_store_dir", self.home / "features")
        if self.uploads_dir is None:
            object.__setattr__(self, "uploads_dir", self.home / "uploads")
        both = set(self.named_roots) & set(self.remote_roots)
        if both:
            raise ValueError(f"data root name {sorted(both)[0]!r} is given twice")
        if UPLOADS_ROOT in self.remote_roots:
            raise ValueError(f"the data root name {UPLOADS_ROOT!r} is reserved for uploaded datasets")
        taken = self.named_roots.get(UPLOADS_ROOT)
        if taken is not None and taken != self.uploads_dir:
            raise ValueError(
                f"the data root name {UPLOADS_ROOT!r} is reserved for uploaded datasets "
                "(ZOORANK_UPLOADS_DIR); name that root otherwise"
            )
        return self

    # --- views ----------------------------------------------------------------------------------

    @property
    def data_roots(self) -> tuple[Path, ...]:
        """Every allowed dataset root, in the configured order."""
        return tuple(self.named_roots.values())

    @property
    def dataset_roots(self) -> dict[str, Path]:
        """The named roots plus the uploads root (named ``uploads``): where a reference may resolve."""
        assert self.uploads_dir is not None
        return {**self.named_roots, UPLOADS_ROOT: self.uploads_dir}

    @property
    def uploads_root(self) -> Path:
        """Where uploaded datasets are extracted (always set after construction)."""
        assert self.uploads_dir is not None
        return self.uploads_dir

    @property
    def store_dir(self) -> Path:
        """The feature-store directory (always set after construction)."""
        assert self.feature_store_dir is not None
        return self.feature_store_dir

    @property
    def data_dir(self) -> Path:
        """``$ZOORANK_HOME/data``: where ``make demo`` prepares its dataset."""
        return self.home / "data"

    @property
    def redis_dir(self) -> Path:
        """``$ZOORANK_HOME/redis``: socket and append-only file of the embedded ``redis-server``."""
        return self.home / "redis"

    def resolve_device(self) -> str:
        """The concrete torch device string (``auto`` becomes ``cuda`` when available, else ``cpu``).

        Imports torch and may initialise CUDA: call it in the process that will use the device (a
        worker child), never in a parent that forks workers.
        """
        if self.device != "auto":
            return self.device

        return "cuda" if torch.cuda.is_available() else "cpu"

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some fields replaced (validated like the original); None values are ignored."""
        values = self._fields_dict()
        given = {k: v for k, v in overrides.items() if v is not None}
        if "data_roots" in given:
            given["named_roots"] = given.pop("data_roots")
        if "named_roots" in given and "remote_roots" not in given:
            given["remote_roots"] = given["named_roots"]  # the roots are replaced, URL roots included
        values.update(given)
        token = _ENV.set({})  # the copy must not pick up variables the original did not see
        try:
            return type(self)(**values)
        finally:
            _ENV.reset(token)

    def _fields_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in type(self).model_fields}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (paths as strings, secrets masked), e.g. for a health page."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "named_roots":
                out["data_roots"] = [str(p) for p in value.values()]
                out[name] = {k: str(p) for k, p in value.items()}
                continue
            if isinstance(value, SecretStr):
                value = "**********"
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) for v in value]
            out[name] = value
        return out

    def to_env(self) -> dict[str, str]:
        """The variables that rebuild exactly these settings in another process (a worker subprocess)."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            var = _env_names(name)[0]
            if value is None:
                continue
            if name == "remote_roots":
                continue  # written with named_roots: both are read from ZOORANK_DATA_ROOTS
            if name == "named_roots":
                entries = [f"{k}={p}" for k, p in value.items()]
                entries += [f"{k}={url}" for k, url in self.remote_roots.items()]
                text = os.pathsep.join(entries)
            elif name == "default_max_per_class":
                text = str(value)
            elif isinstance(value, SecretStr):
                text = value.get_secret_value()
            elif isinstance(value, tuple):
                text = ",".join(value)
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(value)
            out[var] = text
        if self.default_max_per_class is None:
            out["ZOORANK_MAX_PER_CLASS"] = "0"
        return out

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the variables from ``env`` (default ``os.environ``), then apply non-None ``overrides``.

        Raises:
            SettingsError: a variable cannot be parsed or is out of range (names the variable).
        """
        token = _ENV.set(None if env is None else dict(env))
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        finally:
            _ENV.reset(token)


def _env_names(field: str) -> tuple[str, ...]:
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(str(c) for c in alias.choices)
    return (str(alias),) if alias is not None else (f"ZOORANK_{field.upper()}",)


def _field_of(loc: str) -> str | None:
    for name in Settings.model_fields:
        if loc == name or loc in _env_names(name):
            return name
    return None


def _settings_error(
    exc: ValidationError, given: Mapping[str, Any], env: Mapping[str, str] | None
) -> SettingsError:
    """The first validation problem as a :class:`SettingsError` naming the variable (or the field)."""
    first = exc.errors()[0]
    loc = str(first["loc"][0]) if first["loc"] else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    field = _field_of(loc)
    if first["type"] == "extra_forbidden":
        return SettingsError(f"unknown setting {loc!r}", param=loc)
    source = os.environ if env is None else env
    if field is not None and field not in given:
        for var in _env_names(field):
            if source.get(var, "").strip():
                return SettingsError(f"{var}={source[var]!r} is invalid: {message}", param=var)
    name = field or loc
    return SettingsError(f"setting {name} is invalid: {message}", param=name)


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Make ``Settings()`` read ``env`` instead of ``os.environ`` inside the block (tests)."""
    token = _ENV.set(dict(env))
    try:
        yield
    finally:
        _ENV.reset(token)
