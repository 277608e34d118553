"""Dataset readers, image decoding limits, fingerprints with their stat cache, and ``prepare``."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import struct
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from estimators.errors import DuplicateRegistrationError
from zoo.datasets import (
    READERS,
    AllowedRoots,
    Dataset,
    StatCache,
    convert_channels,
    decode_image,
    fingerprint,
    open_dataset,
    register_reader,
)
from zoo.datasets import prepare as prep_mod
from zoo.datasets.fingerprints import stat_signature
from zoo.datasets.readers import ImageFolderReader
from zoo.errors import (
    DatasetError,
    DatasetFormatError,
    DatasetNotFoundError,
    ImageLimitError,
    PathNotAllowedError,
    UnknownDatasetReaderError,
    UnreadableImageError,
)

OLD = time.time() - 3600  # mtime for files that the stat cache may remember (older than its racy window)


def _png(path: Path, value: int = 0, size: tuple[int, int] = (6, 4), mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    color: int | tuple[int, ...] = value if mode == "L" else (value, 255 - value, value // 2)
    Image.new(mode, size, color).save(path)
    os.utime(path, (OLD, OLD))
    return path


def _folder(root: Path, spec: dict[str, int]) -> Path:
    """ImageFolder under ``root`` with ``spec[class]`` PNGs per class, distinct pixel values."""
    v = 0
    for cls, n in spec.items():
        for i in range(n):
            _png(root / cls / f"img{i:02d}.png", value=v)
            v += 7
    return root


def _open(ref: str, root: Path, **kw: object) -> Dataset:
    return open_dataset(ref, [root], base=root, **kw)  # type: ignore[arg-type]


# -- image folders ----------------------------------------------------------------------------------


def test_imagefolder_layout_order_and_labels(tmp_path: Path) -> None:
    ds_dir = _folder(tmp_path / "ds", {"zebra": 2, "cat": 3})
    _png(ds_dir / "cat" / "nested" / "deep.png", 200)  # found recursively
    (ds_dir / "cat" / "notes.txt").write_text("not an image")  # other extensions ignored
    _png(ds_dir / "cat" / ".hidden.png")  # hidden files skipped
    (ds_dir / ".git").mkdir()  # hidden folders are not classes
    ds = _open("ds", tmp_path)
    assert ds.format == "imagefolder" and ds.classes == ("cat", "zebra")
    assert list(ds.keys) == sorted(ds.keys)
    assert ds.keys[0] == "cat/img00.png" and "cat/nested/deep.png" in ds.keys
    assert ds.class_counts() == {"cat": 4, "zebra": 2}
    assert [ds.classes[label] for label in ds.labels] == [k.split("/")[0] for k in ds.keys]
    assert np.asarray(ds.load_image(ds.keys.index("cat/nested/deep.png"))).max() == 200


def test_imagefolder_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetFormatError, match="no class folders"):
        _open("empty", tmp_path)
    _folder(tmp_path / "half", {"a": 1})
    (tmp_path / "half" / "b").mkdir()
    with pytest.raises(DatasetFormatError, match="'b' contains no"):
        _open("half", tmp_path)
    _folder(tmp_path / "many", {"a": 3})
    with pytest.raises(DatasetFormatError, match="more than 2"):
        _open("many", tmp_path, max_files=2)
    with pytest.raises(DatasetFormatError, match="limit is 0"):
        _open("many", tmp_path, max_classes=0)
    with pytest.raises(DatasetNotFoundError):
        _open("missing", tmp_path)


def test_imagefolder_symlinks(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    ds_dir = _folder(root / "ds", {"a": 1})
    _png(outside / "evil.png")
    _folder(outside / "dir", {"x": 1})
    (ds_dir / "a" / "inside_link.png").symlink_to(ds_dir / "a" / "img00.png")
    (ds_dir / "a" / "linked_dir").symlink_to(outside / "dir")  # folders are not followed
    ds = _open("ds", root)
    assert ds.keys == ("a/img00.png", "a/inside_link.png")
    (ds_dir / "a" / "evil.png").symlink_to(outside / "evil.png")
    with pytest.raises(PathNotAllowedError):
        _open("ds", root)


def test_symlink_loops_refuse_the_dataset_with_a_typed_error(tmp_path: Path) -> None:
    root = tmp_path / "root"
    ds_dir = _folder(root / "ds", {"a": 1, "b": 1})
    (ds_dir / "a" / "self.png").symlink_to(ds_dir / "a" / "self.png")
    with pytest.raises(DatasetFormatError, match="'a/self.png' is a symlink loop"):
        _open("ds", root)
    (ds_dir / "a" / "self.png").unlink()
    (ds_dir / "b" / "x.png").symlink_to(ds_dir / "b" / "y.png")  # a two-link cycle
    (ds_dir / "b" / "y.png").symlink_to(ds_dir / "b" / "x.png")
    with pytest.raises(DatasetFormatError, match="symlink loop"):
        _open("ds", root)
    (root / "loop").symlink_to(root / "loop")  # the reference itself
    with pytest.raises(DatasetError):
        _open("loop", root)


def test_palette_transparency_decodes_without_warnings(tmp_path: Path) -> None:
    img = Image.new("P", (5, 5))
    img.putpalette([0, 0, 0, 255, 0, 0] * 128)
    img.save(tmp_path / "p.png", transparency=b"\x00\x01")  # tRNS as bytes: Pillow advises RGBA
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning on stderr would break `zoorank rank --quiet`
        got = convert_channels(decode_image(tmp_path / "p.png"), 3)
    assert got.mode == "RGB" and got.size == (5, 5)


def test_zero_size_npz_images_count_as_unreadable(tmp_path: Path) -> None:
    np.savez(tmp_path / "z.npz", images=np.zeros((4, 0, 5), np.uint8), labels=np.array([0, 1, 0, 1]))
    ds = _open("z.npz", tmp_path)
    for i in range(len(ds)):
        with pytest.raises(UnreadableImageError, match="empty"):
            ds.load_image(i)


# -- manifests ----------------------------------------------------------------------------------------


def test_csv_manifest_resolves_against_its_folder(tmp_path: Path) -> None:
    _folder(tmp_path / "images", {"a": 2, "b": 1})
    man = tmp_path / "manifests" / "train.csv"
    man.parent.mkdir()
    man.write_text(
        "label,path\n10,../images/a/img01.png\n2,../images/a/img00.png\n10,../images/b/img00.png\n"
    )
    ds = _open("manifests/train.csv", tmp_path)
    assert ds.format == "manifest"
    assert ds.classes == ("2", "10")  # integer names sort numerically
    assert ds.keys == ("../images/a/img00.png", "../images/a/img01.png", "../images/b/img00.png")
    assert ds.labels.tolist() == [0, 1, 1]


def test_manifest_row_order_does_not_matter(tmp_path: Path) -> None:
    _folder(tmp_path, {"a": 2, "b": 2})
    rows = ["a/img00.png,a", "b/img01.png,b", "a/img01.png,a", "b/img00.png,b"]
    (tmp_path / "one.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    (tmp_path / "two.csv").write_text("path,label\n" + "\n".join(reversed(rows)) + "\n")
    one, two = _open("one.csv", tmp_path), _open("two.csv", tmp_path)
    assert one.keys == two.keys and np.array_equal(one.labels, two.labels)
    assert fingerprint(one) == fingerprint(two)


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        ("path,label\n/etc/passwd,a\n", PathNotAllowedError, "relative"),
        ("path,label\n../../../etc/passwd,a\n", PathNotAllowedError, "outside"),
        ("path,label\na/img00.png,a\na/./img00.png,b\n", DatasetFormatError, "more than once"),
        ("file,label\na/img00.png,a\n", DatasetFormatError, "header"),
        ("path,label\na/img00.png,\n", DatasetFormatError, "empty"),
        ("path,label\na/img00.png,a,extra\n", DatasetFormatError, "fields"),
        ("path,label\n", DatasetFormatError, "no images"),
    ],
)
def test_csv_manifest_errors(tmp_path: Path, body: str, error: type[Exception], match: str) -> None:
    root = tmp_path / "root"
    _folder(root, {"a": 1})
    (root / "m.csv").write_text(body)
    with pytest.raises(error, match=match):
        _open("m.csv", root)


def test_manifest_size_limit(tmp_path: Path) -> None:
    _folder(tmp_path, {"a": 1})
    (tmp_path / "m.csv").write_text("path,label\na/img00.png,a\n")
    with pytest.raises(DatasetFormatError, match="limit is 10"):
        _open("m.csv", tmp_path, max_manifest_bytes=10)


def test_parquet_manifest(tmp_path: Path) -> None:
    _folder(tmp_path, {"a": 2, "b": 1})
    table = pa.table({"path": ["b/img00.png", "a/img00.png", "a/img01.png"], "label": [1, 0, 0]})
    pq.write_table(table, tmp_path / "m.parquet")
    ds = _open("m.parquet", tmp_path)
    assert ds.classes == ("0", "1") and ds.labels.tolist() == [0, 0, 1]
    pq.write_table(pa.table({"file": ["a/img00.png"]}), tmp_path / "bad.parquet")
    with pytest.raises(DatasetFormatError, match="path"):
        _open("bad.parquet", tmp_path)


# -- npz ------------------------------------------------------------------------------------------------


def test_npz_grey_and_colour(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (12, 5, 7), dtype=np.uint8)
    np.savez(tmp_path / "g.npz", images=grey, labels=np.array([3, 1] * 6))
    ds = _open("g.npz", tmp_path)
    assert ds.format == "npz" and ds.classes == ("1", "3") and len(ds) == 12
    assert ds.keys[:2] == ("00", "01") and ds.labels[:2].tolist() == [1, 0]
    assert np.array_equal(np.asarray(ds.load_image(5)), grey[5])
    colour = rng.integers(0, 256, (3, 4, 4, 3), dtype=np.uint8)
    classes = np.array(["cat", "dog"])
    np.savez_compressed(tmp_path / "c.npz", images=colour, labels=np.array([1, 0, 1]), classes=classes)
    ds = _open("c.npz", tmp_path)
    assert ds.classes == ("cat", "dog") and ds.labels.tolist() == [1, 0, 1]
    img = ds.load_image(2)
    assert img.mode == "RGB" and np.array_equal(np.asarray(img), colour[2])


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"images": np.zeros((2, 3, 3), np.float32), "labels": np.zeros(2, int)}, "uint8"),
        ({"images": np.zeros((2, 3, 3, 2), np.uint8), "labels": np.zeros(2, int)}, "C in"),
        ({"images": np.zeros((2, 3, 3), np.uint8), "labels": np.zeros(3, int)}, "labels"),
        ({"images": np.zeros((2, 3, 3), np.uint8)}, "'images' and 'labels'"),
        (
            {
                "images": np.zeros((2, 3, 3), np.uint8),
                "labels": np.array([0, 2]),
                "classes": np.array(["a", "b"]),
            },
            "index",
        ),
        (
            {"images": np.zeros((2, 3, 3), np.uint8), "labels": np.array([{"x": 1}, {}], dtype=object)},
            "pickle",
        ),
    ],
)
def test_npz_errors(tmp_path: Path, arrays: dict[str, np.ndarray], match: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)  # type: ignore[arg-type]
    with pytest.raises(DatasetFormatError, match=match):
        _open("bad.npz", tmp_path)


def test_npz_bomb_is_refused_from_the_header(tmp_path: Path) -> None:
    """A member whose .npy header declares 64 GB is refused before decompression starts."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (4096, 4096, 4096)}
    )
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("images.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\0" * 1024)
        zf.writestr("labels.npy", b"")
    started = time.perf_counter()
    with pytest.raises(DatasetFormatError, match="max_array_bytes|limit is"):
        _open("bomb.npz", tmp_path)
    assert time.perf_counter() - started < 2.0
    with pytest.raises(DatasetFormatError, match="limit is 10"):
        np.savez(tmp_path / "small.npz", images=np.zeros((2, 3, 3), np.uint8), labels=np.zeros(2, int))
        _open("small.npz", tmp_path, max_array_bytes=10)


