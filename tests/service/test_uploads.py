"""Uploads in process: expiry, and the upload sink's cap (the HTTP corpus lives in tests/service/api)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from service.errors import BodyTooLargeError, LimitExceededError
from service.settings import Settings
from service.uploads import INCOMING, UploadSink, _zip_entry_count, purge_expired, store_upload
from tests.support.archives import zip_folder, zip_members
from tests.support.service import write_image_folder


@pytest.fixture
def upload_settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home", data_roots=(tmp_path / "data",), upload_ttl_s=3600, upload_max_bytes=4096
    )


def _store(settings: Settings, body: bytes) -> dict[str, object]:
    sink = UploadSink(settings)
    sink.write(body)
    return store_upload(sink)


def test_uploads_expire_after_the_ttl_and_fresh_ones_stay(upload_settings: Settings, tmp_path: Path) -> None:
    images = write_image_folder(tmp_path / "src", per_class=3, size=8)
    settings = upload_settings.with_overrides(upload_max_bytes=1 << 20)
    old, fresh = _store(settings, zip_folder(images)), _store(settings, zip_folder(images))
    root = settings.uploads_root
    stale_part = root / INCOMING / "abandoned.part"
    stale_part.write_bytes(b"half an upload")
    long_ago = time.time() - 7200
    for path in (root / str(old["upload_id"]), stale_part):
        os.utime(path, (long_ago, long_ago))
    assert sorted(purge_expired(settings)) == sorted([str(old["upload_id"]), "abandoned.part"])
    assert sorted(p.name for p in root.iterdir()) == sorted([INCOMING, str(fresh["upload_id"])])
    assert purge_expired(settings, now=time.time() + 3601) == [str(fresh["upload_id"])]


def test_the_sink_refuses_past_the_cap_and_leaves_nothing(upload_settings: Settings) -> None:
    sink = UploadSink(upload_settings)
    sink.write(bytes(4096))
    with pytest.raises(BodyTooLargeError, match="ZOORANK_UPLOAD_MAX_BYTES"):
        sink.write(b"1")
    assert list((upload_settings.uploads_root / INCOMING).iterdir()) == []


@pytest.mark.parametrize("members", [11, 70_000])  # 70,000 > 0xFFFF: the count sits in the zip64 record
def test_a_zip_with_too_many_members_is_refused_from_its_declared_count(
    upload_settings: Settings, members: int
) -> None:
    body = zip_members(*(f"c/{i:06d}.png" for i in range(members)), data=b"")
    settings = upload_settings.with_overrides(upload_max_files=10, upload_max_bytes=64 << 20)
    part = settings.uploads_root / "count.zip"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(body)
    assert _zip_entry_count(part) == members
    with pytest.raises(LimitExceededError, match="ZOORANK_UPLOAD_MAX_FILES"):
        _store(settings, body)
    assert sorted(p.name for p in settings.uploads_root.iterdir()) == [INCOMING, "count.zip"]
    assert list((settings.uploads_root / INCOMING).iterdir()) == []
