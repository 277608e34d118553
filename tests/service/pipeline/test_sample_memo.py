"""The sample memo: an identical request reuses the sample drawn before, and any change to the dataset's
files, folders or reference reads it again (the memo never answers with a stale fingerprint)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from service.pipeline.sample import SampleMemo, sample
from service.settings import Settings
from tests.support.service import write_image_folder
from zoo.datasets import SamplingSpec

SPEC = SamplingSpec(max_per_class=3, seed=1)


def _settle(root: Path) -> None:
    """Set every mtime an hour back, so that each change a test makes moves one (whatever the clock's
    resolution: two writes in one tick of a coarse clock can share a timestamp)."""
    old = time.time() - 3600
    for folder, _, files in os.walk(root):
        for path in [folder, *(os.path.join(folder, f) for f in files)]:
            os.utime(path, (old, old))


def _setup(tmp_path: Path) -> tuple[Path, Settings]:
    root = tmp_path / "data"
    write_image_folder(root / "shapes", per_class=4, size=8)
    _settle(root)
    return root / "shapes", Settings(home=tmp_path / "h", data_roots={"data": root})


def _memo() -> SampleMemo:
    # no racy window: the files' ctimes are a moment old (mtimes are settled, see _settle)
    return SampleMemo(10_000, racy_window_ns=0)


def test_an_identical_request_reuses_the_sample(tmp_path: Path) -> None:
    _, s = _setup(tmp_path)
    memo = _memo()
    first = sample("data:shapes", SPEC, s, base=None, memo=memo)
    again = sample("data:shapes", SPEC, s, base=None, memo=memo)
    assert memo.hits == 1 and again is first
    assert again.summary() == sample("data:shapes", SPEC, s, base=None).summary()
    other = sample("data:shapes", SamplingSpec(max_per_class=2, seed=1), s, base=None, memo=memo)
    assert memo.hits == 1 and other.summary().num_sampled == 6  # another spec is another sample


def _append(ds: Path) -> None:
    with open(ds / "circle" / "000.png", "ab") as fh:
        fh.write(b"\0")


def _same_size_rewrite(ds: Path) -> None:
    target = ds / "circle" / "000.png"
    st = target.stat()
    data = (ds / "square" / "000.png").read_bytes()
    target.write_bytes(data[: st.st_size].ljust(st.st_size, b"\0"))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns - 10**9))


def _add(ds: Path) -> None:
    shutil.copy(ds / "circle" / "000.png", ds / "circle" / "new.png")


def _remove(ds: Path) -> None:
    (ds / "circle" / "000.png").unlink()


def _rename(ds: Path) -> None:
    (ds / "circle" / "000.png").rename(ds / "circle" / "zzz.png")


def _nested(ds: Path) -> None:
    (ds / "circle" / "more").mkdir()
    shutil.copy(ds / "square" / "000.png", ds / "circle" / "more" / "x.png")


def _new_class(ds: Path) -> None:
    (ds / "star").mkdir()
    for i in range(2):
        shutil.copy(ds / "square" / f"00{i}.png", ds / "star" / f"00{i}.png")


@pytest.mark.parametrize("change", [_append, _same_size_rewrite, _add, _remove, _rename, _nested, _new_class])
def test_a_changed_dataset_misses_the_memo(tmp_path: Path, change: Callable[[Path], None]) -> None:
    ds, s = _setup(tmp_path)
    memo = _memo()
    before = sample("data:shapes", SamplingSpec(), s, base=None, memo=memo).summary()
    change(ds)
    after = sample("data:shapes", SamplingSpec(), s, base=None, memo=memo).summary()
    assert memo.hits == 0
    assert after.fingerprint != before.fingerprint
    assert after == sample("data:shapes", SamplingSpec(), s, base=None).summary()
    # and the new state is remembered in turn
    assert sample("data:shapes", SamplingSpec(), s, base=None, memo=memo).summary() == after
    assert memo.hits == 1


def test_a_reference_that_resolves_elsewhere_misses_the_memo(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_image_folder(root / "a", per_class=3, size=8, seed=1)
    write_image_folder(root / "b", per_class=3, size=8, seed=2)
    (root / "shapes").symlink_to(root / "a", target_is_directory=True)
    _settle(root)
    s = Settings(home=tmp_path / "h", data_roots={"data": root})
    memo = _memo()
    before = sample("data:shapes", SamplingSpec(), s, base=None, memo=memo).summary()
    (root / "shapes").unlink()
    (root / "shapes").symlink_to(root / "b", target_is_directory=True)
    after = sample("data:shapes", SamplingSpec(), s, base=None, memo=memo).summary()
    assert memo.hits == 0 and after.fingerprint != before.fingerprint


def test_a_dataset_changed_just_before_its_read_is_not_remembered(tmp_path: Path) -> None:
    _, s = _setup(tmp_path)  # written a moment ago: inside the default racy window
    memo = SampleMemo(10_000)
    sample("data:shapes", SPEC, s, base=None, memo=memo)
    sample("data:shapes", SPEC, s, base=None, memo=memo)
    assert memo.hits == 0


def test_the_memo_is_bounded_by_files_and_can_be_off(tmp_path: Path) -> None:
    _, s = _setup(tmp_path)
    rows = 1 + 3 + 12  # the dataset's folder, its 3 class folders, its 12 images
    memo = SampleMemo(2 * rows, racy_window_ns=0)  # room for two samples of it
    for seed in (1, 2, 3):
        sample("data:shapes", SamplingSpec(seed=seed), s, base=None, memo=memo)
    sample("data:shapes", SamplingSpec(seed=1), s, base=None, memo=memo)  # the oldest was evicted
    sample("data:shapes", SamplingSpec(seed=3), s, base=None, memo=memo)
    assert memo.hits == 1
    for small in (SampleMemo(rows - 1, racy_window_ns=0), SampleMemo(0, racy_window_ns=0)):
        for _ in range(2):  # a dataset larger than the whole memo is never remembered
            sample("data:shapes", SPEC, s, base=None, memo=small)
        assert small.hits == 0
    fits = SampleMemo(rows, racy_window_ns=0)
    for _ in range(2):
        sample("data:shapes", SPEC, s, base=None, memo=fits)
    assert fits.hits == 1