# -- registry -------------------------------------------------------------------------------------------


def test_reader_registry(tmp_path: Path) -> None:
    assert READERS.names() == ["imagefolder", "manifest", "npz"]
    with pytest.raises(DuplicateRegistrationError):
        register_reader("imagefolder")(ImageFolderReader)
    _folder(tmp_path / "ds", {"a": 1})
    with pytest.raises(UnknownDatasetReaderError, match="imagefolder, manifest, npz"):
        _open("ds", tmp_path, reader="lmdb")
    (tmp_path / "x.txt").write_text("?")
    with pytest.raises(DatasetFormatError, match="cannot tell"):
        _open("x.txt", tmp_path)


# -- decoding -------------------------------------------------------------------------------------------


def _png_bytes_with_size(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose IHDR is patched to ``width x height`` with a correct CRC (§B8)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_png_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_bytes_with_size(60000, 60000))
    started = time.perf_counter()
    with pytest.raises(ImageLimitError):
        decode_image(bomb, max_pixels=40_000_000)
    assert time.perf_counter() - started < 2.0
    big = tmp_path / "big.png"  # below Pillow's own limit, above ours: our limit is what refuses it
    big.write_bytes(_png_bytes_with_size(5000, 5000))
    with pytest.raises(ImageLimitError, match="limit is 1000000"):
        decode_image(big, max_pixels=1_000_000)


