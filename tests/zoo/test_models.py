"""The built-in models with their real shipped weights (installed by ``make assets`` before pytest).

These tests are not skipped when the weights are missing: they fail and say how to install them.
Inputs are real images that ship with scikit-learn (a dependency): the ``china.jpg`` photo and the
8x8 handwritten digits, so the checks can tell real weights from random or mis-mapped ones.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits, load_sample_image

import zoo.weights as zw
from zoo import get_entry, list_entries
from zoo._api import Preprocessing, ZooEntry
from zoo.assets import status
from zoo.errors import WeightsIntegrityError
from zoo.models import FeatureModel, load_model, random_model

IMAGENET = [
    "mobilenet_v2.tv_in1k",
    "efficientnet_lite0.in1k",
    "efficientnet_lite1.in1k",
    "efficientnet_lite2.in1k",
]
PALACE = 698  # ImageNet-1k class of sklearn's china.jpg (the Summer Palace); all four agree at 224 px


def _preprocess(image: np.ndarray, pre: Preprocessing) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, S, S) following ``pre`` (shorter-side resize, centre crop, normalise)."""
    x = torch.from_numpy(image.copy()).permute(2, 0, 1).float()[None] / 255.0
    if pre.resize is not None:
        h, w = x.shape[-2:]
        scale = pre.resize / min(h, w)
        size = (round(h * scale), round(w * scale))
        x = F.interpolate(x, size=size, mode=pre.interpolation, antialias=True, align_corners=False)
    if pre.crop == "center":
        h, w = x.shape[-2:]
        top, left = (h - pre.input_size) // 2, (w - pre.input_size) // 2
        x = x[..., top : top + pre.input_size, left : left + pre.input_size]
    else:
        x = F.interpolate(x, size=(pre.input_size,) * 2, mode=pre.interpolation, antialias=True)
    mean = torch.tensor(pre.mean)[:, None, None]
    std = torch.tensor(pre.std)[:, None, None]
    return (x - mean) / std


@pytest.fixture(scope="module")
def china() -> np.ndarray:
    image: np.ndarray = load_sample_image("china.jpg")
    return image


@pytest.mark.parametrize("entry_id", sorted(e.id for e in list_entries(tags=("builtin",))))
def test_shipped_weights_are_installed_and_verify(entry_id: str) -> None:
    source = get_entry(entry_id).weights
    path = zw.resolve_path(source)
    assert path.is_file(), f"{path} missing: run `make assets` (python -m zoo.assets install) first"
    assert zw.verify(path, source) == source.sha256


def test_assets_status_reports_every_builtin_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert status() == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    for entry in list_entries(tags=("builtin",)):
        assert lines[entry.id].split()[1] == "ok"
    assert "MISSING" in lines["vit_b_16.tv_in1k"] or lines["vit_b_16.tv_in1k"].split()[1] == "ok"


@pytest.mark.slow
@pytest.mark.parametrize("entry_id", IMAGENET)
def test_imagenet_models_recognise_a_real_photo(entry_id: str, china: np.ndarray) -> None:
    entry = get_entry(entry_id)
    model = load_model(entry)  # strict load (EfficientNet-Lite through the in-order key map)
    native = replace(entry.preprocessing, input_size=224, resize=256, crop="center")
    with torch.no_grad():
        feats, logits = model(_preprocess(china, native))
        assert logits is not None
        assert int(logits.argmax()) == PALACE
        # at the entry's own (64 px) preprocessing: finite, non-negative pooled ReLU6 features, valid probs
        feats, logits = model(_preprocess(china, entry.preprocessing))
    assert feats.shape == (1, entry.feature_dim) and torch.isfinite(feats).all() and (feats >= 0).all()
    assert float(feats.std()) > 0
    assert logits is not None and logits.shape == (1, 1000)
    probs = logits.softmax(-1)
    assert torch.allclose(probs.sum(-1), torch.ones(1)) and torch.isfinite(probs).all()


