"""``POST /v1/datasets``: archives become datasets; the escape and bomb corpus is refused, nothing escapes."""

from __future__ import annotations

import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.api.conftest import LiveApi
from tests.support.archives import (
    EVIL,
    SYMLINK_MODE,
    tar_folder,
    tar_member,
    tar_of_empty_files,
    tar_symlink_then_write,
    zip_bomb,
    zip_folder,
    zip_members,
)
from tests.support.service import write_image_folder

pytestmark = pytest.mark.slow

PROBLEM = "application/problem+json"


def post(live: LiveApi, body: bytes) -> httpx.Response:
    with live.http() as http:
        return http.post("/v1/datasets", content=body, headers={"Content-Type": "application/octet-stream"})


def uploads_root(live: LiveApi) -> Path:
    return live.home / "uploads"


def snapshot(folder: Path) -> set[str]:
    """Every path under ``folder`` (the extraction folder's leftovers would show here)."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")} if folder.exists() else set()


def escaped(live: LiveApi) -> list[Path]:
    """Files named :data:`EVIL` anywhere a hostile member could have pointed at."""
    places = [live.home.parent, Path("/tmp"), Path("/etc"), Path.cwd()]
    return [p / EVIL for p in places if (p / EVIL).exists()] + list(live.home.parent.rglob(EVIL))


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("upload_src") / "shapes", per_class=6, size=16)


def test_a_zipped_image_folder_becomes_a_rankable_dataset(live: LiveApi, images: Path) -> None:
    r = post(live, zip_folder(images, prefix="shapes/"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["reference"] == f"uploads:{body['upload_id']}/shapes"
    assert body["files"] == 18
    summary = body["summary"]
    assert (summary["num_samples"], summary["num_classes"], summary["corrupt"]) == (18, 3, 0)
    assert body["expires_at"] > time.time() + 3600
    with live.http() as http:
        inspected = http.post("/v1/datasets/inspect", json={"dataset": body["reference"], "decode": False})
        assert inspected.status_code == 200 and inspected.json()["fingerprint"] == summary["fingerprint"]
        job = http.post(
            "/v1/rankings",
            json={"dataset": body["reference"], "models": ["cnn4.glyphs"], "scorers": ["logme"]},
        ).json()
        deadline = time.monotonic() + 120
        while job["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(0.3)
            job = http.get(f"/v1/jobs/{job['id']}").json()
    assert job["status"] == "succeeded", job


def test_a_gzipped_tar_with_a_csv_manifest_is_referenced_by_its_manifest(
    live: LiveApi, tmp_path: Path
) -> None:
    folder = write_image_folder(tmp_path / "m", per_class=4, size=16)
    rows = ["path,label"] + [
        f"{p.relative_to(folder).as_posix()},{p.parent.name}" for p in sorted(folder.rglob("*.png"))
    ]
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    r = post(live, tar_folder(folder))
    assert r.status_code == 201, r.text
    assert r.json()["reference"].endswith("/labels.csv")
    assert r.json()["summary"]["reader"] != "imagefolder"


CORPUS: dict[str, Callable[[], bytes]] = {
    "zip absolute path": lambda: zip_members(f"/tmp/{EVIL}", "c/a.png"),
    "zip dot-dot": lambda: zip_members(f"../{EVIL}", "c/a.png"),
    "zip nested dot-dot": lambda: zip_members(f"a/b/../../../{EVIL}"),
    "zip backslash": lambda: zip_members(f"..\\{EVIL}"),
    "zip drive letter": lambda: zip_members(f"C:/{EVIL}"),
    "zip symlink": lambda: zip_members(f"c/{EVIL}", data=b"/etc/passwd", mode=SYMLINK_MODE),
    "zip duplicate member": lambda: zip_members("c/a.png", "c/d.png", "c/a.png"),
    "zip bomb": lambda: zip_bomb(64),
    "tar absolute path": lambda: tar_member(f"/tmp/{EVIL}"),
    "tar dot-dot": lambda: tar_member(f"imgs/../../{EVIL}"),
    "tar symlink": lambda: tar_member("imgs/etc", tarfile.SYMTYPE, link="/etc"),
    "tar symlink then write": tar_symlink_then_write,
    "tar hard link": lambda: tar_member(f"imgs/{EVIL}", tarfile.LNKTYPE, link="/etc/passwd"),
    "tar character device": lambda: tar_member("imgs/null", tarfile.CHRTYPE),
    "tar block device": lambda: tar_member("imgs/sda", tarfile.BLKTYPE),
    "tar fifo": lambda: tar_member("imgs/pipe", tarfile.FIFOTYPE),
    "tar with 100,000 empty files": lambda: tar_of_empty_files(100_000),
    "not an archive": lambda: os.urandom(4096),
    "empty body": lambda: b"",
    "no images": lambda: zip_members("readme.txt", "notes/todo.md"),
    "images that do not decode": lambda: zip_members("a/1.png", "a/2.png", "b/1.png", "b/2.png"),
}
EXPECTED: dict[str, tuple[int, str]] = {
    "zip bomb": (422, "limit-exceeded"),
    "tar with 100,000 empty files": (422, "limit-exceeded"),
}


@pytest.mark.parametrize("case", list(CORPUS))
def test_the_escape_and_bomb_corpus_is_refused_and_nothing_is_written(live: LiveApi, case: str) -> None:
    before = snapshot(uploads_root(live))
    r = post(live, CORPUS[case]())
    status, code = EXPECTED.get(case, (422, "upload-refused"))
    assert (r.status_code, r.headers["content-type"]) == (status, PROBLEM), r.text
    problem: dict[str, Any] = r.json()
    assert problem["type"] == f"urn:zoorank:problem:{code}", problem
    assert snapshot(uploads_root(live)) - before <= {".incoming"}  # nothing left, not even the part file
    assert escaped(live) == []


def test_an_archive_over_the_size_cap_is_refused_while_it_streams(live: LiveApi) -> None:
    def body() -> Any:
        chunk = bytes(1 << 20)
        for _ in range(70):  # 70 MiB, sent chunked (no Content-Length): counted as it arrives
            yield chunk

    before = snapshot(uploads_root(live))
    with live.http() as http:
        r = http.post("/v1/datasets", content=body())
    assert (r.status_code, r.headers["content-type"]) == (413, PROBLEM), r.text
    assert r.json()["type"] == "urn:zoorank:problem:body-too-large"
    assert "ZOORANK_UPLOAD_MAX_BYTES" in r.json()["detail"]
    deadline = time.monotonic() + 10  # the server removes the part file when it sees the disconnect
    while snapshot(uploads_root(live)) - before - {".incoming"} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert snapshot(uploads_root(live)) - before <= {".incoming"}


def test_uploads_need_the_api_key(live: LiveApi, images: Path) -> None:
    with live.http(**{"X-API-Key": ""}) as http:
        r = http.post("/v1/datasets", content=zip_folder(images))
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM


def test_the_generated_client_uploads_an_archive(live: LiveApi, images: Path) -> None:
    import io

    from zoorank_client.api.datasets import upload_dataset
    from zoorank_client.models import UploadedDataset
    from zoorank_client.types import File

    answer = upload_dataset.sync_detailed(
        client=live.client(),
        body=File(payload=io.BytesIO(tar_folder(images, prefix="birds/")), file_name="birds.tar.gz"),
    )
    assert answer.status_code == 201, answer.content
    assert isinstance(answer.parsed, UploadedDataset)
    assert answer.parsed.reference.endswith("/birds") and answer.parsed.summary.num_classes == 3
