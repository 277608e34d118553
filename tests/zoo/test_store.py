"""Feature store: round trip, reuse, key sensitivity, atomic writes, read-only reads, corruption."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.numpy import load_file
from torch import nn

from zoo._api import Preprocessing, WeightsSource, ZooEntry
from zoo.datasets import SamplingSpec, fingerprint, open_dataset, subsample
from zoo.errors import FeatureStoreError
from zoo.features import CorruptImage, FeatureSet, extract_features, extractor_config
from zoo.store import FeatureKey, FeatureStore, entry_digest

PREP = Preprocessing(input_size=8, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def _fs(seed: int = 0, *, probs: bool = True, n: int = 5) -> FeatureSet:
    rng = np.random.default_rng(seed)
    p = rng.random((n, 4)).astype(np.float32)
    return FeatureSet(
        features=rng.standard_normal((n, 3)).astype(np.float32),
        labels=rng.integers(0, 2, n).astype(np.int64),
        keys=tuple(f"k{i}" for i in range(n)),
        classes=("cat", "dög"),
        probs=(p / p.sum(1, keepdims=True)) if probs else None,
        corrupt=(CorruptImage("broken.jpg", "OSError: truncated"),),
    )


def _key(**changes: object) -> FeatureKey:
    base = FeatureKey(
        model="a" * 64,
        preprocessing=PREP.to_dict(),
        dataset="b" * 64,
        sampling=SamplingSpec(max_per_class=10).to_dict(),
        extractor={"version": "1", "precision": "float32"},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _same(a: FeatureSet, b: FeatureSet) -> bool:
    probs_equal = (a.probs is None and b.probs is None) or (
        a.probs is not None and b.probs is not None and np.array_equal(a.probs, b.probs)
    )
    return (
        np.array_equal(a.features, b.features)
        and np.array_equal(a.labels, b.labels)
        and probs_equal
        and (a.keys, a.classes, a.corrupt, a.total) == (b.keys, b.classes, b.corrupt, b.total)
    )


@pytest.mark.parametrize("probs", [True, False])
def test_round_trip(tmp_path: Path, probs: bool) -> None:
    store, fs = FeatureStore(tmp_path), _fs(probs=probs)
    path = store.put(_key(), fs)
    assert path == store.path_for(_key()) and _key() in store
    got = store.get(_key())
    assert got is not None and _same(got, fs)
    assert store.keys() == [_key().digest]
    assert store.get(_key(dataset="c" * 64)) is None


def test_entries_are_read_only(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    path = store.put(_key(), _fs())
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    got = store.get(_key())
    assert got is not None and got.probs is not None
    for arr in (got.features, got.labels, got.probs):
        assert not arr.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 0


def test_file_is_plain_safetensors(tmp_path: Path) -> None:
    path = FeatureStore(tmp_path).put(_key(), _fs())
    tensors = load_file(str(path))
    assert sorted(tensors) == ["features", "labels", "probs"]
    assert tensors["features"].dtype == np.float32 and tensors["labels"].dtype == np.int64
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    assert set(meta) == {"zoorank", "sha256"} and '"key":"' + _key().digest in meta["zoorank"]


def test_key_changes_when_any_component_changes() -> None:
    base = _key()
    variants = [
        _key(model="c" * 64),
        _key(preprocessing={**PREP.to_dict(), "input_size": 9}),
        _key(preprocessing={**PREP.to_dict(), "mean": [0.5, 0.5, 0.4]}),
        _key(dataset="d" * 64),
        _key(sampling=SamplingSpec(max_per_class=11).to_dict()),
        _key(sampling=SamplingSpec(max_per_class=10, seed=1).to_dict()),
        _key(extractor={"version": "2", "precision": "float32"}),
        _key(extractor={"version": "1", "precision": "bf16-autocast"}),
        _key(format="zoorank-features-v2"),
    ]
    digests = {v.digest for v in variants}
    assert len(digests) == len(variants) and base.digest not in digests
    reordered = _key(preprocessing=dict(reversed(list(PREP.to_dict().items()))))
    assert reordered.digest == base.digest  # canonical JSON: key order does not matter
    assert _key(preprocessing=PREP.to_dict()).digest == _key(preprocessing=dict(PREP.to_dict())).digest


def test_entry_digest_tracks_the_weights() -> None:
    entry = ZooEntry(
        id="tiny.test",
        arch="tiny",
        builder=nn.Identity,
        weights=WeightsSource(kind="file", filename="w.safetensors", sha256="0" * 64),
        preprocessing=PREP,
        feature_layer="input",
        head=None,
        feature_dim=3,
        num_source_classes=None,
        source="none",
        license="MIT",
        citation="",
    )
    other = replace(entry, weights=replace(entry.weights, sha256="1" * 64))
    assert entry_digest(entry) == entry_digest(replace(entry, meta={"x": 1}))  # metadata is not identity
    assert entry_digest(entry) != entry_digest(other)
    assert entry_digest(entry) != entry_digest(replace(entry, feature_layer="other"))


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "a" * 63, "", "a" * 64 + "/x"])
def test_malformed_keys_never_become_paths(tmp_path: Path, bad: str) -> None:
    store = FeatureStore(tmp_path)
    with pytest.raises(FeatureStoreError, match="64 lower-case hex"):
        store.path_for(bad)
    with pytest.raises(FeatureStoreError):
        store.put(bad, _fs())
    assert bad not in store


class _Counting:
    def __init__(self, fs: FeatureSet) -> None:
        self.fs, self.calls = fs, 0

    def __call__(self) -> FeatureSet:
        self.calls += 1
        return self.fs


def test_second_run_reuses_without_computing(tmp_path: Path) -> None:
    compute = _Counting(_fs())
    fs1, reused1 = FeatureStore(tmp_path).get_or_compute(_key(), compute)
    fs2, reused2 = FeatureStore(tmp_path).get_or_compute(_key(), compute)  # a fresh store object
    assert (reused1, reused2) == (False, True) and compute.calls == 1
    assert _same(fs1, fs2) and _same(fs1, _fs())
    assert not fs1.features.flags.writeable  # the first run also returns what was read back


class TinyCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.head = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(x)
        return f, self.head(f)


def test_pipeline_second_run_reuses_real_features(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for c in ("a", "b"):
        for i in range(4):
            (data / "ds" / c).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (10, 12), (i * 30, 50, 200 - i * 20)).save(data / "ds" / c / f"{i}.png")
    torch.manual_seed(0)
    model = TinyCNN()
    calls = []

    def run() -> tuple[FeatureSet, bool]:
        ds = open_dataset("d/ds", {"d": data})
        spec = SamplingSpec(max_per_class=3, seed=0)
        sample = subsample(ds, spec)
        key = FeatureKey(
            model="m" * 64,
            preprocessing=PREP.to_dict(),
            dataset=fingerprint(ds, tmp_path / "cache"),
            sampling=spec.to_dict(),
            extractor=extractor_config(sample, "cpu"),
        )

        def compute() -> FeatureSet:
            calls.append(1)
            return extract_features(model, sample, PREP, batch_size=4)

        return FeatureStore(tmp_path / "store").get_or_compute(key, compute)

    first, reused_first = run()
    second, reused_second = run()
    assert (reused_first, reused_second, len(calls)) == (False, True, 1)
    assert _same(first, second) and first.features.shape == (6, 6) and first.probs is not None


def test_failed_write_leaves_no_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FeatureStore(tmp_path)

    def boom(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        store.put(_key(), _fs())
    monkeypatch.undo()
    assert _key() not in store and store.get(_key()) is None and store.keys() == []
    assert list(tmp_path.rglob("*.tmp")) == []  # the temp file was cleaned up


_CRASHING_WRITER = """
import os, sys
sys.path.insert(0, {repo!r})
import numpy as np
from zoo.features import FeatureSet
from zoo.store import FeatureStore
def crash(src, dst):
    os._exit(17)  # killed between the data write and the commit: no cleanup code runs
