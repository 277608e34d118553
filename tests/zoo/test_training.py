"""Self-trained zoo: deterministic sources, reproducible training, source profiles, committed artefacts."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from zoo._api import Preprocessing
from zoo._hashing import file_sha256
from zoo.archs import build, get_arch
from zoo.errors import DatasetFormatError
from zoo.training import build_zoo, sources
from zoo.training.profiles import (
    MAX_SAMPLE,
    compute_profile,
    extract,
    load_profile,
    save_profile,
    stratified_indices,
)
from zoo.training.train import TrainConfig, accuracy, deterministic, fit, to_input

HAVE_FASHION = (sources.FASHION_MNIST_ROOT / "train-images-idx3-ubyte.gz").exists()
HAVE_FONTS = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").exists()
needs_fashion = pytest.mark.skipif(not HAVE_FASHION, reason="Debian dataset-fashion-mnist not installed")
needs_fonts = pytest.mark.skipif(not HAVE_FONTS, reason="Debian font packages not installed")


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


def _toy(n_per_class: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three easily separable classes: dark, mid-grey and bright images with noise, uint8 (N, 32, 32, 3)."""
    g = torch.Generator().manual_seed(seed)
    levels = torch.tensor([40, 128, 215]).repeat_interleave(n_per_class)
    noise = torch.randint(-30, 31, (len(levels), 32, 32, 3), generator=g)
    images = (levels.view(-1, 1, 1, 1) + noise).clamp(0, 255).to(torch.uint8)
    return images, torch.arange(3).repeat_interleave(n_per_class)


# --------------------------------------------------------------------------- sources


def test_balanced_head_round_robin() -> None:
    y = np.array([0, 0, 0, 0, 1, 2, 2, 1, 0])
    keep = sources.balanced_head(y, 5)
    assert keep.tolist() == [0, 1, 4, 5, 7]  # round 0: 0, 4, 5; round 1: 1, 7 (class 1 before 2)
    assert sources.balanced_head(y, None).tolist() == list(range(9))
    assert sources.balanced_head(y, 100).tolist() == list(range(9))


@needs_fashion
def test_fashion_mnist_deterministic_and_balanced() -> None:
    a = sources.load_source("fashion_mnist", "train", limit=50)
    b = sources.load_source("fashion_mnist", "train", limit=50)
    assert a.images.shape == (50, 32, 32, 3) and a.images.dtype == torch.uint8
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert torch.bincount(a.labels, minlength=10).tolist() == [5] * 10
    assert torch.equal(a.images[..., 0], a.images[..., 2]), "grey must be replicated"
    assert a.num_classes == 10 and a.class_names[9] == "Ankle boot"


