"""Catalogue of common torchvision ImageNet-1k models with official weights (tag ``catalogue``).

Their weights are not shipped: :mod:`zoo.weights` loads them from the torch hub cache
(``$TORCH_HOME/hub/checkpoints/<official name>``) when present, downloads them where a network exists, and
otherwise raises :class:`~zoo.errors.WeightsNotFoundError` naming the file, the folder and the URL.

Integrity: the full SHA-256 of these files could not be computed here (no network), so ``sha256`` is
None and the file is verified against the digest prefix torchvision publishes in the official name
(``<arch>-<sha256[:8]>.pth``; 32 bits, the same check ``torch.hub`` applies on download). A file is never
loaded unverified. Record the full digest here once a file has been fetched on a networked machine.

These run at their published 224 px preprocessing (resize, centre crop, interpolation exactly as the
torchvision weights' ``transforms``; a test cross-checks URL, preprocessing and parameter count against
``torchvision.models.get_model_weights``). They are slow on CPU (vit_b_16 ~4 img/s); prefer the built-in
64 px models for CPU benchmarks.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

from zoo._api import Preprocessing, WeightsSource, ZooEntry, register_entry
from zoo.entries._builders import torchvision_model
from zoo.entries.imagenet import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["CATALOGUE"]

_URL = "https://download.pytorch.org/models/"


class _Row(NamedTuple):
    """One torchvision weights variant."""

    id: str
    arch: str
    weights: str  # torchvision Weights enum member
    filename: str  # official hub file name, <name>-<sha256[:8]>.pth
    resize: int
    interpolation: str
    head: str
    feature_dim: int
    feature_layer: str
    num_params: int
    top1: float
    citation: str


_HE = "He, K. et al. Deep Residual Learning for Image Recognition. CVPR 2016."
_MBV3 = "Howard, A. et al. Searching for MobileNetV3. ICCV 2019."

CATALOGUE: tuple[_Row, ...] = (
    _Row("resnet18.tv_in1k", "resnet18", "IMAGENET1K_V1", "resnet18-f37072fd.pth", 256, "bilinear",
         "fc", 512, "fc input: global average pool of layer4", 11689512, 69.758, _HE),
    _Row("resnet50.tv_in1k", "resnet50", "IMAGENET1K_V1", "resnet50-0676ba61.pth", 256, "bilinear",
         "fc", 2048, "fc input: global average pool of layer4", 25557032, 76.13, _HE),
    _Row("resnet50.tv2_in1k", "resnet50", "IMAGENET1K_V2", "resnet50-11ad3fa6.pth", 232, "bilinear",
         "fc", 2048, "fc input: global average pool of layer4", 25557032, 80.858, _HE),
    _Row("vit_b_16.tv_in1k", "vit_b_16", "IMAGENET1K_V1", "vit_b_16-c867db91.pth", 256, "bilinear",
         "heads.head", 768, "heads.head input: class token after the final LayerNorm", 86567656, 81.072,
         "Dosovitskiy, A. et al. An Image is Worth 16x16 Words: Transformers for Image Recognition at "
         "Scale. ICLR 2021."),
    _Row("convnext_tiny.tv_in1k", "convnext_tiny", "IMAGENET1K_V1", "convnext_tiny-983f1562.pth", 236,
         "bilinear", "classifier.2", 768, "classifier.2 input: pooled, LayerNorm2d-normalised, flattened",
         28589128, 82.52, "Liu, Z. et al. A ConvNet for the 2020s. CVPR 2022."),
    _Row("efficientnet_b0.tv_in1k", "efficientnet_b0", "IMAGENET1K_V1",
         "efficientnet_b0_rwightman-7f5810bc.pth", 256, "bicubic", "classifier.1", 1280,
         "classifier.1 input: global average pool of the last 1x1 conv (SiLU)", 5288548, 77.692,
         "Tan, M. and Le, Q. V. EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks. "
         "ICML 2019."),
    _Row("mobilenet_v3_small.tv_in1k", "mobilenet_v3_small", "IMAGENET1K_V1",
         "mobilenet_v3_small-047dcff4.pth", 256, "bilinear",
         "classifier.3", 1024, "classifier.3 input: 1024-d pre-logits (Linear+Hardswish)",
         2542856, 67.668, _MBV3),
    _Row("mobilenet_v3_large.tv_in1k", "mobilenet_v3_large", "IMAGENET1K_V1",
         "mobilenet_v3_large-8738ca79.pth", 256, "bilinear",
         "classifier.3", 1280, "classifier.3 input: 1280-d pre-logits (Linear+Hardswish)",
         5483032, 74.042, _MBV3),
    _Row("regnet_y_400mf.tv_in1k", "regnet_y_400mf", "IMAGENET1K_V1", "regnet_y_400mf-c65dace8.pth", 256,
         "bilinear", "fc", 440, "fc input: global average pool of the trunk", 4344144, 74.046,
         "Radosavovic, I. et al. Designing Network Design Spaces. CVPR 2020."),
)  # fmt: skip

for _row in CATALOGUE:
    register_entry(
        ZooEntry(
            id=_row.id,
            arch=_row.arch,
            builder=partial(torchvision_model, _row.arch),
            weights=WeightsSource(kind="hub", filename=_row.filename, sha256=None, url=_URL + _row.filename),
            preprocessing=Preprocessing(
                input_size=224,
                mean=IMAGENET_MEAN,
                std=IMAGENET_STD,
                resize=_row.resize,
                crop="center",
                interpolation="bicubic" if _row.interpolation == "bicubic" else "bilinear",
            ),
            feature_layer=_row.feature_layer,
            head=_row.head,
            feature_dim=_row.feature_dim,
            num_source_classes=1000,
            source="ImageNet-1k",
            license="BSD-3-Clause (torchvision weights; ImageNet terms of use apply)",
            citation=f"{_row.citation} Weights: torchvision {_row.arch} {_row.weights}.",
            tags=("catalogue", "imagenet", "torchvision"),
            meta={
                "torchvision_weights": _row.weights,
                "num_params": _row.num_params,
                "imagenet_top1": _row.top1,
            },
        )
    )
