"""Built-in zoo entries (registered on import): shipped ImageNet and MNIST models, the torchvision
catalogue, and the models trained here (from ``zoo/artifacts/manifest.json``, when it exists)."""

from zoo.entries import catalogue, digits, imagenet, trained  # noqa: F401
