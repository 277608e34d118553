"""Dataset references: turn a user-supplied string into a path that is provably under an allowed root.

A reference is one of

* ``<root name>:<relative path>`` where the root name is one of the *named* allowed roots
  (``ZOORANK_DATA_ROOTS`` entries ``name=/path``; this is the form the HTTP API documents), or the older
  ``<root name>/<relative path>`` spelling of the same; a one-letter root name is never read as a root in
  the ``:`` form, because ``c:`` is a drive letter and is refused;
* a relative path, resolved against ``base`` (the CLI passes the working directory; a service passes
  nothing, which makes bare relative references an error);
* an absolute path; or
* a ``file://`` URL (``file:///abs/path`` or ``file://localhost/abs/path``), percent-decoded exactly once.

Whatever the form, the result must lie under one of the allowed roots *after* symlinks are resolved.
The checks run in two stages so that nothing is opened for a hostile reference:

1. lexical, on the string: length, NUL and other control characters, backslashes, drive letters, ``..``
   components, percent escapes outside ``file://`` URLs (so double encoding cannot sneak a ``..`` in),
   ``~`` shorthand (never expanded), unknown URL schemes;
2. on the filesystem, with stats only (``Path.resolve`` uses ``lstat``/``readlink``, never ``open``):
   the resolved candidate must satisfy ``candidate.is_relative_to(root.resolve())``; a symlink planted
   inside a root that points outside is caught here. Existence is checked only after containment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TypeAlias
from urllib.parse import unquote, urlsplit

from zoo.errors import DatasetNotFoundError, PathNotAllowedError

__all__ = [
    "DEFAULT_MAX_COMPONENT_BYTES",
    "DEFAULT_MAX_REF_LENGTH",
    "AllowedRoots",
    "ResolvedRef",
    "RootsLike",
    "check_relative_member",
    "resolve_reference",
]

#: Longest accepted reference, in characters. Real dataset paths are far shorter; a limit keeps hostile
#: inputs (5,000-character paths, deep ``a/a/a/...`` chains) out of the filesystem calls.
DEFAULT_MAX_REF_LENGTH = 1024
#: Longest accepted path component, in UTF-8 bytes (the common filesystem limit, NAME_MAX).
DEFAULT_MAX_COMPONENT_BYTES = 255

_ROOT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_DRIVE = re.compile(r"^[A-Za-z]:")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCHEME_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: ``name:relative/path`` (a named root); matched only after the drive-letter and URL checks.
_ROOT_PREFIX = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*):(.*)$", re.DOTALL)


@dataclass(frozen=True)
class AllowedRoots:
    """The directories dataset references may resolve under (symlinks resolved).

    Attributes:
        paths: every allowed root, resolved, in the configured order.
        named: the roots that can be addressed as ``<name>/<relative path>``.
        max_length: longest accepted reference (characters).
        max_component_bytes: longest accepted path component (UTF-8 bytes).
    """

    paths: tuple[Path, ...]
    named: Mapping[str, Path] = field(default_factory=dict)
    max_length: int = DEFAULT_MAX_REF_LENGTH
    max_component_bytes: int = DEFAULT_MAX_COMPONENT_BYTES

    @classmethod
    def of(
        cls,
        roots: RootsLike,
        *,
        max_length: int = DEFAULT_MAX_REF_LENGTH,
        max_component_bytes: int = DEFAULT_MAX_COMPONENT_BYTES,
    ) -> AllowedRoots:
        """Build from settings: a sequence of directories, or a mapping of root name -> directory.

        Roots are resolved (symlinks followed) once here; a root that does not exist yet is kept, resolved
        as far as it exists, so that it can be created later (``$ZOORANK_HOME/data`` before ``prepare``).

        Raises:
            ValueError: no root, a relative root, or an invalid root name.
        """
        if isinstance(roots, AllowedRoots):
            return roots
        named: dict[str, Path] = {}
        if isinstance(roots, (str, os.PathLike)):  # one directory, not a sequence of characters
            paths: tuple[Path, ...] = (_resolve_root(roots),)
        elif isinstance(roots, Mapping):
            for name, path in roots.items():
                if not _ROOT_NAME.match(name):
                    raise ValueError(f"root name {name!r} must match {_ROOT_NAME.pattern}")
                named[name] = _resolve_root(path)
            paths = tuple(named.values())
        else:
            paths = tuple(_resolve_root(p) for p in roots)
        if not paths:
            raise ValueError("at least one allowed dataset root is required")
        if max_length < 1 or max_component_bytes < 1:
            raise ValueError("max_length and max_component_bytes must be >= 1")
        return cls(paths, named, max_length, max_component_bytes)

    def with_unnamed(self, *paths: str | os.PathLike[str]) -> AllowedRoots:
        """These roots plus ``paths`` as unnamed roots (the CLI's working directory); names keep working.

        Raises:
            ValueError: a relative path.
        """
        extra = tuple(dict.fromkeys(p for p in map(_resolve_root, paths) if p not in self.paths))
        return replace(self, paths=(*self.paths, *extra))

    def containing(self, path: Path) -> Path | None:
        """The first allowed root that ``path`` (already resolved) lies under, or None."""
        for root in self.paths:
            if path.is_relative_to(root):
                return root
        return None

    def require_inside(self, path: Path, *, what: str) -> Path:
        """Return the root containing the resolved ``path``; raise :class:`PathNotAllowedError` if none."""
        root = self.containing(path)
        if root is None:
            raise PathNotAllowedError(f"{what} resolves outside the allowed dataset roots", param="ref")
        return root


#: What callers may pass as roots: ``Settings.data_roots``, a name -> directory mapping, or built roots.
_PathLike: TypeAlias = "str | os.PathLike[str]"
RootsLike: TypeAlias = "AllowedRoots | Mapping[str, _PathLike] | Sequence[_PathLike] | _PathLike"


def _resolve_root(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_absolute():
        raise ValueError(f"allowed root {str(p)!r} must be an absolute path")
    return p.resolve(strict=False)


@dataclass(frozen=True)
class ResolvedRef:
    """A reference that passed every check.

    Attributes:
        ref: the reference as given (for messages and provenance).
        path: the resolved absolute path (symlinks followed); it exists unless ``must_exist=False``.
        root: the allowed root that contains ``path``.
    """

    ref: str
    path: Path
    root: Path


def _reject(message: str) -> PathNotAllowedError:
    return PathNotAllowedError(message, param="ref")


def _check_components(parts: Iterable[str], roots: AllowedRoots, *, allow_parent: bool) -> None:
    for part in parts:
        if part == ".." and not allow_parent:
            raise _reject("dataset reference must not contain '..' components")
        try:
            size = len(part.encode("utf-8"))
        except UnicodeEncodeError:
            raise _reject("dataset reference is not valid UTF-8 text") from None
        if size > roots.max_component_bytes:
            raise _reject(
                f"dataset reference has a path component of {size} bytes; "
                f"the limit is {roots.max_component_bytes}"
            )


def _lexical_checks(text: str, roots: AllowedRoots, *, what: str) -> None:
    if not text or not text.strip():
        raise _reject(f"{what} is empty")
    if len(text) > roots.max_length:
        raise _reject(f"{what} is {len(text)} characters long; the limit is {roots.max_length}")
    if _CONTROL.search(text):
        raise _reject(f"{what} contains a NUL or control character")
    if "\\" in text:
        raise _reject(f"{what} contains a backslash; use '/' as the separator")
    if _DRIVE.match(text):
        raise _reject(f"{what} starts with a drive letter")


def _split_reference(ref: str, roots: AllowedRoots, base: Path | None) -> Path:
    """Lexical stage: the unresolved candidate path for ``ref`` (no filesystem access)."""
    _lexical_checks(ref, roots, what="dataset reference")
    if _SCHEME.match(ref):
        url = urlsplit(ref)
        if url.scheme.lower() != "file":
            raise _reject(f"only file:// URLs are accepted, got a {url.scheme}:// URL")
        if url.netloc not in ("", "localhost"):
            raise _reject("file:// URLs must not name a host")
        if url.query or url.fragment:
            raise _reject("file:// URLs must not carry a query or fragment")
        decoded = unquote(url.path, errors="strict")
        # Decoded exactly once: anything that still looks encoded was encoded twice, a classic way of
        # smuggling '../' past a filter that decodes once.
        if _PERCENT_ESCAPE.search(decoded):
            raise _reject("file:// URL is percent-encoded more than once")
        _lexical_checks(decoded, roots, what="decoded file:// URL")
        text = decoded
        if not text.startswith("/"):
            raise _reject("file:// URL must carry an absolute path")
    else:
        named = _ROOT_PREFIX.match(ref)
        if named is not None and named.group(1) in roots.named:
            return _under_named_root(roots, named.group(1), named.group(2))
        if _SCHEME_LIKE.match(ref):
            raise _reject(
                "dataset reference looks like a URL without '//' or names an unknown root "
                f"({_root_names(roots)}); only file:// URLs and 'root:relative/path' are accepted"
            )
        if _PERCENT_ESCAPE.search(ref):
            raise _reject("dataset reference contains a percent escape; references are not URL-decoded")
        text = ref
    posix = PurePosixPath(text)
    _check_components(posix.parts[1:] if posix.is_absolute() else posix.parts, roots, allow_parent=False)
    if posix.is_absolute():
        return Path(text)
    first = posix.parts[0] if posix.parts else ""  # "." has no parts: it names ``base`` itself
    if first.startswith("~"):
        raise _reject("'~' home-directory shorthand is not expanded in dataset references")
    if first in roots.named:
        return roots.named[first].joinpath(*posix.parts[1:])
    if base is None:
        raise _reject(
            f"relative dataset reference must start with an allowed root name ({_root_names(roots)}), "
            "as in 'name:relative/path', or be an absolute path or file:// URL under an allowed root"
        )
    return base.joinpath(*posix.parts)


def _root_names(roots: AllowedRoots) -> str:
    names = ", ".join(sorted(roots.named))
    if names:
        return f"one of: {names}"
    return "none is named; name them as ZOORANK_DATA_ROOTS=name=/path:other=/path"


def _under_named_root(roots: AllowedRoots, name: str, rest: str) -> Path:
    """Lexical stage of ``name:relative/path``: the path below the named root (no filesystem access)."""
    if _PERCENT_ESCAPE.search(rest):
        raise _reject("dataset reference contains a percent escape; references are not URL-decoded")
    if rest.startswith("/"):
        raise _reject(f"the path after '{name}:' must be relative to that root")
    posix = PurePosixPath(rest)
    if posix.parts and posix.parts[0].startswith("~"):
        raise _reject("'~' home-directory shorthand is not expanded in dataset references")
    _check_components(posix.parts, roots, allow_parent=False)
    return roots.named[name].joinpath(*posix.parts)


def resolve_reference(
    ref: str,
    roots: RootsLike,
    *,
    base: str | os.PathLike[str] | None = None,
    must_exist: bool = True,
) -> ResolvedRef:
    """Resolve a dataset reference to a path under an allowed root.

    Args:
        ref: the user's reference (see the module docstring for the accepted forms).
        roots: allowed roots: ``Settings.data_roots`` (a sequence), a mapping of root name -> directory, or
            an :class:`AllowedRoots` (which also carries the length limits).
        base: directory bare relative references are resolved against (the CLI's working directory).
            None makes a relative reference that does not start with a root name an error.
        must_exist: raise :class:`DatasetNotFoundError` when the (allowed) path does not exist.

    Returns:
        The resolved path and the root containing it.

    Raises:
        PathNotAllowedError: the reference is malformed or resolves outside every allowed root.
        DatasetNotFoundError: the reference is allowed but nothing exists there (``must_exist``).
    """
    allowed = AllowedRoots.of(roots)
    if not isinstance(ref, str):
        raise _reject(f"dataset reference must be a string, got {type(ref).__name__}")
    candidate = _split_reference(ref, allowed, Path(base) if base is not None else None)
    try:
        resolved = candidate.resolve(strict=False)
    except (OSError, RuntimeError, ValueError):  # symlink loops, ENAMETOOLONG, embedded NUL
        raise _reject("dataset reference cannot be resolved") from None
    root = allowed.require_inside(resolved, what="dataset reference")
    if must_exist and not resolved.exists():
        raise DatasetNotFoundError(f"no dataset at {ref!r}", param="ref")
    return ResolvedRef(ref=ref, path=resolved, root=root)


def check_relative_member(
    member: str, base_dir: Path, roots: RootsLike, *, what: str = "manifest entry"
) -> Path:
    """Resolve a path *inside* a dataset (a manifest row) against ``base_dir`` and keep it in the roots.

    Unlike top-level references, ``..`` is allowed here (``../images/a.png`` next to a ``manifests/``
    folder is common) because the resolved result is checked against the roots anyway; absolute paths,
    URLs, backslashes, drive letters and control characters are refused.

    Raises:
        PathNotAllowedError: the entry is malformed or escapes every allowed root.
    """
    allowed = AllowedRoots.of(roots)
    _lexical_checks(member, allowed, what=what)
    if _SCHEME.match(member) or member.startswith("/"):
        raise _reject(f"{what} must be a path relative to the manifest's folder")
    posix = PurePosixPath(member)
    _check_components(posix.parts, allowed, allow_parent=True)
    try:
        resolved = base_dir.joinpath(*posix.parts).resolve(strict=False)
    except (OSError, RuntimeError, ValueError):
        raise _reject(f"{what} cannot be resolved") from None
    allowed.require_inside(resolved, what=what)
    return resolved
