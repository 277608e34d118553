"""Uploaded datasets: a zip or tar archive, streamed to disk, extracted safely under the ``uploads`` root.

``POST /v1/datasets`` and the dashboard's upload field both end here, so the two accept and refuse exactly
the same archives. An upload:

1. is written to ``<uploads>/.incoming/<id>.part`` while it streams, refused the moment it passes
   ``upload_max_bytes`` (:class:`UploadSink`);
2. is validated as a whole before anything is extracted (:func:`_plan`): the format comes from the magic
   bytes (zip, tar, gzip-compressed tar), every member must be a regular file or a directory whose name
   is relative, without ``..``, backslashes, drive letters or NUL; links, devices and FIFOs are refused;
   at most ``upload_max_files`` members, ``upload_max_extracted_bytes`` declared bytes and
   ``upload_max_ratio`` times the archive's size (zip bombs). Members that are neither images
   (``.png .jpg .jpeg .webp``) nor dataset manifests (``.csv .parquet .npz``) are skipped (``__MACOSX``
   resource forks, ``.DS_Store``, READMEs);
3. is extracted into ``<uploads>/.incoming/<id>`` counting the bytes really written (a member that
   inflates past its declared size is refused), then renamed into ``<uploads>/<id>`` only when complete;
4. is opened as a dataset (``uploads:<id>[/<folder or manifest>]``) and its images decoded as for any
   dataset (:func:`service.catalogue.inspect_dataset`); an upload that is not a dataset is deleted.

Uploads older than ``upload_ttl_s`` are deleted by :func:`purge_expired`, which runs at every upload and
when the API starts. Any failure removes everything the upload wrote; nothing is ever written outside the
uploads root.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import stat
import tarfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from service.catalogue import inspect_dataset
from service.errors import BodyTooLargeError, LimitExceededError, UploadRefusedError
from service.settings import UPLOADS_ROOT, Settings
from zoo.errors import DatasetError

__all__ = ["UploadSink", "purge_expired", "store_upload"]

log = logging.getLogger("zoorank.uploads")

INCOMING = ".incoming"
_KEPT = frozenset({".png", ".jpg", ".jpeg", ".webp", ".csv", ".parquet", ".npz"})
_MANIFESTS = frozenset({".csv", ".parquet", ".npz"})
_CHUNK = 1 << 20
_EOCD_SEARCH = 22 + 65535 + 20  # the record, its longest comment, and the zip64 locator before it


@dataclass(frozen=True)
class _Member:
    """One archive member to extract: its safe relative path, declared size and how to open it."""

    path: PurePosixPath
    size: int
    is_dir: bool
    key: Any  # zipfile.ZipInfo or tarfile.TarInfo


class UploadSink:
    """Where a streamed upload body goes: a ``.part`` file under the uploads root, capped as it grows."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.upload_id = secrets.token_hex(8)
        self.incoming = settings.uploads_root / INCOMING
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.path = self.incoming / f"{self.upload_id}.part"
        self._file: IO[bytes] = open(self.path, "xb")  # noqa: SIM115 (closed by close/discard)
        self.size = 0

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; refuses (and deletes the part file) past ``upload_max_bytes``."""
        self.size += len(chunk)
        if self.size > self.settings.upload_max_bytes:
            self.discard()
            raise BodyTooLargeError(
                f"the archive exceeds {self.settings.upload_max_bytes} bytes (ZOORANK_UPLOAD_MAX_BYTES)",
                param="upload_max_bytes",
            )
        self._file.write(chunk)

    def close(self) -> None:
        """Flush and close the part file (idempotent)."""
        if not self._file.closed:
            self._file.close()

    def discard(self) -> None:
        """Close and delete the part file."""
        self.close()
        self.path.unlink(missing_ok=True)


def _refuse(message: str) -> UploadRefusedError:
    return UploadRefusedError(message, param="archive")


def _safe_name(raw: str) -> PurePosixPath:
    """The member's path, refused unless it is relative and stays inside the extraction folder."""
    if not raw or "\x00" in raw or "\\" in raw:
        raise _refuse(f"archive member {raw!r}: empty names, NUL bytes and backslashes are refused")
    path = PurePosixPath(raw)
    if path.is_absolute() or (path.parts and ":" in path.parts[0]):
        raise _refuse(f"archive member {raw!r}: absolute paths are refused")
    if any(part == ".." for part in path.parts):
        raise _refuse(f"archive member {raw!r}: '..' is refused")
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts:
        raise _refuse(f"archive member {raw!r} names no file")
    return PurePosixPath(*parts)


