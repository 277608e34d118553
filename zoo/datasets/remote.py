"""Datasets in object storage: ``lake:path/to/dataset`` under a root ``lake=s3://bucket/prefix``.

A remote dataset is read in four steps, each bounded:

1. **Resolve** (no network): the path after ``lake:`` passes the same lexical checks as a local reference
   (no ``..``, ``.``, absolute path, ``~``, backslash, control character or percent escape, so neither
   ``%2F`` nor a second scheme or bucket can be smuggled in); the URL is the root's URL joined with the
   checked components, so it always lies under the root's prefix.
2. **List** once (keys, sizes, ETags) the dataset's folder: the reference itself when it is a folder
   (ImageFolder), the folder holding it when it is an object (a CSV or parquet manifest, whose images must
   lie in that folder). The file count and total bytes are checked against their limits here, before
   anything is downloaded, and every key must map to a safe relative path.
3. **Mirror** the folder into ``<cache>/<sha256 of the folder URL>/data``: objects whose
   ``(key, size, ETag)`` already sit in the mirror are not fetched again, objects gone from the listing
   are removed, the rest are fetched in parallel (a bounded thread pool) within one time limit. A lock file
   serialises processes mirroring the same folder. Afterwards the least recently used other mirrors are
   evicted until the cache is under its size cap.
4. **Read** the mirror with the ordinary readers (:func:`zoo.datasets.readers.open_dataset`), so the
   layouts, the class and file limits and the pixel limit at decode time are exactly those of local data.

The fingerprint is a digest of the listing (and of the manifest's name), not of the bytes: a re-check
costs one listing and no download, and any changed object changes its ETag and so the fingerprint.

Credentials and the endpoint come from the storage library's own configuration chain (for ``s3://``:
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_PROFILE``, ``AWS_ENDPOINT_URL``, fsspec's
``FSSPEC_S3_*`` variables or config files), never from a request. Error messages name the root and the
reference, never the endpoint or a credential.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fsspec

from estimators.errors import LimitExceededError, ZoorankError
from zoo.atomic import atomic_path, write_text_atomic
from zoo.datasets._dataset import Dataset
from zoo.datasets.readers import DEFAULT_MAX_CLASSES, open_dataset
from zoo.datasets.refs import DEFAULT_MAX_COMPONENT_BYTES, DEFAULT_MAX_REF_LENGTH
from zoo.errors import DatasetFormatError, DatasetNotFoundError, PathNotAllowedError, StorageError

__all__ = [
    "REMOTE_FINGERPRINT_VERSION",
    "REMOTE_SCHEMES",
    "RemoteLocation",
    "RemoteObject",
    "RemoteOptions",
    "check_root_url",
    "list_remote",
    "mirror",
    "open_remote_dataset",
    "remote_fingerprint",
    "resolve_remote",
]

#: URL schemes a data root may use (each needs its fsspec implementation installed: ``s3fs``).
REMOTE_SCHEMES = ("s3",)
REMOTE_FINGERPRINT_VERSION = "zoorank-remote-v1"
_STATE = "state.json"
_LOCK = "lock"
_CHUNK = 1 << 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_ROOT_PREFIX = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*):(.*)$", re.DOTALL)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def check_root_url(url: str) -> str:
    """Validate a data root URL (``s3://bucket/prefix``) and return it without a trailing ``/``.

    Raises:
        ValueError: another scheme, credentials, a port, query or fragment, an invalid bucket name, or a
            prefix with ``.``/``..``/empty components, percent escapes, backslashes or control characters.
    """
    if _CONTROL.search(url) or "\\" in url or _PERCENT.search(url):
        raise ValueError(f"data root URL {url!r} must not contain control characters, '\\' or '%' escapes")
    parts = urlsplit(url)
    if parts.scheme.lower() not in REMOTE_SCHEMES:
        raise ValueError(f"data root URL {url!r}: the scheme must be one of {', '.join(REMOTE_SCHEMES)}")
    if "@" in parts.netloc or ":" in parts.netloc:
        raise ValueError("a data root URL must not carry credentials or a port; configure the storage client")
    if parts.query or parts.fragment:
        raise ValueError(f"data root URL {url!r} must not carry a query or fragment")
    if not _BUCKET.match(parts.netloc):
        raise ValueError(f"data root URL {url!r} does not name a valid bucket")
    prefix = parts.path.strip("/")
    if prefix and any(p in ("", ".", "..") for p in prefix.split("/")):
        raise ValueError(f"data root URL {url!r} has an empty, '.' or '..' path component")
    return f"{parts.scheme.lower()}://{parts.netloc}" + (f"/{prefix}" if prefix else "")


@dataclass(frozen=True)
class RemoteLocation:
    """A reference that names an object-storage root.

    Attributes:
        ref: the reference as given.
        root: the root's name.
        root_url: the root's URL (``s3://bucket/prefix``).
        url: the referenced folder or object, always ``root_url`` or below it.
    """

    ref: str
    root: str
    root_url: str
    url: str


def _reject(message: str) -> PathNotAllowedError:
    return PathNotAllowedError(message, param="ref")


def resolve_remote(
    ref: str, remote_roots: Mapping[str, str], *, max_length: int = DEFAULT_MAX_REF_LENGTH
) -> RemoteLocation | None:
    """The location of ``name:relative/path`` when ``name`` is an object-storage root; None otherwise.

    Raises:
        PathNotAllowedError: the reference names a remote root but its path is malformed or could leave it.
    """
    match = _ROOT_PREFIX.match(ref) if isinstance(ref, str) else None
    if match is None or match.group(1) not in remote_roots:
        return None
    name, rest = match.group(1), match.group(2)
    if len(ref) > max_length:
        raise _reject(f"dataset reference is {len(ref)} characters long; the limit is {max_length}")
    if _CONTROL.search(rest):
        raise _reject("dataset reference contains a NUL or control character")
    if "\\" in rest:
        raise _reject("dataset reference contains a backslash; use '/' as the separator")
    if _PERCENT.search(rest):
        raise _reject("dataset reference contains a percent escape; references are not URL-decoded")
    if rest.startswith("/") or "://" in rest:
        raise _reject(f"the path after '{name}:' must be relative to that root")
    parts = rest.split("/") if rest else []
    if parts and parts[-1] == "":
        parts.pop()  # one trailing '/' names the same folder
    for part in parts:
        if part in ("", ".", ".."):
            raise _reject("dataset reference must not contain '..', '.' or empty components")
        if part.startswith("~"):
            raise _reject("'~' home-directory shorthand is not expanded in dataset references")
        if len(part.encode("utf-8", errors="replace")) > DEFAULT_MAX_COMPONENT_BYTES:
            raise _reject(f"dataset reference has a path component over {DEFAULT_MAX_COMPONENT_BYTES} bytes")
    root_url = remote_roots[name]
    url = "/".join([root_url, *parts])
    if url != root_url and not url.startswith(root_url + "/"):  # unreachable after the checks above
        raise _reject("dataset reference resolves outside its root")
    return RemoteLocation(ref=ref, root=name, root_url=root_url, url=url)


@dataclass(frozen=True)
class RemoteObject:
    """One listed object: its key relative to the dataset folder, its size and its ETag."""

    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class RemoteOptions:
    """Limits and places of remote datasets (from ``Settings``).

    Attributes:
        cache_dir: where mirrors live (``$ZOORANK_HOME/remote``).
        max_files, max_bytes: most objects and bytes a dataset folder may list (checked before download).
        threads: parallel downloads.
        timeout_s: time limit of listing plus mirroring one dataset.
        cache_bytes: size cap of all mirrors together (least recently used evicted first).
    """

    cache_dir: Path
    max_files: int = 200_000
    max_bytes: int = 10 << 30
    threads: int = 16
    timeout_s: float = 1800.0
    cache_bytes: int = 20 << 30


def _storage_error(loc: RemoteLocation, exc: BaseException, doing: str) -> ZoorankError:
    """A typed error for a failure of the storage client; its text names no endpoint or credential."""
    if isinstance(exc, ZoorankError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return DatasetNotFoundError(f"no dataset at {loc.ref!r}", param="ref")
    if isinstance(exc, PermissionError):
        return StorageError(f"access denied while {doing} {loc.ref!r} (data root {loc.root!r})", param="ref")
    if isinstance(exc, TimeoutError):
        return StorageError(f"object storage timed out while {doing} {loc.ref!r}", param="ref")
    return StorageError(
        f"object storage failed while {doing} {loc.ref!r} (data root {loc.root!r}: {type(exc).__name__})",
        param="ref",
    )


def _filesystem(url: str) -> Any:
    """A fresh fsspec filesystem for ``url``'s scheme: no cached instance, no cached listings."""
    return fsspec.filesystem(urlsplit(url).scheme, skip_instance_cache=True, use_listings_cache=False)


def _safe_key(key: str) -> bool:
    if not key or key.startswith("/") or "\\" in key or _CONTROL.search(key):
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


def list_remote(fs: Any, loc: RemoteLocation, options: RemoteOptions) -> tuple[str, str, list[RemoteObject]]:
    """List the dataset folder of ``loc`` once and check the limits (before any download).

    Returns:
        (folder URL, the reference's member inside it: "" for a folder or the object's name, objects
        sorted by key).

    Raises:
        DatasetNotFoundError: nothing under the reference.
        LimitExceededError: more objects or bytes than the limits allow.
        DatasetFormatError: a key cannot be mirrored as a safe relative path.
    """
    bare = loc.url.split("://", 1)[1]
    found: dict[str, dict[str, Any]] = fs.find(loc.url, detail=True, withdirs=False)
    folder, member = loc.url, ""
    if set(found) == {bare} and loc.url != loc.root_url:  # the reference is one object: a manifest
        folder, _, member = loc.url.rpartition("/")
        found = fs.find(folder, detail=True, withdirs=False)
    if not found:
        raise DatasetNotFoundError(f"no dataset at {loc.ref!r}", param="ref")
    base = folder.split("://", 1)[1] + "/"
    objects: list[RemoteObject] = []
    total = 0
    for path, info in found.items():
        if not path.startswith(base) or path.endswith("/"):
            continue  # a folder marker object
        key = path[len(base) :]
        if not _safe_key(key):
            raise DatasetFormatError(f"an object under {loc.ref!r} has a key that cannot be a local path")
        size = int(info.get("size") or 0)
        etag = str(info.get("ETag") or info.get("etag") or info.get("LastModified") or "").strip('"')
        objects.append(RemoteObject(key, size, etag))
        total += size
        if len(objects) > options.max_files:
            raise LimitExceededError(
                f"the dataset {loc.ref!r} holds more than {options.max_files} objects "
                "(ZOORANK_REMOTE_MAX_FILES)",
                param="dataset",
            )
    if total > options.max_bytes:
        raise LimitExceededError(
            f"the dataset {loc.ref!r} holds {total} bytes; the limit is {options.max_bytes} "
            "(ZOORANK_REMOTE_MAX_BYTES)",
            param="dataset",
        )
    if not objects:
        raise DatasetNotFoundError(f"no dataset at {loc.ref!r}", param="ref")
    return folder, member, sorted(objects, key=lambda o: o.key)


def remote_fingerprint(member: str, objects: list[RemoteObject]) -> str:
    """Hex SHA-256 of the listing (keys, sizes, ETags in key order) and the manifest's name."""
    h = hashlib.sha256()
    h.update(json.dumps([REMOTE_FINGERPRINT_VERSION, member]).encode() + b"\n")
    for obj in objects:
        h.update(json.dumps([obj.key, obj.size, obj.etag], ensure_ascii=False).encode() + b"\n")
    return h.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_state(path: Path) -> dict[str, list[Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return dict(files) if isinstance(files, dict) else {}


def _write_state(path: Path, url: str, files: Mapping[str, list[Any]]) -> None:
    write_text_atomic(path, json.dumps({"url": url, "files": dict(files)}, ensure_ascii=False))


def _fetch(fs: Any, url: str, obj: RemoteObject, dest: Path, deadline: float, stop: threading.Event) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        written = 0
        with fs.open(url, "rb") as src, tmp.open("wb") as out:
            details = getattr(src, "details", None) or {}
            etag = str(details.get("ETag") or "").strip('"')
            if etag and obj.etag and etag != obj.etag:
                raise StorageError(f"the object {obj.key!r} changed after it was listed; try again")
            while True:
                if stop.is_set() or time.monotonic() > deadline:
                    raise TimeoutError("fetch stopped")
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                if written > obj.size:
                    break
                out.write(chunk)
        if written != obj.size:
            raise StorageError(f"the object {obj.key!r} changed while it was being downloaded; try again")


def mirror(
    fs: Any, loc: RemoteLocation, folder: str, objects: list[RemoteObject], options: RemoteOptions
) -> tuple[Path, int]:
    """Bring the mirror of ``folder`` in line with ``objects``; return its data folder and the fetches made.

    Raises:
        StorageError: a download failed or the time limit passed (files fetched so far are kept).
    """
    deadline = time.monotonic() + options.timeout_s
    home = options.cache_dir / hashlib.sha256(folder.encode()).hexdigest()[:32]
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    with _locked(home / _LOCK):
        state = _read_state(home / _STATE)
        wanted = {o.key: o for o in objects}
        for path in sorted(data.rglob("*"), reverse=True):  # files before their folders
            rel = path.relative_to(data).as_posix()
            if path.is_file() and not path.is_symlink() and rel in wanted:
                continue
            if path.is_dir() and not path.is_symlink():
                with contextlib.suppress(OSError):
                    path.rmdir()  # only empty folders go
                continue
            path.unlink(missing_ok=True)
            state.pop(rel, None)
        todo = []
        for obj in objects:
            local = data / obj.key
            have = state.get(obj.key)
            if have == [obj.size, obj.etag] and local.is_file() and local.stat().st_size == obj.size:
                continue
            state.pop(obj.key, None)
            todo.append(obj)
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=options.threads, thread_name_prefix="zoorank-fetch")
        try:
            futures: dict[Future[None], RemoteObject] = {
                pool.submit(_fetch, fs, f"{folder}/{o.key}", o, data / o.key, deadline, stop): o for o in todo
            }
            left = max(0.0, deadline - time.monotonic())
            done, pending = wait(futures, timeout=left, return_when=FIRST_EXCEPTION)
            errors = [exc for fut in done if (exc := fut.exception()) is not None]
            failure: BaseException | None = errors[0] if errors else None
            if pending:
                failure = failure or TimeoutError("remote dataset fetch timed out")
                stop.set()  # running fetches stop at their next chunk
                for fut in pending:
                    fut.cancel()
                wait(pending)
            for fut, obj in futures.items():
                if not fut.cancelled() and fut.exception() is None:
                    state[obj.key] = [obj.size, obj.etag]
        finally:
            pool.shutdown(wait=True)
        _write_state(home / _STATE, folder, state)  # also marks the mirror as recently used
        if failure is not None:
            if isinstance(failure, TimeoutError):
                raise StorageError(
                    f"fetching {loc.ref!r} took longer than {options.timeout_s:g} s "
                    "(ZOORANK_REMOTE_TIMEOUT_S)",
                    param="ref",
                )
            raise _storage_error(loc, failure, "fetching")
    _evict(options, keep=home)
    return data, len(todo)


def _evict(options: RemoteOptions, *, keep: Path) -> None:
    """Remove the least recently used mirrors (not ``keep``, not locked) until the cache fits its cap."""
    mirrors: list[tuple[float, int, Path]] = []
    for home in options.cache_dir.iterdir():
        state = home / _STATE
        with contextlib.suppress(OSError, ValueError, TypeError, IndexError):  # gone or evicted meanwhile
            size = sum(int(v[0]) for v in _read_state(state).values())
            mirrors.append((state.stat().st_mtime, size, home))
    total = sum(size for _, size, _ in mirrors)
    for _, size, home in sorted(mirrors):
        if total <= options.cache_bytes:
            break
        if home == keep:
            continue
        with (home / _LOCK).open("a+b") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # being mirrored right now
            shutil.rmtree(home / "data", ignore_errors=True)
            (home / _STATE).unlink(missing_ok=True)
        total -= size


def open_remote_dataset(
    loc: RemoteLocation,
    options: RemoteOptions,
    *,
    max_files: int,
    max_image_pixels: int,
    max_classes: int = DEFAULT_MAX_CLASSES,
) -> tuple[Dataset, str]:
    """List, mirror and read a remote dataset; return it and its listing fingerprint.

    Raises:
        PathNotAllowedError, DatasetNotFoundError, DatasetFormatError: as for local datasets.
        LimitExceededError: the listing is over ``options.max_files`` or ``options.max_bytes``.
        StorageError: the storage is unreachable, refuses access, or the time limit passed.
    """
    deadline = time.monotonic() + options.timeout_s
    try:
        fs = _filesystem(loc.url)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zoorank-list")
        try:
            folder, member, objects = pool.submit(list_remote, fs, loc, options).result(
                timeout=options.timeout_s
            )
        except TimeoutError:
            raise StorageError(
                f"listing {loc.ref!r} took longer than {options.timeout_s:g} s (ZOORANK_REMOTE_TIMEOUT_S)",
                param="ref",
            ) from None
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # a hung listing is left to its own timeouts
    except ZoorankError:
        raise
    except Exception as exc:  # the storage client's own exceptions (botocore, aiohttp, OSError)
        raise _storage_error(loc, exc, "listing") from None
    remaining = replace(options, timeout_s=max(0.001, deadline - time.monotonic()))
    data, _ = mirror(fs, loc, folder, objects, remaining)
    local = data / member if member else data
    ds = open_dataset(
        str(local),
        {"remote": data},
        max_files=max_files,
        max_classes=max_classes,
        max_image_pixels=max_image_pixels,
    )
    return ds, remote_fingerprint(member, objects)
