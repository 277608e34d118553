"""Dataset references: the path-traversal corpus and property of reliability.md §B7."""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo.datasets.refs import AllowedRoots, check_relative_member, resolve_reference
from zoo.errors import DatasetError, DatasetNotFoundError, PathNotAllowedError


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``top/data`` is the allowed root; ``top/outside``, ``top/data2`` and ``/etc`` are not.

    Planted inside the root: symlinks that escape (to a file, a folder, through a chain, to the
    parent), and a legitimate dataset folder ``ok``. ``a`` is an escaping symlink too, so that the
    Hypothesis property (whose alphabet contains ``a``) keeps running into it.
    """
    top = tmp_path_factory.mktemp("refs")
    root, outside, sibling = top / "data", top / "outside", top / "data2"
    for d in (root, outside, sibling, root / "ok" / "cat"):
        d.mkdir(parents=True)
    (outside / "secret.txt").write_text("secret")
    (sibling / "file").write_text("sibling")
    (root / "ok" / "cat" / "x.png").write_bytes(b"png")
    (root / "escape").symlink_to(outside)
    (root / "a").symlink_to(outside)
    (root / "secret_link").symlink_to(outside / "secret.txt")
    (root / "up").symlink_to(top)
    (root / "chain2").symlink_to(outside)
    (root / "chain1").symlink_to(root / "chain2")
    (root / "rel_escape").symlink_to(Path("..") / "outside")
    (root / "passwd_link").symlink_to("/etc/passwd")
    return {"top": top, "root": root, "outside": outside, "sibling": sibling}


def _payloads(top: Path) -> list[str]:
    t = str(top)
    return [
        # classic traversal
        "../../etc/passwd",
        "..",
        "../",
        "./../x",
        "a/../../x",
        "data/../../x",
        "data/./../x",
        "./data/../../etc",
        "ok/../../outside/secret.txt",
        "data/ok/../../../outside",
        # absolute paths outside the roots
        "/etc/passwd",
        "/",
        "//etc/passwd",
        "/proc/self/environ",
        "/dev/zero",
        f"{t}/outside/secret.txt",
        f"{t}/data2/file",  # shares the root's string prefix: must not pass a startswith() check
        f"{t}/data/../outside",
        # encodings: never decoded outside file:// URLs, never decoded twice inside them
        "%2e%2e%2fetc",
        "%2e%2e/%2e%2e/etc/passwd",
        "..%2f..%2fetc",
        "..%5c..%5cwin.ini",
        "%252e%252e%252f",
        "%c0%ae%c0%ae/etc",
        "%2fetc%2fpasswd",
        "data/%00",
        "data/..%2f..%2fetc",
        # Windows separators and drives
        "..\\..\\win.ini",
        "data\\..\\..\\x",
        "C:\\Windows\\win.ini",
        "C:/Windows/win.ini",
        "c:",
        "\\\\server\\share\\x",
        # NUL and control characters
        "\x00",
        "data/\x00/x",
        "ok\x00.png",
        "data/a\nb",
        "data/\x1b[31m",
        "\x7f",
        # empty and blank
        "",
        "   ",
        # home shorthand is never expanded
        "~root",
        "~",
        "~/.ssh/id_rsa",
        # overlong
        "a" * 5000,
        "data/" + "a/" * 600,
        "data/" + "b" * 256,
        "data/" + "é" * 200,
        # URLs
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "file://evil.example/etc/passwd",
        "file://localhost/etc/passwd",
        "file:///%2e%2e/etc",
        f"file://{t}/data%2F..%2F..%2Fetc",
        f"file://{t}/data/%252e%252e/x",
        f"file://{t}/data/../outside",
        f"file://{t}/outside/secret.txt",
        f"file://{t}/data2/file",
        f"file://{t}/data/escape",
        f"file://{t}/data/ok?x=1",
        f"file://{t}/data/ok#frag",
        "file:/etc/passwd",
        "http://example.com/data.zip",
        "s3://bucket/key",
        "javascript:alert(1)",
        # symlinks planted inside the root that point outside
        "escape",
        "escape/secret.txt",
        "data/escape",
        "data/a",
        "secret_link",
        "up",
        "up/outside/secret.txt",
        "chain1",
        "chain1/secret.txt",
        "rel_escape",
        "passwd_link",
        f"{t}/data/escape/secret.txt",
    ]


@pytest.fixture
def no_open(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record every attempt to open a file (``open``, ``io.open``, ``os.open``) during the test."""
    opened: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file: object, *args: object, **kwargs: object) -> object:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    def spy_os_open(path: object, *args: object, **kwargs: object) -> int:
        opened.append(str(path))
        return real_os_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    yield opened


def test_corpus_has_at_least_60_payloads(layout: dict[str, Path]) -> None:
    payloads = _payloads(layout["top"])
    assert len(payloads) >= 60
    assert len(set(payloads)) == len(payloads)


@pytest.mark.parametrize("index", range(len(_payloads(Path("/placeholder")))))
def test_traversal_payload_is_rejected_without_opening_anything(
    layout: dict[str, Path], no_open: list[str], index: int
) -> None:
    payload = _payloads(layout["top"])[index]
    roots = {"data": layout["root"]}
    # Both the CLI mode (relative references resolve against the root) and the service mode (no base).
    for base in (layout["root"], None):
        with pytest.raises(PathNotAllowedError):
            resolve_reference(payload, roots, base=base)
    assert no_open == [], f"{payload!r} opened {no_open}"