def _kept(path: PurePosixPath, is_dir: bool) -> bool:
    if any(part.startswith(".") or part == "__MACOSX" for part in path.parts):
        return False  # hidden files and macOS resource forks
    return is_dir or path.suffix.lower() in _KEPT


def _zip_members(archive: zipfile.ZipFile) -> Iterator[tuple[str, int, bool, Any]]:
    for info in archive.infolist():
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver recorded no Unix file type
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _refuse(f"archive member {info.filename!r}: links and special files are refused")
        yield info.filename, info.file_size, info.is_dir(), info


def _zip_entry_count(part: Path) -> int | None:
    """The member count a zip's end-of-central-directory record declares, read before ``zipfile`` parses
    the whole central directory (which holds one object per member in memory); None when not found."""
    size = part.stat().st_size
    with open(part, "rb") as fh:
        fh.seek(max(0, size - _EOCD_SEARCH))
        tail = fh.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + 22 > len(tail):
            return None
        count = int.from_bytes(tail[at + 10 : at + 12], "little")
        locator = at - 20
        if count != 0xFFFF or locator < 0 or tail[locator : locator + 4] != b"PK\x06\x07":
            return count
        fh.seek(int.from_bytes(tail[locator + 8 : locator + 16], "little"))  # the zip64 record
        record = fh.read(56)
        if record[:4] != b"PK\x06\x06":
            return None
        return int.from_bytes(record[32:40], "little")


def _tar_members(archive: tarfile.TarFile) -> Iterator[tuple[str, int, bool, Any]]:
    for info in archive:
        if not (info.isreg() or info.isdir()):
            raise _refuse(f"archive member {info.name!r}: links, devices and FIFOs are refused")
        yield info.name, info.size, info.isdir(), info


def _too_many(settings: Settings) -> LimitExceededError:
    return LimitExceededError(
        f"the archive holds more than {settings.upload_max_files} members (ZOORANK_UPLOAD_MAX_FILES)",
        param="upload_max_files",
    )


def _plan(
    members: Iterator[tuple[str, int, bool, Any]], archive_size: int, settings: Settings
) -> list[_Member]:
    """Validate every member before anything is written; returns the ones to extract."""
    out: list[_Member] = []
    total = 0
    for count, (name, size, is_dir, key) in enumerate(members, start=1):
        if count > settings.upload_max_files:
            raise _too_many(settings)
        path = _safe_name(name)
        total += max(size, 0)
        if total > settings.upload_max_extracted_bytes:
            raise LimitExceededError(
                f"the archive extracts to more than {settings.upload_max_extracted_bytes} bytes "
                "(ZOORANK_UPLOAD_MAX_EXTRACTED_BYTES)",
                param="upload_max_extracted_bytes",
            )
        if total > settings.upload_max_ratio * max(archive_size, 1):
            raise LimitExceededError(
                f"the archive extracts to more than {settings.upload_max_ratio:g} times its size "
                "(ZOORANK_UPLOAD_MAX_RATIO): refused as a compression bomb",
                param="upload_max_ratio",
            )
        if _kept(path, is_dir):
            out.append(_Member(path, size, is_dir, key))
    return out


def _copy(src: IO[bytes], dst: Path, declared: int) -> None:
    """Copy one member, refusing it the moment it writes more than it declared."""
    written = 0
    with open(dst, "xb") as out:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > declared:
                raise _refuse(f"archive member {dst.name!r} inflates past its declared size")
            out.write(chunk)


def _extract(part: Path, into: Path, settings: Settings) -> int:
    """Validate then extract the archive at ``part`` into ``into``; returns the number of files written."""
    size = part.stat().st_size
    with open(part, "rb") as fh:
        magic = fh.read(512)
    into.mkdir()
    try:
        if zipfile.is_zipfile(part) and magic[:2] == b"PK":
            declared = _zip_entry_count(part)
            if declared is not None and declared > settings.upload_max_files:
                raise _too_many(settings)
            with zipfile.ZipFile(part) as archive:
                members = _plan(_zip_members(archive), size, settings)
                return _write(members, into, lambda m: archive.open(m.key))
        if magic[:2] == b"\x1f\x8b" or (len(magic) >= 262 and magic[257:262] == b"ustar"):
            with tarfile.open(part, "r:*") as archive:
                members = _plan(_tar_members(archive), size, settings)
                return _write(members, into, lambda m: _tar_stream(archive, m.key))
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise _refuse(f"the archive is damaged: {exc}") from None
    raise _refuse("the upload is neither a zip nor a tar (optionally gzip-compressed) archive")