def test_pixel_limit_boundary(tmp_path: Path) -> None:
    path = _png(tmp_path / "x.png", size=(10, 10))
    assert decode_image(path, max_pixels=100).size == (10, 10)
    with pytest.raises(ImageLimitError):
        decode_image(path, max_pixels=99)


def test_pillow_bomb_warning_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _png(tmp_path / "x.png", size=(40, 40))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # warns above 1000, errors above 2000
    with pytest.raises(ImageLimitError, match="bomb"):
        decode_image(path, max_pixels=10**9)


def test_unreadable_images(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    Image.new("RGB", (64, 64), (10, 200, 30)).save(good, quality=90)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:300])
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    gif = tmp_path / "anim.gif"
    Image.new("P", (4, 4)).save(gif)
    assert decode_image(good).size == (64, 64)
    for path in (truncated, garbage, gif, tmp_path / "missing.png"):
        with pytest.raises(UnreadableImageError):
            decode_image(path)
    assert decode_image(gif, formats=("GIF",)).size == (4, 4)  # allowed when asked for


def test_convert_channels() -> None:
    grey = Image.new("L", (2, 2), 77)
    rgb = convert_channels(grey, 3)
    assert rgb.mode == "RGB" and np.asarray(rgb).tolist() == [[[77, 77, 77]] * 2] * 2
    colour = Image.new("RGB", (2, 2), (200, 100, 50))
    assert np.asarray(convert_channels(colour, 1))[0, 0] == (200 * 299 + 100 * 587 + 50 * 114 + 500) // 1000
    deep = Image.fromarray(np.full((2, 2), 65535, dtype=np.uint16))
    assert np.asarray(convert_channels(deep, 1)).max() == 255  # scaled, not clipped from 65535
    half = Image.fromarray(np.full((2, 2), 32768, dtype=np.uint16))
    assert np.asarray(convert_channels(half, 3))[0, 0].tolist() == [128, 128, 128]
    rgba = Image.new("RGBA", (2, 2), (1, 2, 3, 0))
    assert np.asarray(convert_channels(rgba, 3))[0, 0].tolist() == [1, 2, 3]
    assert convert_channels(colour, 3) is colour


