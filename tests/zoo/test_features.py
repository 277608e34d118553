"""Feature extraction with real (tiny) torch modules on real PNG/JPEG files written here."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision.transforms import v2

from zoo._api import Preprocessing
from zoo.datasets import Dataset, open_dataset
from zoo.errors import DatasetFormatError, ModelLoadError, TooManyCorruptImagesError
from zoo.features import (
    DeviceUnavailableError,
    FeatureSet,
    ImageTransform,
    check_device,
    extract_features,
    extract_features_many,
    extractor_config,
)

MEAN3, STD3 = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
RGB = Preprocessing(input_size=8, mean=MEAN3, std=STD3, channels=3)
GREY = Preprocessing(input_size=8, mean=(0.5,), std=(0.25,), channels=1)


class ProbeNet(nn.Module):
    """A real CNN whose features are the per-channel means of its (normalised) input.

    An identity 1x1 convolution keeps it a convolutional network (so ``channels_last`` matters) while
    leaving the features exactly predictable; it records how it was called.
    """

    def __init__(self, channels: int, num_classes: int | None = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(channels).view(channels, channels, 1, 1))
        self.head = nn.Linear(channels, num_classes) if num_classes else None
        self.calls: list[dict[str, object]] = []

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        self.calls.append(
            {
                "inference": torch.is_inference_mode_enabled(),
                "channels_last": x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1,
                "dtype": x.dtype,
                "autocast": torch.is_autocast_enabled("cuda"),
                "training": self.training,
                "shape": tuple(x.shape),
            }
        )
        feats = self.conv(x).mean(dim=(2, 3))
        return feats, (self.head(feats) if self.head is not None else None)


def _expected(values: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """Features ProbeNet must return for solid images with per-channel ``values`` (N, C) in 0..255."""
    out: np.ndarray = ((values / 255.0 - np.array(prep.mean)) / np.array(prep.std)).astype(np.float32)
    return out


def _write(path: Path, img: Image.Image, **save: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **save)  # type: ignore[arg-type]


def _grey_folder(root: Path, n_per_class: int = 3) -> dict[str, int]:
    """Solid grey PNGs (mode L), distinct value per image; returns key -> value."""
    values = {}
    for c, cls in enumerate(("ant", "bee")):
        for i in range(n_per_class):
            v = 20 + 40 * c + 9 * i
            _write(root / cls / f"{i}.png", Image.new("L", (11, 7), v))
            values[f"{cls}/{i}.png"] = v
    return values


def _open(root: Path, ref: str = "ds") -> Dataset:
    return open_dataset(ref, [root], base=root)


def test_grey_images_feed_an_rgb_model(tmp_path: Path) -> None:
    values = _grey_folder(tmp_path / "ds")
    model = ProbeNet(3)
    fs = extract_features(model, _open(tmp_path), RGB, batch_size=4)
    assert fs.features.dtype == np.float32 and fs.features.shape == (6, 3)
    grey = np.array([[values[k]] * 3 for k in fs.keys], dtype=np.float64)
    np.testing.assert_allclose(fs.features, _expected(grey, RGB), atol=1e-5)
    assert fs.keys == tuple(sorted(values)) and fs.classes == ("ant", "bee")
    assert fs.labels.tolist() == [0, 0, 0, 1, 1, 1] and fs.labels.dtype == np.int64
    assert fs.corrupt == () and fs.total == 6
    assert [c["shape"] for c in model.calls] == [(4, 3, 8, 8), (2, 3, 8, 8)]
    assert all(c["inference"] and c["channels_last"] and not c["training"] for c in model.calls)
    assert all(c["dtype"] == torch.float32 and not c["autocast"] for c in model.calls)  # none on CPU


def test_rgb_images_feed_a_grey_model(tmp_path: Path) -> None:
    colours = {"a/0.png": (200, 100, 50), "a/1.png": (0, 255, 0), "b/0.jpg": (90, 90, 90)}
    for key, rgb in colours.items():
        _write(tmp_path / "ds" / key, Image.new("RGB", (9, 9), rgb), quality=95)
    fs = extract_features(ProbeNet(1), _open(tmp_path), GREY)
    luma = np.array([[(r * 299 + g * 587 + b * 114 + 500) // 1000] for r, g, b in colours.values()], float)
    tolerance = 2 / 255 / GREY.std[0]  # the JPEG is lossy by a level or so
    np.testing.assert_allclose(fs.features, _expected(luma, GREY), atol=tolerance)


def test_probs_are_a_float64_softmax_of_the_logits(tmp_path: Path) -> None:
    _grey_folder(tmp_path / "ds")
    torch.manual_seed(0)
    model = ProbeNet(3, num_classes=1000)
    with torch.no_grad():
        model.head.weight.mul_(50)  # type: ignore[union-attr]  # large logits: float32 softmax would drift
    fs = extract_features(model, _open(tmp_path), RGB)
    assert fs.probs is not None and fs.probs.dtype == np.float32 and fs.probs.shape == (6, 1000)
    np.testing.assert_allclose(fs.probs.astype(np.float64).sum(axis=1), 1.0, atol=1e-6)
    logits = model.head(torch.from_numpy(fs.features)).double()  # type: ignore[misc]
    np.testing.assert_allclose(fs.probs, torch.softmax(logits, 1).detach().numpy(), rtol=1e-5, atol=1e-7)


def test_headless_model_has_no_probs(tmp_path: Path) -> None:
    _grey_folder(tmp_path / "ds")
    fs = extract_features(ProbeNet(3, num_classes=None), _open(tmp_path), RGB)
    assert fs.probs is None and fs.features.shape == (6, 3)


def test_geometry_matches_torchvision() -> None:
    rng = np.random.default_rng(0)
    colour = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8))
    grey = Image.fromarray(rng.integers(0, 256, (41, 29), dtype=np.uint8))
    cases = [
        (
            Preprocessing(16, MEAN3, STD3, resize=20, crop="center", interpolation="bicubic"),
            v2.Compose([v2.Resize(20, interpolation=v2.InterpolationMode.BICUBIC), v2.CenterCrop(16)]),
        ),
        (Preprocessing(16, MEAN3, STD3), v2.Resize((16, 16))),
        (Preprocessing(16, MEAN3, STD3, crop="center"), v2.Compose([v2.Resize(16), v2.CenterCrop(16)])),
    ]
    for img in (colour, grey):  # grey is resized before replication: must still match torchvision on RGB
        for prep, ref in cases:
            ours = ImageTransform(prep)(img).permute(2, 0, 1)
            theirs = v2.PILToTensor()(ref(img.convert("RGB")))
            assert torch.equal(ours, theirs), (img.mode, prep)
    grey_prep = Preprocessing(16, (0.5,), (0.5,), channels=1, resize=18, crop="center")
    ours = ImageTransform(grey_prep)(colour).permute(2, 0, 1)
    theirs = v2.PILToTensor()(v2.Compose([v2.Resize(18), v2.CenterCrop(16)])(colour.convert("L")))
    assert torch.equal(ours, theirs)


def _truncated_jpeg(path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(buf, format="JPEG")
    path.write_bytes(buf.getvalue()[:200])


def _bomb_png(path: Path) -> None:
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    struct.pack_into(">II", data, 16, 60000, 60000)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


def test_corrupt_images_are_counted_and_reported(tmp_path: Path) -> None:
    values = _grey_folder(tmp_path / "ds", n_per_class=5)
    _truncated_jpeg(tmp_path / "ds" / "ant" / "broken.jpg")
    _bomb_png(tmp_path / "ds" / "bee" / "bomb.png")
    ds = _open(tmp_path)
    assert len(ds) == 12
    fs = extract_features(ProbeNet(3), ds, RGB, batch_size=5, corrupt_threshold=2 / 12)  # at the limit
    assert fs.total == 12 and len(fs) == 10 and fs.corrupt_fraction == pytest.approx(2 / 12)
    reasons = {c.key: c.reason for c in fs.corrupt}
    assert set(reasons) == {"ant/broken.jpg", "bee/bomb.png"}
    assert "limit" in reasons["bee/bomb.png"]
    assert fs.keys == tuple(sorted(values))  # good rows keep their keys and order
    grey = np.array([[values[k]] * 3 for k in fs.keys], dtype=np.float64)
    np.testing.assert_allclose(fs.features, _expected(grey, RGB), atol=1e-5)
    with pytest.raises(TooManyCorruptImagesError, match="2 of 12") as info:
        extract_features(ProbeNet(3), ds, RGB, corrupt_threshold=0.1)
    assert info.value.context == {"corrupt": 2, "total": 12}
    with pytest.raises(TooManyCorruptImagesError):
        fs.check_corrupt(0.1)  # a stored result is re-checked under a stricter threshold
    fs.check_corrupt(0.2)


def test_threshold_fails_early(tmp_path: Path) -> None:
    (tmp_path / "ds" / "a").mkdir(parents=True)
    for i in range(6):
        if i < 2:
            _truncated_jpeg(tmp_path / "ds" / "a" / f"{i}.jpg")
        else:
            _write(tmp_path / "ds" / "a" / f"{i}.png", Image.new("L", (4, 4), i))
    model = ProbeNet(3)
    with pytest.raises(TooManyCorruptImagesError):
        extract_features(model, _open(tmp_path), RGB, batch_size=1, corrupt_threshold=0.2)
    assert model.calls == []  # the two corrupt images come first: stopped before any forward pass


def test_nothing_decodable(tmp_path: Path) -> None:
    (tmp_path / "ds" / "a").mkdir(parents=True)
    _truncated_jpeg(tmp_path / "ds" / "a" / "x.jpg")
    with pytest.raises(TooManyCorruptImagesError, match="none of the 1"):
        extract_features(ProbeNet(3), _open(tmp_path), RGB, corrupt_threshold=1.0)


def test_workers_give_identical_results_and_progress_is_reported(tmp_path: Path) -> None:
    _grey_folder(tmp_path / "ds", n_per_class=7)
    _truncated_jpeg(tmp_path / "ds" / "bee" / "zz.jpg")
    ds = _open(tmp_path)
    ticks: list[tuple[int, int]] = []
    model = ProbeNet(3)
    inline = extract_features(model, ds, RGB, batch_size=4, num_workers=0, corrupt_threshold=0.1)
    pooled = extract_features(
        model,
        ds,
        RGB,
        batch_size=4,
        num_workers=2,
        corrupt_threshold=0.1,
        progress=lambda d, t: ticks.append((d, t)),
    )
    assert np.array_equal(inline.features, pooled.features) and inline.keys == pooled.keys
    assert np.array_equal(inline.probs, pooled.probs)  # type: ignore[arg-type]
    assert pooled.corrupt == inline.corrupt and len(pooled.corrupt) == 1
    assert ticks == [(0, 15), (4, 15), (8, 15), (12, 15), (15, 15)]


def test_model_contract_is_enforced(tmp_path: Path) -> None:
    _grey_folder(tmp_path / "ds")
    ds = _open(tmp_path)

    class OneOutput(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(2, 3))

    class NaNs(ProbeNet):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            feats, logits = super().forward(x)
            return feats * float("nan"), logits

    class Spatial(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
            return x, None

    for model, match in ((OneOutput(), "return"), (NaNs(3), "non-finite"), (Spatial(), "shape")):
        with pytest.raises(ModelLoadError, match=match):
            extract_features(model, ds, RGB)


def test_parameters_are_validated(tmp_path: Path) -> None:
    _grey_folder(tmp_path / "ds")
    ds = _open(tmp_path)
    for kwargs in ({"batch_size": 0}, {"num_workers": -1}, {"corrupt_threshold": 1.5}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            extract_features(ProbeNet(3), ds, RGB, **kwargs)
    with pytest.raises(ValueError, match="mean/std"):
        extract_features(ProbeNet(3), ds, Preprocessing(8, (0.5,), (0.5,), channels=3))
    with pytest.raises(DatasetFormatError, match="empty"):
        extract_features(ProbeNet(3), ds.subset([]), RGB)


def test_feature_set_validates_shapes() -> None:
    with pytest.raises(ValueError, match="disagree"):
        FeatureSet(np.zeros((2, 3), np.float32), np.zeros(3, np.int64), ("a", "b"), ("c",), None)
    fs = FeatureSet(np.zeros((2, 3), np.float32), np.zeros(2, np.int64), ("a", "b"), ("c",), None)
    assert fs.total == 2 and fs.corrupt_fraction == 0.0


def test_extractor_config_separates_precisions(tmp_path: Path) -> None:
    _grey_folder(tmp_path / "ds")
    ds = _open(tmp_path)
    cpu, gpu = extractor_config(ds, "cpu"), extractor_config(ds, "cuda:0")
    assert cpu["precision"] == "float32" and gpu["precision"] == "bf16-autocast"
    assert extractor_config(ds, "cuda", amp=False)["precision"] == "float32"
    assert cpu["max_image_pixels"] == ds.max_pixels and cpu["formats"] == ["JPEG", "PNG", "WEBP"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_uses_bf16_autocast_and_returns_float32(tmp_path: Path) -> None:
    values = _grey_folder(tmp_path / "ds")
    model = ProbeNet(3).cuda()
    fs = extract_features(model, _open(tmp_path), RGB, num_workers=1)
    assert fs.features.dtype == np.float32 and fs.probs is not None and fs.probs.dtype == np.float32
    assert all(c["channels_last"] and c["inference"] and c["autocast"] for c in model.calls)
    grey = np.array([[values[k]] * 3 for k in fs.keys], dtype=np.float64)
    np.testing.assert_allclose(fs.features, _expected(grey, RGB), rtol=2e-2, atol=2e-2)  # bf16 conv
    np.testing.assert_allclose(fs.probs.astype(np.float64).sum(axis=1), 1.0, atol=1e-6)


def test_many_models_decode_each_image_once_and_match_single_extraction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _grey_folder(tmp_path / "ds", n_per_class=5)
    _truncated_jpeg(tmp_path / "ds" / "ant" / "zz.jpg")
    ds = _open(tmp_path)
    torch.manual_seed(0)
    models = [ProbeNet(3), ProbeNet(3, num_classes=None), ProbeNet(3, num_classes=7)]
    alone = [extract_features(m, ds, RGB, batch_size=4, corrupt_threshold=0.2) for m in models]
    decoded: list[int] = []
    load = Dataset.load_image

    def counting(self: Dataset, i: int) -> Image.Image:
        decoded.append(i)
        return load(self, i)

    monkeypatch.setattr(Dataset, "load_image", counting)
    ticks: list[tuple[int, int]] = []
    together = extract_features_many(
        models, ds, RGB, batch_size=4, corrupt_threshold=0.2, progress=lambda d, t: ticks.append((d, t))
    )
    assert sorted(decoded) == list(range(len(ds)))  # each image decoded once for all three models
    assert ticks == [(0, 11), (4, 11), (8, 11), (11, 11)]
    for a, b in zip(alone, together, strict=True):
        # the same batches through the same arithmetic: identical numbers, not merely close ones
        assert np.array_equal(a.features, b.features) and a.keys == b.keys
        assert (a.probs is None and b.probs is None) or np.array_equal(a.probs, b.probs)  # type: ignore[arg-type]
        assert a.corrupt == b.corrupt and len(b.corrupt) == 1 and b.total == 11
        assert np.array_equal(a.labels, b.labels)
    assert together[1].probs is None and together[2].probs is not None and together[2].probs.shape == (10, 7)


def test_many_models_name_the_model_that_breaks_the_contract(tmp_path: Path) -> None:
    _grey_folder(tmp_path / "ds")
    ds = _open(tmp_path)

    class NaNs(ProbeNet):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            feats, logits = super().forward(x)
            return feats * float("nan"), logits

    with pytest.raises(ModelLoadError, match="non-finite") as info:
        extract_features_many([ProbeNet(3), NaNs(3)], ds, RGB)
    assert info.value.context["model_index"] == 1
    with pytest.raises(ValueError, match="at least one model"):
        extract_features_many([], ds, RGB)


def test_failed_images_are_dropped_in_the_worker(tmp_path: Path) -> None:
    _grey_folder(tmp_path / "ds", n_per_class=2)
    _truncated_jpeg(tmp_path / "ds" / "ant" / "1a.jpg")
    model = ProbeNet(3)
    fs = extract_features(model, _open(tmp_path), RGB, batch_size=3, num_workers=1, corrupt_threshold=0.5)
    # the forward pass only ever sees decoded images: batch 1 holds 2 of 3 (ant/1a.jpg failed), batch 2 two
    assert [c["shape"][0] for c in model.calls] == [2, 2]  # type: ignore[index]
    assert [c.key for c in fs.corrupt] == ["ant/1a.jpg"] and "\n" not in fs.corrupt[0].reason


def test_check_device_refuses_devices_this_machine_lacks() -> None:
    assert check_device("cpu") == "cpu"
    with pytest.raises(DeviceUnavailableError, match="not supported|unknown"):
        check_device("tpu")
    with pytest.raises(DeviceUnavailableError, match="cuda:4096"):
        check_device("cuda:4096")  # no machine has that many GPUs
    if not torch.backends.mps.is_available():
        with pytest.raises(DeviceUnavailableError, match="MPS") as info:
            check_device("mps")
        assert info.value.code == "device-unavailable"
    if not torch.cuda.is_available():
        with pytest.raises(DeviceUnavailableError, match="no usable CUDA GPU"):
            check_device("cuda")
    else:
        assert check_device("cuda:0") == "cuda:0"