def test_mobilenet_v2_matches_torchvisions_own_weights_path(china: np.ndarray) -> None:
    """The seeded hub file is what ``torchvision``'s ``weights=IMAGENET1K_V1`` loads, and the split at the
    head is exact: our (features -> head) equals torchvision's end-to-end logits."""
    from torchvision import models

    reference = models.mobilenet_v2(weights="IMAGENET1K_V1").eval()
    ours = load_model(get_entry("mobilenet_v2.tv_in1k"))
    x = _preprocess(china, get_entry("mobilenet_v2.tv_in1k").preprocessing)
    with torch.no_grad():
        feats, logits = ours(x)
        expected = reference(x)
    assert logits is not None and torch.allclose(logits, expected, atol=1e-5)
    assert torch.allclose(feats, torch.flatten(F.adaptive_avg_pool2d(F.relu6(reference.features(x)), 1), 1))


def test_efficientnet_lite_key_map_checks_every_tensor() -> None:
    entry = get_entry("efficientnet_lite0.in1k")
    state = zw.load_state_dict(entry.weights)
    target = entry.builder().state_dict()
    mapped = zw.apply_key_map(state, target, "in_order")
    assert set(mapped) == set(target)
    assert all(mapped[k].shape == target[k].shape for k in target)
    keys = [k for k in state if not k.endswith("num_batches_tracked")]
    dropped = {k: v for k, v in state.items() if k != keys[10]}
    with pytest.raises(WeightsIntegrityError, match="tensors"):
        zw.apply_key_map(dropped, target, "in_order")
    swapped = dict(state)
    swapped[keys[0]], swapped[keys[1]] = state[keys[1]], state[keys[0]]  # stem conv <-> bn0 weight
    with pytest.raises(WeightsIntegrityError, match="does not fit"):
        zw.apply_key_map(swapped, target, "in_order")


def _digits(n: int) -> tuple[torch.Tensor, np.ndarray]:
    """sklearn's real handwritten 8x8 digits, MNIST-style: 20x20 glyph centred in 28x28, normalised."""
    data = load_digits()
    x = torch.tensor(data.images[:n], dtype=torch.float32)[:, None] / 16.0
    x = F.pad(F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False).clamp(0, 1), (4, 4, 4, 4))
    pre = get_entry("digit_cnn.mnist").preprocessing
    return (x - pre.mean[0]) / pre.std[0], data.target[:n]


def _accuracy(model: FeatureModel, x: torch.Tensor, y: np.ndarray) -> float:
    with torch.no_grad():
        _, logits = model(x)
    assert logits is not None
    return float((logits.argmax(1).numpy() == y).mean())


def test_digit_cnn_reads_real_handwritten_digits() -> None:
    entry: ZooEntry = get_entry("digit_cnn.mnist")
    x, y = _digits(300)
    model = load_model(entry)
    feats, _ = model(x[:4])
    assert feats.shape == (4, 256) and torch.isfinite(feats).all()
    assert _accuracy(model, x, y) >= 0.7  # measured 0.82 on all 1,797; chance is 0.1
    assert _accuracy(random_model(entry), x, y) < 0.3  # so the check above is about the weights


def test_source_profiles_load_verified_and_match_the_feature_dim() -> None:
    """Every trained entry's profile loads (digest checked) with mean/std of the declared feature dim."""
    from zoo import list_entries
    from zoo.models import load_source_profile

    profiled = [e for e in list_entries(tags=("trained",)) if e.profile is not None]
    assert profiled, "the trained zoo ships source profiles"
    for entry in profiled:
        profile = load_source_profile(entry)
        assert profile is not None
        assert profile.mean.shape == profile.std.shape == (entry.feature_dim,)
        assert profile.features.shape[0] <= 5000


def test_source_profile_digest_mismatch_is_refused() -> None:
    from dataclasses import replace

    from zoo import list_entries
    from zoo.errors import WeightsIntegrityError, WeightsNotFoundError
    from zoo.models import load_source_profile

    entry = next(e for e in list_entries(tags=("trained",)) if e.profile is not None)
    tampered = replace(entry, meta={**entry.meta, "profile_sha256": "0" * 64})
    with pytest.raises(WeightsIntegrityError, match="SHA-256"):
        load_source_profile(tampered)
    with pytest.raises(WeightsNotFoundError, match="stay inside"):
        load_source_profile(replace(entry, profile="../../etc/passwd"))
    assert load_source_profile(replace(entry, profile=None)) is None