# -- fingerprints ---------------------------------------------------------------------------------------


def test_fingerprint_tracks_content_labels_and_keys_not_location(tmp_path: Path) -> None:
    _folder(tmp_path / "ds", {"a": 2, "b": 2})
    base = fingerprint(_open("ds", tmp_path))
    assert len(base) == 64 and base == fingerprint(_open("ds", tmp_path))
    shutil.copytree(tmp_path / "ds", tmp_path / "copy")
    assert fingerprint(_open("copy", tmp_path)) == base  # moved or copied: same dataset
    _png(tmp_path / "ds" / "a" / "img00.png", value=3)  # content changes
    changed = fingerprint(_open("ds", tmp_path))
    assert changed != base
    os.replace(tmp_path / "ds" / "a" / "img01.png", tmp_path / "ds" / "b" / "img09.png")  # label change
    assert fingerprint(_open("ds", tmp_path)) not in (base, changed)


def test_stat_cache_makes_rechecks_cost_only_stats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _folder(tmp_path / "ds", {"a": 3, "b": 3})
    ds = _open("ds", tmp_path)
    first = StatCache(tmp_path / "cache", racy_window_ns=0)  # the files were just written
    digest = fingerprint(ds, first)
    assert first.hashed == 6
    reads: list[str] = []

    def spy(path: Path) -> str:
        reads.append(str(path))
        return hashlib.sha256(b"").hexdigest()

    monkeypatch.setattr("zoo.datasets.fingerprints.file_sha256", spy)
    second = StatCache(tmp_path / "cache")
    assert fingerprint(ds, second) == digest
    assert second.hashed == 0 and reads == []  # nothing was read, only stat()ed
    monkeypatch.undo()
    # Same size, mtime forged back to the old value: ctime still gives the change away.
    target = tmp_path / "ds" / "a" / "img00.png"
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[-20] ^= 0xFF
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert target.stat().st_size == st.st_size and target.stat().st_mtime_ns == st.st_mtime_ns
    third = StatCache(tmp_path / "cache", racy_window_ns=0)
    assert fingerprint(ds, third) != digest and third.hashed == 1