os.replace = crash
fs = FeatureSet(np.ones((3, 2), np.float32), np.zeros(3, np.int64), ("a", "b", "c"), ("x",), None)
FeatureStore({root!r}).put({key!r}, fs)
"""


def test_crash_mid_write_leaves_no_visible_entry(tmp_path: Path) -> None:
    key = _key().digest
    code = _CRASHING_WRITER.format(repo=str(Path(__file__).parents[2]), root=str(tmp_path), key=key)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == 17, proc.stderr.decode()
    store = FeatureStore(tmp_path)
    leftovers = list(tmp_path.rglob("*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0  # the data had been written...
    assert key not in store and store.get(key) is None and store.keys() == []  # ...but never committed
    assert store.remove_stale_temp(older_than_s=3600) == 0  # young temp files may belong to live writers
    os.utime(leftovers[0], (time.time() - 7200, time.time() - 7200))
    assert store.remove_stale_temp(older_than_s=3600) == 1 and list(tmp_path.rglob("*.tmp")) == []
    fs, reused = store.get_or_compute(key, _fs)
    assert not reused and _same(fs, _fs())


def _flip_byte(path: Path, offset_from_end: int) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: _flip_byte(p, 1),  # a bit flip in the tensor data
        lambda p: _flip_byte(p, len(p.read_bytes()) - 20),  # inside the JSON header
        lambda p: (p.chmod(0o644), p.write_bytes(p.read_bytes()[:-7])),  # truncated
        lambda p: (p.chmod(0o644), p.write_bytes(b"")),  # empty
        lambda p: (p.chmod(0o644), p.write_bytes(b"\xff" * 8 + b"{}")),  # absurd header length
    ],
)
def test_corruption_is_detected_then_quarantined_and_recomputed(tmp_path: Path, damage: object) -> None:
    store = FeatureStore(tmp_path)
    path = store.put(_key(), _fs())
    damage(path)  # type: ignore[operator]
    with pytest.raises(FeatureStoreError, match="corrupt"):
        store.get(_key())
    compute = _Counting(_fs())
    fs, reused = store.get_or_compute(_key(), compute)
    assert not reused and compute.calls == 1 and _same(fs, _fs())
    assert len(list((tmp_path / "quarantine").iterdir())) == 1
    assert store.get(_key()) is not None


def test_entry_under_the_wrong_key_is_rejected(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    src = store.put(_key(), _fs())
    other = _key(dataset="e" * 64)
    dst = store.path_for(other)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())
    with pytest.raises(FeatureStoreError, match="another key"):
        store.get(other)


def _worker(root: str, key: str, log: str, seed: int) -> bool:
    def compute() -> FeatureSet:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(0.3)  # a slow extraction: the others must wait on the lock, not recompute
        return _fs(seed)

    fs, reused = FeatureStore(root).get_or_compute(key, compute)
    return reused and bool(fs.features.shape == (5, 3))


def test_concurrent_writers_compute_once(tmp_path: Path) -> None:
    log = tmp_path / "computed.log"
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(3) as pool:
        reused = pool.starmap(
            _worker, [(str(tmp_path / "store"), _key().digest, str(log), s) for s in range(3)]
        )
    assert len(log.read_text().split()) == 1  # exactly one process computed
    assert sorted(reused) == [False, True, True]


def test_concurrent_puts_never_expose_a_partial_file(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_put_many, args=(str(tmp_path), s)) for s in range(2)]
    for p in procs:
        p.start()
    store = FeatureStore(tmp_path)
    while any(p.is_alive() for p in procs):
        store.get(_key())  # must never raise: readers see an old or a new complete file, or none
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert store.get(_key()) is not None and list(tmp_path.rglob("*.tmp")) == []


def _put_many(root: str, seed: int) -> None:
    store = FeatureStore(root)
    for i in range(20):
        store.put(_key(), _fs(seed * 100 + i, n=200))