def _tar_stream(archive: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    stream = archive.extractfile(info)
    if stream is None:
        raise _refuse(f"archive member {info.name!r} is not a regular file")
    return stream


def _write(members: list[_Member], into: Path, open_member: Any) -> int:
    files = 0
    root = into.resolve()
    for m in members:
        dst = into.joinpath(*m.path.parts)
        if not dst.resolve().is_relative_to(root):  # belt and braces: names were checked already
            raise _refuse(f"archive member {str(m.path)!r} leaves the extraction folder")
        if m.is_dir:
            dst.mkdir(parents=True, exist_ok=True)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open_member(m) as src:
                _copy(src, dst, m.size)
        except FileExistsError:
            raise _refuse(f"archive member {str(m.path)!r} appears twice") from None
        files += 1
    if files == 0:
        raise _refuse("the archive holds no images or dataset manifests")
    return files


def _dataset_path(folder: Path) -> Path:
    """The dataset inside an extracted upload: single wrapping folders are entered; a lone manifest wins."""
    while True:
        entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
        dirs = [e for e in entries if e.is_dir()]
        files = [e for e in entries if e.is_file()]
        manifests = [f for f in files if f.suffix.lower() in _MANIFESTS]
        if len(manifests) == 1:
            return manifests[0]
        if len(dirs) == 1 and not files:
            folder = dirs[0]
            continue
        return folder


def store_upload(sink: UploadSink) -> dict[str, Any]:
    """Extract a fully received upload and open it as a dataset; returns its reference and summary.

    Returns:
        ``{"reference": "uploads:<id>/...", "upload_id", "expires_at" (Unix seconds), "files", "summary"}``
        where ``summary`` is :func:`service.catalogue.inspect_dataset`'s (decoded when the dataset is
        within ``max_images_per_job``).

    Raises:
        UploadRefusedError: not an archive, an unsafe or duplicate member, nothing to extract, or not a
            readable dataset (the reason of the dataset error is kept).
        LimitExceededError: too many members, too many bytes, too high a compression ratio.
    """
    settings = sink.settings
    sink.close()
    staging = sink.incoming / sink.upload_id
    final = settings.uploads_root / sink.upload_id
    try:
        files = _extract(sink.path, staging, settings)
        sink.discard()
        staging.rename(final)
        dataset = _dataset_path(final)
        reference = f"{UPLOADS_ROOT}:{dataset.relative_to(settings.uploads_root).as_posix()}"
        summary = inspect_dataset(reference, settings, decode=False)
        if summary["num_samples"] <= settings.max_images_per_job:
            summary = inspect_dataset(reference, settings, decode=True)
        if summary["over_threshold"]:
            raise _refuse(
                f"{summary['corrupt']} of {summary['num_samples']} images do not decode, more than the "
                f"{settings.corrupt_image_threshold:g} tolerated (ZOORANK_CORRUPT_THRESHOLD)"
            )
    except DatasetError as exc:
        _remove(staging, final, sink)
        if isinstance(exc, UploadRefusedError):
            raise
        raise _refuse(f"the archive is not a usable dataset: {exc.message} [{exc.code}]") from None
    except BaseException:
        _remove(staging, final, sink)
        raise
    expires = int(final.stat().st_mtime) + settings.upload_ttl_s
    log.info("upload %s stored: %d files, %s", sink.upload_id, files, reference)
    return {
        "reference": reference,
        "upload_id": sink.upload_id,
        "expires_at": expires,
        "files": files,
        "summary": summary,
    }


def _remove(staging: Path, final: Path, sink: UploadSink) -> None:
    sink.discard()
    for folder in (staging, final):
        shutil.rmtree(folder, ignore_errors=True)


def purge_expired(settings: Settings, *, now: float | None = None) -> list[str]:
    """Delete uploads (and abandoned partial ones) older than ``upload_ttl_s``; returns their ids."""
    root = settings.uploads_root
    if not root.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - settings.upload_ttl_s
    removed = []
    for folder in (root, root / INCOMING):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name == INCOMING:
                continue
            with suppress(OSError):
                if entry.lstat().st_mtime >= cutoff:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
                removed.append(entry.name)
    if removed:
        log.info("removed %d expired uploads", len(removed))
    return removed