def test_stat_cache_does_not_trust_racily_fresh_files(tmp_path: Path) -> None:
    path = tmp_path / "ds" / "a" / "x.png"
    path.parent.mkdir(parents=True)
    Image.new("L", (3, 3), 5).save(path)  # mtime = now
    ds = _open("ds", tmp_path)
    for _ in range(2):
        cache = StatCache(tmp_path / "cache")
        fingerprint(ds, cache)
        assert cache.hashed == 1  # hashed every time while its stats could still hide a change
    fingerprint(ds, StatCache(tmp_path / "cache", racy_window_ns=0))
    settled = StatCache(tmp_path / "cache")
    fingerprint(ds, settled)
    assert settled.hashed == 0


def test_stat_signature_changes_with_every_listing_or_content_change(tmp_path: Path) -> None:
    _folder(tmp_path / "ds", {"a": 2, "b": 2})
    ds = _open("ds", tmp_path)
    assert stat_signature(ds) is None  # just written: inside the racy window
    # mtimes an hour back, so that each change below moves one whatever the clock's resolution
    for folder, _, files in os.walk(tmp_path / "ds"):
        for path in [folder, *(os.path.join(folder, f) for f in files)]:
            os.utime(path, (OLD, OLD))
    base = stat_signature(ds, racy_window_ns=0)
    assert base is not None and base == stat_signature(ds, racy_window_ns=0)
    assert len(base) == 1 + 2 + 4  # the dataset folder, its class folders, its images
    assert stat_signature(ds, as_of_ns=time.time_ns() - 10**9, racy_window_ns=0) is None  # changed after
    (tmp_path / "ds" / "a" / "new.png").write_bytes(b"x")  # a file added: its folder's mtime moves
    added = stat_signature(ds, racy_window_ns=0)
    assert added is not None and added != base
    (tmp_path / "ds" / "a" / "deep").mkdir()  # a folder added deeper down
    deeper = stat_signature(ds, racy_window_ns=0)
    assert deeper is not None and deeper != added and len(deeper) == len(added) + 1
    with open(tmp_path / "ds" / "b" / "img00.png", "ab") as fh:  # content rewritten in place
        fh.write(b"\0")
    rewritten = stat_signature(ds, racy_window_ns=0)
    assert rewritten is not None and rewritten != deeper
    (tmp_path / "ds" / "b" / "img00.png").unlink()  # a listed image gone
    assert stat_signature(ds, racy_window_ns=0) is None


def test_corrupt_stat_cache_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _folder(tmp_path / "ds", {"a": 2})
    ds = _open("ds", tmp_path)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / StatCache.FILENAME).write_bytes(b"this is not sqlite" * 100)
    digest = fingerprint(ds, StatCache(tmp_path / "cache", racy_window_ns=0))
    assert "corrupt" in caplog.text
    assert digest == fingerprint(ds)  # the uncached digest
    again = StatCache(tmp_path / "cache")
    assert fingerprint(ds, again) == digest and again.hashed == 0


