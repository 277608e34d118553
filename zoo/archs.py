"""Small 32-px architectures of the self-trained zoo, registered by name.

Every network here takes ``(B, 3, 32, 32)`` float input (grey sources are replicated to three channels),
ends in global average pooling followed by a single ``nn.Linear`` head, and returns source logits
``(B, num_classes)``. The head's *input* is the feature vector that the transferability scorers see, so
each architecture records the head's dotted path and the feature width ``D`` next to its builder: the
zoo manifest copies both, and feature extraction hooks the head without knowing the class.

The three families are deliberately different (plain conv stack, residual, depthwise-separable) with
different feature widths, so that rankings over them are not trivially tied:

=================  =====  ===========  ==============================================
name               head   feature_dim  shape of the network
=================  =====  ===========  ==============================================
``cnn4``           fc     128          4 x (conv3x3 + BN + ReLU), widths 32/32/64/128
``resnet8``        fc     64           stem + 3 basic residual blocks, widths 16/32/64
``mobilenet_tiny`` classifier 96       MobileNetV2-style inverted residuals, 1x1 to 96
=================  =====  ===========  ==============================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from estimators._registry import Registry
from zoo.errors import UnknownModelError

__all__ = ["ARCHS", "ArchSpec", "build", "get_arch", "list_archs", "register_arch"]


@dataclass(frozen=True)
class ArchSpec:
    """A registered architecture.

    Attributes:
        name: registry key (``[a-z0-9_]+``, the ``arch`` half of a zoo id).
        builder: ``builder(num_classes)`` returns a randomly initialised network (seed it first).
        head: dotted path of the final ``nn.Linear`` inside the built network.
        feature_dim: D, the head's input width (the feature vector the scorers use).
        input_size: side of the square input the network was designed for, in pixels.
        description: one line for listings.
    """

    name: str
    builder: Callable[[int], nn.Module]
    head: str
    feature_dim: int
    input_size: int = 32
    description: str = ""


ARCHS: Registry[ArchSpec] = Registry("architecture", UnknownModelError)


def register_arch(
    name: str, *, head: str, feature_dim: int, description: str = ""
) -> Callable[[Callable[[int], nn.Module]], Callable[[int], nn.Module]]:
    """Decorator that registers ``builder(num_classes) -> nn.Module`` under ``name`` (duplicates raise)."""

    def decorate(builder: Callable[[int], nn.Module]) -> Callable[[int], nn.Module]:
        ARCHS.add(
            name,
            ArchSpec(name=name, builder=builder, head=head, feature_dim=feature_dim, description=description),
        )
        return builder

    return decorate


def get_arch(name: str) -> ArchSpec:
    """The :class:`ArchSpec` registered as ``name``; the error lists the valid names."""
    return ARCHS.get(name)


def list_archs() -> list[str]:
    """Registered architecture names, sorted."""
    return ARCHS.names()


def build(arch: str, num_classes: int) -> nn.Module:
    """Build the randomly initialised network ``arch`` with a ``num_classes``-way head.

    The caller seeds torch first when it needs reproducible initial weights.

    Raises:
        UnknownModelError: ``arch`` is not registered.
        ValueError: ``num_classes`` < 1.
    """
    spec = get_arch(arch)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    return spec.builder(num_classes)


def _conv_bn_relu(c_in: int, c_out: int, *, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """3x3 conv (no bias, BN follows) + BN + ReLU; keeps H, W at stride 1."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class CNN4(nn.Module):
    """Four conv + BN + ReLU blocks with 2x2 max-pooling after the first three, then GAP and ``fc``.

    Spatial sizes for a 32-px input: 32 -> 16 -> 8 -> 4, features ``(B, widths[-1])``.
    """

    def __init__(self, num_classes: int, widths: tuple[int, int, int, int] = (32, 32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i, w in enumerate(widths):
            layers.append(_conv_bn_relu(c_in, w))
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c_in = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> logits ``(B, num_classes)``."""
        out: torch.Tensor = self.fc(torch.flatten(self.pool(self.features(x)), 1))
        return out


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv + BN, identity or 1x1-conv shortcut, ReLU after the sum."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, c_in, H, W)`` -> ``(B, c_out, H / stride, W / stride)``."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        result: torch.Tensor = self.relu(out + self.shortcut(x))
        return result


class ResNet8(nn.Module):
    """Narrow CIFAR-style ResNet-8: 3x3 stem, one basic block per stage (strides 1, 2, 2), GAP, ``fc``.

    Spatial sizes for a 32-px input: 32 -> 32 -> 16 -> 8, features ``(B, widths[-1])``.
    """

    def __init__(self, num_classes: int, widths: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        self.stem = _conv_bn_relu(3, widths[0])
        blocks: list[nn.Module] = []
        c_in = widths[0]
        for i, w in enumerate(widths):
            blocks.append(BasicBlock(c_in, w, stride=1 if i == 0 else 2))
            c_in = w
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> logits ``(B, num_classes)``."""
        out: torch.Tensor = self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))
        return out


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand + BN + ReLU6, 3x3 depthwise + BN + ReLU6, 1x1 project + BN.

    The input is added back when the block keeps both the stride (1) and the width.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, c_in, H, W)`` -> ``(B, c_out, H / stride, W / stride)``."""
        out: torch.Tensor = self.block(x)
        return x + out if self.residual else out


class MobileNetTiny(nn.Module):
    """A MobileNetV2-style network for 32-px inputs (about 60k parameters), GAP and ``classifier``.

    Stride-2 3x3 stem to 16 channels @ 16 px (full-resolution depthwise layers are slow on CPUs), inverted
    residual stages (expand 4) to 24 @ 8 px, 32 @ 8 px and 48 @ 4 px, then a 1x1 conv + BN + ReLU6 to
    ``last`` channels: features ``(B, last)``.
    """

    #: (expand, width, blocks, first stride) per stage, MobileNetV2 notation.
    STAGES: tuple[tuple[int, int, int, int], ...] = (
        (1, 16, 1, 1),
        (4, 24, 2, 2),
        (4, 32, 2, 1),
        (4, 48, 1, 2),
    )

    def __init__(self, num_classes: int, last: int = 96) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu(3, 16, stride=2)]
        c_in = 16
        for expand, width, n, stride in self.STAGES:
            for i in range(n):
                layers.append(InvertedResidual(c_in, width, stride if i == 0 else 1, expand))
                c_in = width
        layers += [nn.Conv2d(c_in, last, 1, bias=False), nn.BatchNorm2d(last), nn.ReLU6(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> logits ``(B, num_classes)``."""
        out: torch.Tensor = self.classifier(torch.flatten(self.pool(self.features(x)), 1))
        return out


@register_arch("cnn4", head="fc", feature_dim=128, description="4 conv+BN+ReLU, widths 32/32/64/128")
def cnn4(num_classes: int) -> nn.Module:
    """Plain four-layer CNN (about 100k parameters), 128-d features."""
    return CNN4(num_classes)


@register_arch("resnet8", head="fc", feature_dim=64, description="narrow ResNet-8, widths 16/32/64")
def resnet8(num_classes: int) -> nn.Module:
    """Narrow residual network (about 80k parameters), 64-d features."""
    return ResNet8(num_classes)


@register_arch(
    "mobilenet_tiny", head="classifier", feature_dim=96, description="MobileNetV2-style, 1x1 to 96"
)
def mobilenet_tiny(num_classes: int) -> nn.Module:
    """Depthwise-separable network with inverted residuals, 96-d features."""
    return MobileNetTiny(num_classes)
