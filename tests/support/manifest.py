"""Zoo manifests for the tests: a timm and a torchvision entry whose weights the test saves itself.

The weights are the architectures' own random initialisations (seeded), written as safetensors under a
models root, with their SHA-256 computed here, so loading goes through the real digest check, the real
strict state-dict loading and the real head-shape check.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import save_file

from zoo.entries._builders import timm_model, torchvision_model

#: The two entries :func:`write_manifest` declares.
TIMM_ID = "test_resnet.acme_timm"
TORCHVISION_ID = "mobilenet_v3_small.acme_tv"

_PREPROCESSING = (
    'preprocessing = {{ input_size = {size}, resize = {resize}, crop = "center", '
    'interpolation = "bilinear", mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225] }}'
)


def save_weights(net: torch.nn.Module, path: Path) -> str:
    """Write ``net``'s state dict as safetensors at ``path``; returns its SHA-256 hex digest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_text(timm_sha: str, tv_sha: str, *, size: int = 32) -> str:
    """A two-entry manifest: ``timm:test_resnet`` (5 classes) and ``torchvision:mobilenet_v3_small`` (4)."""
    pre = _PREPROCESSING.format(size=size, resize=size + size // 8)
    return f"""# models of the ACME platform team
[[models]]
id = "{TIMM_ID}"
library = "timm"
architecture = "test_resnet"
num_classes = 5
head = "fc"
feature_dim = 96
feature_layer = "fc input: global average pool"
source = "synthetic (random init, seed 1)"
license = "Apache-2.0"
tags = ["acme"]
weights = {{ file = "timm/test_resnet.safetensors", sha256 = "{timm_sha}" }}
{pre}

[[models]]
id = "{TORCHVISION_ID}"
library = "torchvision"
architecture = "mobilenet_v3_small"
num_classes = 4
head = "classifier.3"
feature_dim = 1024
feature_layer = "classifier.3 input: 1024-d pre-logits"
source = "synthetic (random init, seed 2)"
license = "BSD-3-Clause"
citation = "Howard et al. 2019"
weights = {{ file = "tv/mobilenet_v3_small.safetensors", sha256 = "{tv_sha}" }}
{pre}
"""


def write_manifest(folder: Path) -> Path:
    """Save both entries' weights under ``folder`` (the models root) and the manifest beside them."""
    torch.manual_seed(1)
    timm_sha = save_weights(timm_model("test_resnet", 5), folder / "timm" / "test_resnet.safetensors")
    torch.manual_seed(2)
    tv_sha = save_weights(
        torchvision_model("mobilenet_v3_small", 4), folder / "tv" / "mobilenet_v3_small.safetensors"
    )
    path = folder / "zoo.toml"
    path.write_text(manifest_text(timm_sha, tv_sha), encoding="utf-8")
    return path