def test_legitimate_references_resolve(layout: dict[str, Path]) -> None:
    root = layout["root"].resolve()
    roots = {"data": layout["root"]}
    expected = root / "ok"
    assert resolve_reference("data/ok", roots).path == expected
    assert resolve_reference("data/./ok/", roots).path == expected
    assert resolve_reference("ok", roots, base=layout["root"]).path == expected
    assert resolve_reference(str(layout["root"] / "ok"), roots).path == expected
    assert resolve_reference(f"file://{layout['root']}/ok", roots).path == expected
    assert resolve_reference(f"file://localhost{layout['root']}/o%6B", roots).path == expected  # decoded once
    ref = resolve_reference("ok/cat/x.png", [layout["root"]], base=layout["root"])
    assert ref.root == root and ref.path == root / "ok" / "cat" / "x.png"


def test_unnamed_roots_need_a_base_for_relative_references(layout: dict[str, Path]) -> None:
    with pytest.raises(PathNotAllowedError, match="root name"):
        resolve_reference("ok", [layout["root"]])
    assert resolve_reference("ok", [layout["root"]], base=layout["root"]).path.name == "ok"


def test_base_outside_the_roots_does_not_widen_them(layout: dict[str, Path]) -> None:
    with pytest.raises(PathNotAllowedError):
        resolve_reference("secret.txt", [layout["root"]], base=layout["outside"])


def test_missing_but_allowed_is_not_found_not_forbidden(layout: dict[str, Path]) -> None:
    with pytest.raises(DatasetNotFoundError):
        resolve_reference("data/nope", {"data": layout["root"]})
    ref = resolve_reference("data/nope", {"data": layout["root"]}, must_exist=False)
    assert ref.path == layout["root"].resolve() / "nope"


def test_symlink_loop_is_a_dataset_error(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(DatasetError):
        resolve_reference("loop", [tmp_path], base=tmp_path)


def test_limits_are_parameters(layout: dict[str, Path]) -> None:
    roots = AllowedRoots.of({"data": layout["root"]}, max_length=12)
    assert resolve_reference("data/ok", roots).path.name == "ok"
    with pytest.raises(PathNotAllowedError, match="limit is 12"):
        resolve_reference("data/ok/cat/x.png", roots)
    tight = AllowedRoots.of({"data": layout["root"]}, max_component_bytes=2)
    with pytest.raises(PathNotAllowedError, match="limit is 2"):
        resolve_reference("data/ok/cat", tight)


def test_roots_must_be_absolute_and_named_sanely(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute"):
        AllowedRoots.of(["relative/dir"])
    with pytest.raises(ValueError, match="root name"):
        AllowedRoots.of({"../x": tmp_path})
    with pytest.raises(ValueError, match="at least one"):
        AllowedRoots.of([])
    assert AllowedRoots.of(str(tmp_path)).paths == (tmp_path.resolve(),)  # one string is one root


@pytest.mark.parametrize(
    "member",
    ["/etc/passwd", "../../outside/secret.txt", "../../../etc/passwd", "file:///etc/passwd", "a\\b", "x\x00"],
)
def test_manifest_members_stay_inside_the_roots(layout: dict[str, Path], member: str) -> None:
    with pytest.raises(PathNotAllowedError):
        check_relative_member(member, layout["root"] / "ok", [layout["root"]])


def test_manifest_members_may_use_dotdot_inside_the_root(layout: dict[str, Path]) -> None:
    got = check_relative_member("../ok/cat/x.png", layout["root"] / "ok", [layout["root"]])
    assert got == layout["root"].resolve() / "ok" / "cat" / "x.png"
    with pytest.raises(PathNotAllowedError):  # an escaping symlink is caught after resolution
        check_relative_member("../escape/secret.txt", layout["root"] / "ok", [layout["root"]])


@settings(
    max_examples=2000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=st.text(alphabet="./\\a%0~\x00", max_size=40))
def test_property_rejected_or_under_the_root(layout: dict[str, Path], text: str) -> None:
    root = layout["root"].resolve()
    for ref, base in ((f"data/{text}", None), (text, layout["root"])):
        try:
            got = resolve_reference(ref, {"data": layout["root"]}, base=base, must_exist=False)
        except PathNotAllowedError:
            continue
        assert got.path.is_relative_to(root), (ref, got.path)
        # Whatever exists there must really be inside (the planted 'a' symlink must never pass).
        assert got.path.resolve().is_relative_to(root)


def test_colon_form_names_a_root(layout: dict[str, Path]) -> None:
    root = layout["root"].resolve()
    roots = {"data": layout["root"]}
    assert resolve_reference("data:ok", roots).path == root / "ok"
    assert resolve_reference("data:ok/cat/x.png", roots).path == root / "ok" / "cat" / "x.png"
    assert resolve_reference("data:", roots).path == root  # the root itself
    assert resolve_reference("data:ok", roots, base=layout["outside"]).root == root


@pytest.mark.parametrize(
    "payload",
    [
        "data:../outside",
        "data:ok/../../outside",
        "data:/etc/passwd",
        "data:%2e%2e/outside",
        "data:~/x",
        "data:escape",
        "data:escape/secret.txt",
        "data:chain1",
        "data:ok\\..\\..",
        "data:ok\x00",
        "nope:ok",
        "outside:secret.txt",
        "c:ok",
    ],
)
def test_colon_form_cannot_escape_or_invent_roots(
    layout: dict[str, Path], no_open: list[str], payload: str
) -> None:
    roots = {"data": layout["root"], "c": layout["root"]}  # 'c:' stays a refused drive letter
    for base in (layout["root"], None):
        with pytest.raises(PathNotAllowedError):
            resolve_reference(payload, roots, base=base)
    assert no_open == []


def test_unknown_root_name_lists_the_configured_ones(layout: dict[str, Path]) -> None:
    with pytest.raises(PathNotAllowedError, match="one of: data"):
        resolve_reference("imagenet:train", {"data": layout["root"]})
