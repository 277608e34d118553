"""Picklable, lazily importing network builders shared by the entry modules.

Entries hold ``functools.partial(builder, name)`` so that ``import zoo`` stays cheap (torchvision.models
alone takes ~3 s to import) and entries can be sent to worker processes.
"""

from __future__ import annotations

from torch import nn

__all__ = ["timm_model", "torchvision_model"]


def torchvision_model(name: str, num_classes: int | None = None) -> nn.Module:
    """A randomly initialised torchvision classifier (``weights=None``: never downloads).

    Args:
        num_classes: width of the source head; None keeps the builder's default (1000 for ImageNet).
    """
    from torchvision import models  # heavy: torchvision's model zoo, only when an entry is built

    extra = {} if num_classes is None else {"num_classes": num_classes}
    net: nn.Module = models.get_model(name, weights=None, **extra)
    return net


def timm_model(name: str, num_classes: int | None = None) -> nn.Module:
    """A randomly initialised timm model (``pretrained=False``: timm never reaches for the network).

    Args:
        num_classes: width of the source head; 0 builds the model headless (its output is the pooled
            feature vector); None keeps the model's default.
    """
    import timm  # heavy: timm's registry (seconds to import), only when a timm entry is built

    if num_classes is None:
        return timm.create_model(name, pretrained=False)
    return timm.create_model(name, pretrained=False, num_classes=num_classes)
