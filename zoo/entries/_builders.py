"""Picklable, lazily importing network builders shared by the entry modules.

Entries hold ``functools.partial(builder, name)`` so that ``import zoo`` stays cheap (torchvision.models
alone takes ~3 s to import) and entries can be sent to worker processes.
"""

from __future__ import annotations

from torch import nn

__all__ = ["timm_model", "torchvision_model"]


def torchvision_model(name: str) -> nn.Module:
    """A randomly initialised torchvision classifier (``weights=None``: never downloads)."""
    from torchvision import models  # heavy: torchvision's model zoo, only when an entry is built

    net: nn.Module = models.get_model(name, weights=None)
    return net


def timm_model(name: str) -> nn.Module:
    """A randomly initialised timm model (``pretrained=False``: timm never reaches for the network)."""
    import timm  # heavy: timm's registry (seconds to import), only when a timm entry is built

    net: nn.Module = timm.create_model(name, pretrained=False)
    return net