def test_npz_fingerprint_covers_pixels(tmp_path: Path) -> None:
    images = np.zeros((4, 3, 3), np.uint8)
    np.savez(tmp_path / "a.npz", images=images, labels=np.array([0, 1, 0, 1]))
    base = fingerprint(_open("a.npz", tmp_path))
    images[2, 1, 1] = 1
    np.savez(tmp_path / "b.npz", images=images, labels=np.array([0, 1, 0, 1]))
    assert fingerprint(_open("b.npz", tmp_path)) != base


def test_fingerprint_reports_vanished_files(tmp_path: Path) -> None:
    _folder(tmp_path / "ds", {"a": 2})
    ds = _open("ds", tmp_path)
    (tmp_path / "ds" / "a" / "img01.png").unlink()
    with pytest.raises(DatasetError, match="img01.png"):
        fingerprint(ds, tmp_path / "cache")


# -- prepare --------------------------------------------------------------------------------------------


def _fake_animal_source(folder: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    folder.mkdir(parents=True)
    for name, arr in (("animal_data_version_3.gz", images), ("animal_label_version_3.gz", labels)):
        with gzip.open(folder / name, "wb") as f:
            pickle.dump(arr, f, protocol=4)
    return folder


def test_prepare_writes_an_imagefolder(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(10), 3)
    src = _fake_animal_source(tmp_path / "src", images, labels)
    dest = tmp_path / "root" / "animals"
    assert (
        prep_mod.main(["animal-mnist", str(dest), "--source", str(src), "--no-verify", "--per-class", "2"])
        == 0
    )
    ds = _open("animals", tmp_path / "root")
    assert ds.classes == tuple(sorted(prep_mod.ANIMAL_MNIST_CLASSES))
    assert ds.class_counts() == dict.fromkeys(sorted(prep_mod.ANIMAL_MNIST_CLASSES), 2)
    i = ds.keys.index("zebra/00027.png")
    assert np.array_equal(np.asarray(ds.load_image(i)), images[27])
    stamp = (dest / ".complete").stat().st_mtime_ns
    assert prep_mod.prepare("animal-mnist", dest, source=src, no_verify=True) == dest  # idempotent no-op
    assert (dest / ".complete").stat().st_mtime_ns == stamp
    leftovers = [p.name for p in dest.parent.iterdir() if p.name != "animals"]
    assert leftovers == []


def test_prepare_refuses_foreign_folders_and_wrong_digests(tmp_path: Path) -> None:
    src = _fake_animal_source(tmp_path / "src", np.zeros((10, 28, 28), np.uint8), np.arange(10))
    (tmp_path / "taken").mkdir()
    assert prep_mod.main(["animal-mnist", str(tmp_path / "taken"), "--source", str(src), "--no-verify"]) == 1
    with pytest.raises(DatasetFormatError, match="digest"):
        prep_mod.load_animal_mnist(src)  # verify=True: the fake files do not match the pinned digests


def test_prepare_never_runs_pickled_code(tmp_path: Path) -> None:
    canary = tmp_path / "canary"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {canary}",))

    src = tmp_path / "src"
    src.mkdir()
    for name in ("animal_data_version_3.gz", "animal_label_version_3.gz"):
        with gzip.open(src / name, "wb") as f:
            pickle.dump(Evil(), f)
    with pytest.raises(DatasetFormatError, match="refusing to load"):
        prep_mod.load_animal_mnist(src, verify=False)
    assert not canary.exists()


def test_installed_animal_mnist_matches_the_pinned_digests() -> None:
    try:
        folder = prep_mod.animal_mnist_dir()
    except DatasetNotFoundError:
        pytest.skip("animal-mnist is not installed (make assets)")
    images, labels = prep_mod.load_animal_mnist(folder)
    assert images.shape == (10000, 28, 28) and np.bincount(labels).tolist() == [1000] * 10


def test_allowed_roots_object_is_reused(tmp_path: Path) -> None:
    _folder(tmp_path / "ds", {"a": 1})
    roots = AllowedRoots.of({"t": tmp_path})
    assert AllowedRoots.of(roots) is roots
    assert len(open_dataset("t/ds", roots)) == 1