@needs_fonts
def test_font_selection_and_split() -> None:
    fonts = sources.font_files()
    assert len(fonts) >= 20
    assert list(fonts) == sorted(fonts)
    assert sources.covers_letters(Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
    dingbats = Path("/usr/share/fonts/opentype/urw-base35/D050000L.otf")
    if dingbats.exists():  # maps A-Z to ornaments: cmap covers the code points, glyph names do not match
        assert not sources.covers_letters(dingbats)
        assert dingbats not in fonts
    src, held = sources.split_fonts(fonts)
    assert not set(src) & set(held) and len(src) + len(held) == len(fonts)
    assert abs(len(src) / len(fonts) - 0.7) < 0.02
    assert sources.split_fonts(list(reversed(fonts))) == (src, held)


@needs_fonts
def test_glyphs_deterministic() -> None:
    a = sources.load_source("glyphs", "train", limit=60)
    b = sources.load_source("glyphs", "train", limit=60)
    assert a.images.shape == (60, 32, 32, 3)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert a.class_names[0] == "A" and a.num_classes == 26
    ink = a.images[..., 0].flatten(1).to(torch.int64).sum(1)
    assert (ink > 0).all(), "every glyph must have ink"
    # variants of one (font, letter) differ from the clean rendering but keep the label
    font = sources.split_fonts(sources.font_files())[0][0]
    grid = sources.render_glyphs(font, variants=3, letters="AB")
    assert grid.shape == (6, 32, 32)
    assert not np.array_equal(grid[0], grid[1])
    assert np.array_equal(grid, sources.render_glyphs(font, variants=3, letters="AB"))


def _fake_emoji_package(root: Path) -> None:
    """A tiny extracted emoji-datasource tree (what :func:`sources.emoji_dir` leaves in the cache)."""
    img_dir = root / "img" / "google" / "64"
    img_dir.mkdir(parents=True)
    records = []
    for i, cat in enumerate([*sources.EMOJI_CATEGORIES, "Flags", "Component"] * 3):
        name = f"{i:04x}.png"
        im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        im.paste((i * 20 % 256, 80, 200, 255), (8 + i % 5, 8, 40, 50))
        im.save(img_dir / name)
        records.append(
            {"unified": f"{i:04X}", "image": name, "category": cat, "sort_order": i, "has_img_google": True}
        )
    (root / "emoji.json").write_text(json.dumps(records))
    (root / ".complete").write_text("test\n")


def test_emoji_loader_on_fake_package(tmp_path: Path) -> None:
    _fake_emoji_package(tmp_path / f"{sources.EMOJI_PACKAGE}-{sources.EMOJI_VERSION}")
    tr = sources.emoji("train", cache=tmp_path)
    te = sources.emoji("test", cache=tmp_path)
    assert len(tr) % sources.EMOJI_TRAIN_VARIANTS == 0
    assert len(tr) // sources.EMOJI_TRAIN_VARIANTS + len(te) == 24, "flags and components are dropped"
    assert tr.images.dtype == torch.uint8 and tr.images.shape[1:] == (32, 32, 3)
    assert int(tr.images[0, 0, 0].min()) == 255, "transparent pixels are composited on white"
    again = sources.emoji("train", cache=tmp_path)
    assert torch.equal(tr.images, again.images) and torch.equal(tr.labels, again.labels)
    limited = sources.emoji("train", cache=tmp_path, limit=8)
    assert len(limited) == 8 and len(set(limited.labels.tolist())) == 8


def test_fetch_npm_package_checks_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w:gz") as tar:
        data = b"{}"
        info = tarfile.TarInfo("package/emoji.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    tgz = tmp_path / "fixture.tgz"
    tgz.write_bytes(payload.getvalue())
    fake_npm = tmp_path / "npm"
    fake_npm.write_text(
        f'#!/bin/sh\n# npm pack NAME --pack-destination DIR --silent\ncp {tgz} "$4/pkg.tgz"\n'
    )
    fake_npm.chmod(fake_npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    good = hashlib.sha256(tgz.read_bytes()).hexdigest()
    with pytest.raises(DatasetFormatError, match="sha256"):
        sources.fetch_npm_package("pkg", "1.0.0", "0" * 64, cache=tmp_path / "cache")
    path = sources.fetch_npm_package("pkg", "1.0.0", good, cache=tmp_path / "cache")
    assert path == tmp_path / "cache" / "npm" / "pkg-1.0.0.tgz" and path.read_bytes() == tgz.read_bytes()
    fake_npm.write_text("#!/bin/sh\nexit 1\n")  # cached: npm is not called again
    assert sources.fetch_npm_package("pkg", "1.0.0", good, cache=tmp_path / "cache") == path


# --------------------------------------------------------------------------- training


@pytest.mark.parametrize("arch", ["cnn4", "resnet8", "mobilenet_tiny"])
def test_training_is_bit_reproducible(arch: str, tmp_path: Path) -> None:
    images, labels = _toy(8)
    cfg = TrainConfig(epochs=2, batch_size=8, max_steps=4, seed=7)
    runs = [fit(arch, images, labels, 3, cfg) for _ in range(2)]
    a, b = (r.model.state_dict() for r in runs)
    assert runs[0].steps == 4 and runs[0].losses == runs[1].losses
    assert all(_digest(a[k]) == _digest(b[k]) for k in a)
    torch.manual_seed(7)
    init = build(arch, 3).state_dict()
    assert any(not torch.equal(a[k], init[k]) for k in a if a[k].is_floating_point()), "weights moved"
    paths = [tmp_path / f"{i}.safetensors" for i in range(2)]
    for r, p in zip(runs, paths, strict=True):
        build_zoo.save_weights(r.model, p, meta={"id": "x.y", "arch": arch})
    assert file_sha256(paths[0]) == file_sha256(paths[1])
    other = fit(arch, images, labels, 3, TrainConfig(epochs=2, batch_size=8, max_steps=4, seed=8))
    assert any(not torch.equal(a[k], other.model.state_dict()[k]) for k in a), "seed must matter"


def test_training_learns_and_restores_global_state() -> None:
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    images, labels = _toy(24)
    result = fit("cnn4", images, labels, 3, TrainConfig(epochs=3, batch_size=16, lr=1e-2))
    assert result.losses[-1] < result.losses[0]
    assert accuracy(result.model, images, labels) > 0.9
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det
    with deterministic(threads=1):
        assert torch.are_deterministic_algorithms_enabled() and torch.get_num_threads() == 1


def test_to_input_normalises() -> None:
    x = to_input(torch.tensor([[[[0, 255, 128]]]], dtype=torch.uint8))
    assert x.shape == (1, 3, 1, 1)
    assert torch.allclose(x.flatten(), torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]), atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        to_input(torch.zeros(1, 3, 4, 4))


def test_fp16_weights_load_back(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build("resnet8", 5).eval()
    path = tmp_path / "w.safetensors"
    build_zoo.save_weights(model, path)
    raw = load_file(str(path))
    assert set(raw) == set(model.state_dict())
    assert {v.dtype for v in raw.values()} == {torch.float16, torch.int64}
    back = build_zoo.load_weights("resnet8", 5, path)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), back(x), atol=2e-2, rtol=1e-2)
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            assert torch.equal(back.state_dict()[k], v.half().float())


# --------------------------------------------------------------------------- profiles


def test_stratified_indices_water_filling() -> None:
    y = np.array([0] * 2 + [1] * 100 + [2] * 100)
    idx = stratified_indices(y, 50, seed=1)
    assert np.bincount(y[idx]).tolist() == [2, 24, 24]
    assert (np.diff(idx) > 0).all()
    assert np.array_equal(idx, stratified_indices(y, 50, seed=1))
    big = np.repeat(np.arange(10), 1200)
    assert np.bincount(big[stratified_indices(big)]).tolist() == [MAX_SAMPLE // 10] * 10
    odd = stratified_indices(np.repeat(np.arange(3), 10), 7)
    assert np.bincount(np.repeat(np.arange(3), 10)[odd]).tolist() == [3, 2, 2]
    assert len(stratified_indices(y, 10_000)) == len(y)


def test_profile_shapes_stats_and_roundtrip(tmp_path: Path) -> None:
    images, labels = _toy(30)
    images, labels = images[:70], labels[:70]  # unbalanced: 30, 30, 10
    torch.manual_seed(0)
    model = build("mobilenet_tiny", 4).eval()
    head = get_arch("mobilenet_tiny").head
    prof = compute_profile(model, head, images, labels, max_rows=33)
    d = get_arch("mobilenet_tiny").feature_dim
    assert prof.features.shape == (33, d) and prof.mean.shape == (d,) and prof.std.shape == (d,)
    assert prof.count == 70 and prof.num_classes == 4
    assert torch.bincount(labels[prof.index]).tolist() == [12, 11, 10]
    assert torch.equal(prof.labels, labels[prof.index])
    feats, logits = extract(model, head, images)
    f = feats.double().numpy()
    assert np.allclose(prof.mean.numpy(), f.mean(0), atol=1e-6)
    assert np.allclose(prof.std.numpy(), f.std(0, ddof=0), atol=1e-6)
    assert torch.equal(prof.pred, logits[prof.index].argmax(1))
    assert torch.allclose(prof.features, feats[prof.index], rtol=1e-3, atol=1e-3)
    p1, p2 = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_profile(prof, p1)
    save_profile(compute_profile(model, head, images, labels, max_rows=33), p2)
    assert p1.read_bytes() == p2.read_bytes()
    back = load_profile(p1)
    assert torch.equal(back.features, prof.features) and torch.equal(back.pred, prof.pred)
    assert back.count == 70 and back.feature_dim == d


def test_build_entry_reproducible(tmp_path: Path) -> None:
    images, labels = _toy(20)
    train = sources.SourceData("toy", "train", images, labels, ("dark", "mid", "bright"))
    spec = build_zoo.ModelSpec(
        id="cnn4.toy", arch="cnn4", source="toy", config=TrainConfig(epochs=1, batch_size=16)
    )
    src = build_zoo.SOURCE_SPECS["fashion_mnist"]
    recs = [
        build_zoo.build_entry(
            spec, tmp_path / d, train=train, test=train, source_spec=src, max_profile_rows=30
        )
        for d in ("a", "b")
    ]
    assert recs[0] == recs[1]
    rec = recs[0]
    assert (
        rec["file"] == "zoo/artifacts/cnn4.toy.safetensors"
        and rec["profile"] == "zoo/artifacts/profiles/cnn4.toy.safetensors"
    )
    assert rec["sha256"] == file_sha256(tmp_path / "a" / "cnn4.toy.safetensors")
    assert rec["meta"]["profile_rows"] == 30 and rec["tags"] == ["trained"]
    assert Preprocessing(**rec["preprocessing"]).input_size == 32


# --------------------------------------------------------------------------- committed artefacts


def _manifest() -> list[dict[str, object]]:
    assert build_zoo.MANIFEST.exists(), "zoo/artifacts/manifest.json is missing: run `make zoo`"
    return build_zoo.read_manifest()


def test_manifest_lists_every_spec_with_valid_fields() -> None:
    records = _manifest()
    ids = [str(r["id"]) for r in records]
    assert ids == sorted(set(ids))
    assert set(ids) == {s.id for s in build_zoo.SPECS}
    archs = {i.split(".")[0] for i in ids}
    assert len(archs) >= 3
    assert sum("control" in r["tags"] for r in records) == 1  # type: ignore[operator]
    for r in records:
        assert re.fullmatch(r"[a-z0-9_]+\.[a-z0-9_]+", str(r["id"]))
        assert re.fullmatch(r"[0-9a-f]{64}", str(r["sha256"]))
        assert r["feature_dim"] == get_arch(str(r["arch"])).feature_dim
        assert r["head"] == get_arch(str(r["arch"])).head
        Preprocessing(**r["preprocessing"])  # type: ignore[arg-type]
        meta = r["meta"]
        assert isinstance(meta, dict) and {"params", "train_acc", "test_acc", "epochs", "seed"} <= set(meta)
        if "trained" in r["tags"]:  # type: ignore[operator]
            chance = 1 / int(str(r["num_classes"]))
            assert float(meta["test_acc"]) > 2 * chance, f"{r['id']} is not clearly above chance"


def test_committed_files_match_digests_and_load() -> None:
    total = 0
    for r in _manifest():
        meta = r["meta"]
        assert isinstance(meta, dict)
        for key, digest in (("file", r["sha256"]), ("profile", meta["profile_sha256"])):
            path = build_zoo.REPO_DIR / str(r[key])
            assert file_sha256(path) == digest, f"{path} does not match the manifest"
            total += path.stat().st_size
        arch, n_cls = str(r["arch"]), int(str(r["num_classes"]))
        model = build_zoo.load_weights(arch, n_cls, build_zoo.REPO_DIR / str(r["file"]))
        assert {v.dtype for v in load_file(str(build_zoo.REPO_DIR / str(r["file"]))).values()} <= {
            torch.float16,
            torch.int64,
        }
        prof = load_profile(build_zoo.REPO_DIR / str(r["profile"]))
        assert prof.feature_dim == r["feature_dim"] and prof.num_classes == n_cls
        assert 0 < prof.features.shape[0] <= MAX_SAMPLE
        assert torch.isfinite(prof.features).all() and (prof.std >= 0).all()
        with torch.no_grad():
            assert model(torch.zeros(1, 3, 32, 32)).shape == (1, n_cls)
    assert total < 40 * 2**20


def test_manifest_is_what_the_zoo_registers() -> None:
    from zoo.entries.trained import entries_from_manifest

    entries = {e.id: e for e in entries_from_manifest(build_zoo.MANIFEST)}
    for r in _manifest():
        e = entries[str(r["id"])]
        assert (e.feature_dim, e.num_source_classes, e.head) == (
            r["feature_dim"],
            r["num_classes"],
            r["head"],
        )
        assert e.weights.sha256 == r["sha256"] and e.weights.kind == "file"
        assert ("control" in e.tags) == ("control" in r["tags"])  # type: ignore[operator]
