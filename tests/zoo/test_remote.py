"""Object-storage datasets against a real S3-compatible server (moto's server mode, ``s3`` fixture)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from estimators.errors import LimitExceededError
from service.jobs.redis_server import free_port
from tests.support.s3 import S3Bucket
from tests.support.service import write_image_folder
from zoo.datasets.remote import (
    RemoteLocation,
    RemoteOptions,
    _filesystem,
    check_root_url,
    list_remote,
    mirror,
    open_remote_dataset,
    resolve_remote,
)
from zoo.errors import (
    DatasetFormatError,
    DatasetNotFoundError,
    ImageLimitError,
    PathNotAllowedError,
    StorageError,
)

ROOTS = {"lake": "s3://bucket-a/pre/fix"}


@pytest.mark.parametrize(
    "ref",
    [
        "lake:../x",
        "lake:a/../../x",
        "lake:a/..",
        "lake:/abs/path",
        "lake:./a",
        "lake:a//b",
        "lake:a%2F..%2F..%2Fb",
        "lake:%2e%2e/b",
        "lake:a\\..\\b",
        "lake:s3://bucket-b/x",
        "lake://bucket-b/x",
        "lake:~/x",
        "lake:a\x00b",
        "lake:" + "a" * 300,
    ],
)
def test_references_cannot_leave_their_root(ref: str) -> None:
    with pytest.raises(PathNotAllowedError):
        resolve_remote(ref, ROOTS)


def test_references_resolve_under_the_root_prefix() -> None:
    loc = resolve_remote("lake:a/b c/d.csv", ROOTS)
    assert loc is not None
    assert loc.url == "s3://bucket-a/pre/fix/a/b c/d.csv" and loc.root == "lake"
    root = resolve_remote("lake:", ROOTS)
    assert root is not None and root.url == "s3://bucket-a/pre/fix"
    assert resolve_remote("data:a/b", ROOTS) is None  # another root: the local resolver's business
    assert resolve_remote("/abs/path", ROOTS) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://bucket-a/x",
        "s3://key:secret@bucket-a/x",
        "s3://bucket-a:9000/x",
        "s3://bucket-a/x?versionId=1",
        "s3://bucket-a/a/../b",
        "s3://bucket-a/a%2Fb",
        "s3://Bad_Bucket/x",
        "s3://",
    ],
)
def test_invalid_root_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        check_root_url(url)


def test_root_urls_are_normalised() -> None:
    assert check_root_url("S3://bucket-a/pre/fix/") == "s3://bucket-a/pre/fix"
    assert check_root_url("s3://bucket-a") == "s3://bucket-a"


def _location(s3: S3Bucket, ref: str) -> RemoteLocation:
    loc = resolve_remote(ref, {"lake": f"s3://{s3.name}/pre"})
    assert loc is not None
    return loc


def test_listing_fingerprint_and_mirror_fetch_only_what_changed(s3: S3Bucket, tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "shapes", per_class=3)
    keys = s3.upload_folder(folder, "pre/shapes")
    options = RemoteOptions(cache_dir=tmp_path / "cache", threads=4)
    loc = _location(s3, "lake:shapes")
    fs = _filesystem(loc.url)

    url, member, objects = list_remote(fs, loc, options)
    assert member == "" and len(objects) == len(keys) == 9
    data, fetched = mirror(fs, loc, url, objects, options)
    assert fetched == 9
    assert (data / "circle" / "000.png").read_bytes() == (folder / "circle" / "000.png").read_bytes()
    inode = (data / "square" / "001.png").stat().st_ino

    _, first = open_remote_dataset(loc, options, max_files=1000, max_image_pixels=10**6)
    _, again = open_remote_dataset(loc, options, max_files=1000, max_image_pixels=10**6)
    assert first == again
    url, _, objects = list_remote(fs, loc, options)
    assert mirror(fs, loc, url, objects, options)[1] == 0  # nothing changed: nothing fetched
    assert (data / "square" / "001.png").stat().st_ino == inode

    new = (folder / "circle" / "001.png").read_bytes()
    s3.client.put_object(Bucket=s3.name, Key="pre/shapes/square/001.png", Body=new)
    s3.client.delete_object(Bucket=s3.name, Key="pre/shapes/stripes/002.png")
    ds, changed = open_remote_dataset(loc, options, max_files=1000, max_image_pixels=10**6)
    assert changed != first
    assert (data / "square" / "001.png").read_bytes() == new
    assert not (data / "stripes" / "002.png").exists()
    assert len(ds) == 8
    url, _, objects = list_remote(fs, loc, options)
    assert mirror(fs, loc, url, objects, options)[1] == 0


def test_an_object_changed_after_the_listing_is_not_mirrored(s3: S3Bucket, tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "shapes", per_class=2)
    s3.upload_folder(folder, "pre/shapes")
    options = RemoteOptions(cache_dir=tmp_path / "cache")
    loc = _location(s3, "lake:shapes")
    fs = _filesystem(loc.url)
    url, _, listed = list_remote(fs, loc, options)
    body = bytearray((folder / "circle" / "000.png").read_bytes())
    body[len(body) // 2] ^= 0xFF  # same size, other content: only the ETag tells
    s3.client.put_object(Bucket=s3.name, Key="pre/shapes/circle/000.png", Body=bytes(body))
    with pytest.raises(StorageError, match="changed"):
        mirror(fs, loc, url, listed, options)
    fresh = list_remote(fs, loc, options)[2]
    data, fetched = mirror(fs, loc, url, fresh, options)  # the failure stopped the other fetches too
    assert fetched >= 1 and (data / "circle" / "000.png").read_bytes() == bytes(body)
    assert mirror(fs, loc, url, fresh, options)[1] == 0


@pytest.mark.parametrize("key", ["a/../../../escape.png", "a//b.png", "./c.png"])
def test_object_keys_that_cannot_be_safe_local_paths_are_refused(
    s3: S3Bucket, tmp_path: Path, key: str
) -> None:
    s3.upload_folder(write_image_folder(tmp_path / "shapes", per_class=2), "pre/shapes")
    s3.client.put_object(Bucket=s3.name, Key=f"pre/shapes/{key}", Body=b"not an image")
    cache = tmp_path / "cache"
    with pytest.raises(DatasetFormatError, match="cannot be a local path"):
        open_remote_dataset(
            _location(s3, "lake:shapes"),
            RemoteOptions(cache_dir=cache),
            max_files=100,
            max_image_pixels=10**6,
        )
    assert not (tmp_path / "escape.png").exists() and not cache.exists()


def test_the_time_limit_stops_listing_and_mirroring(s3: S3Bucket, tmp_path: Path) -> None:
    s3.upload_folder(write_image_folder(tmp_path / "shapes", per_class=2), "pre/shapes")
    options = RemoteOptions(cache_dir=tmp_path / "cache")
    loc = _location(s3, "lake:shapes")
    fs = _filesystem(loc.url)
    url, _, objects = list_remote(fs, loc, options)
    with pytest.raises(StorageError, match="ZOORANK_REMOTE_TIMEOUT_S"):
        mirror(fs, loc, url, objects, replace(options, timeout_s=1e-9))
    with pytest.raises(StorageError, match="ZOORANK_REMOTE_TIMEOUT_S"):
        open_remote_dataset(loc, replace(options, timeout_s=1e-9), max_files=100, max_image_pixels=10**6)


def test_a_manifest_in_object_storage_is_read_with_its_folder(s3: S3Bucket, tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "ds" / "images", per_class=2)
    rows = ["path,label"] + [
        f"images/{p.parent.name}/{p.name},{p.parent.name}" for p in sorted(folder.rglob("*.png"))
    ]
    (tmp_path / "ds" / "train.csv").write_text("\n".join(rows) + "\n")
    s3.upload_folder(tmp_path / "ds", "pre/ds")
    options = RemoteOptions(cache_dir=tmp_path / "cache")
    ds, digest = open_remote_dataset(
        _location(s3, "lake:ds/train.csv"), options, max_files=1000, max_image_pixels=10**6
    )
    assert ds.format == "manifest" and len(ds) == 6 and ds.classes == ("circle", "square", "stripes")
    ds2, digest2 = open_remote_dataset(
        _location(s3, "lake:ds"), options, max_files=1000, max_image_pixels=10**6
    )
    assert digest2 != digest  # the same listing read as another dataset (the folder, not the manifest)


@pytest.mark.parametrize(("max_files", "max_bytes"), [(5, 10**9), (1000, 2000)])
def test_limits_are_checked_on_the_listing_before_any_download(
    s3: S3Bucket, tmp_path: Path, max_files: int, max_bytes: int
) -> None:
    s3.upload_folder(write_image_folder(tmp_path / "shapes", per_class=3), "pre/shapes")
    cache = tmp_path / "cache"
    options = RemoteOptions(cache_dir=cache, max_files=max_files, max_bytes=max_bytes)
    with pytest.raises(LimitExceededError):
        open_remote_dataset(_location(s3, "lake:shapes"), options, max_files=1000, max_image_pixels=10**6)
    assert not cache.exists() or not [p for p in cache.rglob("*") if p.is_file()]


def test_pixel_limit_applies_when_mirrored_images_are_decoded(s3: S3Bucket, tmp_path: Path) -> None:
    s3.upload_folder(write_image_folder(tmp_path / "shapes", per_class=2, size=16), "pre/shapes")
    options = RemoteOptions(cache_dir=tmp_path / "cache")
    ds, _ = open_remote_dataset(_location(s3, "lake:shapes"), options, max_files=1000, max_image_pixels=100)
    with pytest.raises(ImageLimitError):
        ds.load_image(0)


def test_missing_dataset_and_unreachable_storage_are_typed(
    s3: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = RemoteOptions(cache_dir=tmp_path / "cache")
    with pytest.raises(DatasetNotFoundError):
        open_remote_dataset(_location(s3, "lake:nothing/here"), options, max_files=10, max_image_pixels=100)
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(StorageError) as info:
        open_remote_dataset(_location(s3, "lake:shapes"), options, max_files=10, max_image_pixels=100)
    assert "127.0.0.1" not in info.value.message and "testing" not in info.value.message
    assert info.value.code == "storage-error"


def test_least_recently_used_mirrors_are_evicted_over_the_cap(s3: S3Bucket, tmp_path: Path) -> None:
    s3.upload_folder(write_image_folder(tmp_path / "a", per_class=2), "pre/a")
    s3.upload_folder(write_image_folder(tmp_path / "b", per_class=2, seed=1), "pre/b")
    cache = tmp_path / "cache"
    options = RemoteOptions(cache_dir=cache, cache_bytes=6000)  # one 6-image mirror (~4.6 kB) fits
    open_remote_dataset(_location(s3, "lake:a"), options, max_files=100, max_image_pixels=10**6)
    assert len(list(cache.rglob("*.png"))) == 6
    ds, _ = open_remote_dataset(_location(s3, "lake:b"), options, max_files=100, max_image_pixels=10**6)
    pngs = list(cache.rglob("*.png"))
    assert len(pngs) == 6 and all(p.is_relative_to(ds.location) for p in pngs)
