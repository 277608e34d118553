"""Archives for the upload tests: good datasets, and the escape and bomb corpus, built member by member.

Every builder returns the archive's bytes; nothing is extracted here. Member names and types are written
exactly as given (``zipfile``/``tarfile`` keep ``../x`` and absolute names when asked to), so the server
sees the hostile forms themselves.
"""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

#: A name every hostile member points at: the tests look for it everywhere after each upload.
EVIL = "zoorank-escaped.png"


def zip_folder(folder: Path, prefix: str = "") -> bytes:
    """Every file under ``folder`` in a zip, under ``prefix``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return buf.getvalue()


def tar_folder(folder: Path, prefix: str = "", mode: str = "w:gz") -> bytes:
    """Every file under ``folder`` in a (by default gzip-compressed) tar, under ``prefix``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                tf.add(path, prefix + path.relative_to(folder).as_posix())
    return buf.getvalue()


def zip_members(*names: str, data: bytes = b"not really a png", mode: int | None = None) -> bytes:
    """A zip whose members have exactly these names (``mode``: Unix mode bits, e.g. a symlink)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in names:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x", link: str = "") -> bytes:
    """A tar with one member of type ``kind`` (REGTYPE, SYMTYPE, LNKTYPE, CHRTYPE, FIFOTYPE, ...)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = link
        if kind == tarfile.REGTYPE:
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        else:
            tf.addfile(info)
    return buf.getvalue()


def tar_symlink_then_write() -> bytes:
    """A symlink to ``/tmp`` followed by a regular file written through it (the classic tar escape)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        link = tarfile.TarInfo("imgs/out")
        link.type = tarfile.SYMTYPE
        link.linkname = "/tmp"
        tf.addfile(link)
        data = b"x"
        member = tarfile.TarInfo(f"imgs/out/{EVIL}")
        member.size = len(data)
        tf.addfile(member, io.BytesIO(data))
    return buf.getvalue()


def zip_bomb(megabytes: int = 64) -> bytes:
    """One member of ``megabytes`` MiB of zeros, deflated to a few tens of KiB."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        info = zipfile.ZipInfo("bomb/zeros.png")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as member:
            block = bytes(1 << 20)
            for _ in range(megabytes):
                member.write(block)
    return buf.getvalue()


def tar_of_empty_files(count: int) -> bytes:
    """An uncompressed tar of ``count`` empty ``.png`` files (512-byte headers only)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        empty = io.BytesIO(b"")
        for i in range(count):
            info = tarfile.TarInfo(f"many/c{i % 2}/{i:06d}.png")
            tf.addfile(info, empty)
    return buf.getvalue()


SYMLINK_MODE = stat.S_IFLNK | 0o777
