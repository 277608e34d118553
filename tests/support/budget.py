"""Constructed cases for budget mode: a dataset whose classes differ only in colour, a model that sees
the colour (a clear winner), a model that sees only pixel noise (a clear loser), each a real zoo entry
with real safetensors weights in a throw-away package (loaded through the real digest check)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from zoo import Preprocessing, WeightsSource, ZooEntry

#: Mid-range class colours: with noise of standard deviation 12 nothing is clipped, so every class has
#: the same pixel noise and only the mean colour tells the classes apart.
COLOURS = {"red": (170, 90, 90), "green": (90, 170, 90), "blue": (90, 90, 170)}


def write_colour_folder(root: Path, per_class: int, size: int = 16, seed: int = 0) -> Path:
    """An ImageFolder of solid class colours plus independent Gaussian pixel noise (sd 12)."""
    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = np.asarray(colour, dtype=np.float64)[None, None, :] + rng.normal(0, 12, (size, size, 3))
            Image.fromarray(np.clip(img, 0, 255).round().astype(np.uint8)).save(folder / f"{i:03d}.png")
    return root


class ColourNet(nn.Module):
    """Features: each channel's mean over the image, through a 1x1 convolution (``(N, 3)``)."""

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Conv2d(3, 3, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.mix(x).mean(dim=(2, 3))
        return out


class NoiseNet(nn.Module):
    """Features: a 2x2 patch at ``(offset, offset)`` minus the image's channel means, scaled (``(N, 12)``).

    On :func:`write_colour_folder` images that is pure pixel noise: it says nothing about the class.
    """

    def __init__(self, offset: int = 0) -> None:
        super().__init__()
        self.offset = offset
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.offset
        corner = x[:, :, o : o + 2, o : o + 2] - x.mean(dim=(2, 3), keepdim=True)
        out: torch.Tensor = corner.flatten(1) * self.scale
        return out


def budget_entry(entry_id: str, kind: str, package_dir: Path, package: str, offset: int = 0) -> ZooEntry:
    """A headless zoo entry of ``kind`` (``colour``, or ``noise`` at patch ``offset``) whose weights are
    written into the importable package ``package`` at ``package_dir``."""
    torch.manual_seed(0)
    net: nn.Module
    builder: Callable[[], nn.Module]
    if kind == "colour":
        colour = ColourNet()
        assert colour.mix.bias is not None
        with torch.no_grad():  # the identity mix: the features are the channel means themselves
            colour.mix.weight.copy_(torch.eye(3).reshape(3, 3, 1, 1))
            colour.mix.bias.zero_()
        net = colour
        builder, dim = ColourNet, 3
    else:
        net, builder, dim = NoiseNet(offset), partial(NoiseNet, offset), 12
    filename = f"{entry_id}.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(package_dir / filename))
    digest = hashlib.sha256((package_dir / filename).read_bytes()).hexdigest()
    return ZooEntry(
        id=entry_id,
        arch=f"{kind}net",
        builder=builder,
        weights=WeightsSource(kind="package", filename=filename, sha256=digest, package=package),
        preprocessing=Preprocessing(input_size=16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)),
        feature_layer="channel means" if kind == "colour" else "corner pixels",
        head=None,
        feature_dim=dim,
        num_source_classes=None,
        source="synthetic",
        license="CC0-1.0",
        citation="test fixture",
        tags=("test",),
    )
