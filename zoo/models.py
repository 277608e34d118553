"""Turn a zoo entry into a feature extractor: ``features (B, D)`` and source ``logits (B, C_s)``.

:func:`load_model` builds the entry's network, loads its verified weights strictly (see
:mod:`zoo.weights`), and splits it at ``entry.head``: the final Linear is replaced by ``Identity`` in the
body, so the body's output *is* the feature vector (the head's input), and the Linear is applied
separately to give the source logits that LEEP / NCE need. Entries with ``weights.kind == "none"`` are
random-initialisation controls, seeded so every process builds the same network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from zoo._api import WeightsSource, ZooEntry
from zoo.errors import ModelLoadError, WeightsIntegrityError, WeightsNotFoundError
from zoo.training.profiles import load_profile
from zoo.weights import apply_key_map, file_sha256, load_state_dict, resolve_path

if TYPE_CHECKING:
    from zoo.training.profiles import SourceProfile

__all__ = [
    "FeatureModel",
    "feature_dim_of",
    "load_model",
    "load_source_profile",
    "random_model",
    "split_head",
]


class FeatureModel(nn.Module):
    """A network split into a feature body and an optional source head.

    Args:
        body: maps (B, C, H, W) images to (B, D) features (or (B, D, ...) which is flattened).
        head: the source classifier, (B, D) -> (B, C_s); None for headless models.
        entry_id: the zoo id, for messages.
    """

    def __init__(self, body: nn.Module, head: nn.Linear | None, entry_id: str = "") -> None:
        super().__init__()
        self.body = body
        self.head = head
        self.entry_id = entry_id

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, C, H, W) -> (features (B, D) float, logits (B, C_s) float or None)."""
        feats: torch.Tensor = self.body(x)
        if feats.ndim != 2:
            feats = feats.flatten(1)
        feats = feats.float()
        logits = self.head(feats) if self.head is not None else None
        return feats, logits


def split_head(net: nn.Module, head: str | None, entry_id: str = "") -> FeatureModel:
    """Detach the Linear at dotted path ``head`` from ``net`` (replaced by Identity) into a FeatureModel.

    Raises:
        ModelLoadError: ``head`` does not name an ``nn.Linear`` inside ``net``.
    """
    if head is None:
        return FeatureModel(net, None, entry_id)
    try:
        linear = net.get_submodule(head)
    except AttributeError:
        raise ModelLoadError(f"{entry_id}: the network has no module {head!r} (entry.head)") from None
    if not isinstance(linear, nn.Linear):
        raise ModelLoadError(f"{entry_id}: entry.head {head!r} is a {type(linear).__name__}, not nn.Linear")
    parent_name, _, child = head.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    setattr(parent, child, nn.Identity())
    return FeatureModel(net, linear, entry_id)


def _check_dims(model: FeatureModel, entry: ZooEntry) -> None:
    """The head must agree with the entry's declared D and C_s (a wrong entry is caught at load time)."""
    if model.head is None:
        return
    if model.head.in_features != entry.feature_dim or model.head.out_features != entry.num_source_classes:
        raise ModelLoadError(
            f"{entry.id}: head is Linear({model.head.in_features}, {model.head.out_features}) but the entry "
            f"declares feature_dim={entry.feature_dim}, num_source_classes={entry.num_source_classes}"
        )


def random_model(entry: ZooEntry, seed: int | None = None) -> FeatureModel:
    """``entry``'s architecture with seeded random weights, split at its head, in eval mode.

    Args:
        entry: any zoo entry.
        seed: init seed; defaults to ``entry.meta["seed"]`` or 0. The global RNG is left untouched.
    """
    seed = int(entry.meta.get("seed", 0)) if seed is None else seed
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = entry.builder()
    return split_head(net, entry.head, entry.id).eval()


def load_model(
    entry: ZooEntry, device: str | torch.device = "cpu", *, download: bool | None = None
) -> FeatureModel:
    """Build ``entry`` with its verified weights (strict key matching), split at its head, in eval mode.

    Args:
        entry: the zoo entry; ``weights.kind == "none"`` gives the seeded random-init control.
        device: where to put the model.
        download: allow fetching a missing hub file (default: unless offline mode is set).

    Raises:
        WeightsNotFoundError: the weights file is absent and cannot be fetched.
        WeightsIntegrityError: the file fails its digest or shape checks.
        ModelLoadError: the verified weights do not fit the architecture, or the head is wrong.
    """
    if entry.weights.kind == "none":
        control = random_model(entry)
        _check_dims(control, entry)
        return control.to(device)
    net = entry.builder()
    state = apply_key_map(
        load_state_dict(entry.weights, download=download), net.state_dict(), entry.weights.key_map
    )
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"{entry.id}: weights do not fit the architecture: {exc}") from None
    model = split_head(net, entry.head, entry.id)
    _check_dims(model, entry)
    return model.eval().to(device)


@torch.no_grad()
def feature_dim_of(entry: ZooEntry) -> int:
    """The real feature width D of ``entry``: a zeros input at its preprocessing size through a random build.

    Works offline for every entry (no weights are read); the registry tests compare it with the declared
    ``entry.feature_dim``.
    """
    pre = entry.preprocessing
    x = torch.zeros(1, pre.channels, pre.input_size, pre.input_size)
    feats, _ = random_model(entry)(x)
    return int(feats.shape[1])


def load_source_profile(entry: ZooEntry) -> SourceProfile | None:
    """The entry's source profile (source feature mean/std and sample), or None when it has none.

    ``entry.profile`` is resolved like a ``kind="file"`` weights file (relative to the ``zoo`` package, or
    absolute); when ``entry.meta`` records a ``profile_sha256`` the file must match it before it is parsed.

    Raises:
        WeightsNotFoundError: the path escapes the zoo folder or the file does not exist.
        WeightsIntegrityError: the file does not match its recorded digest, or is not a source profile.
    """
    if entry.profile is None:
        return None

    path = resolve_path(WeightsSource(kind="file", filename=entry.profile))
    if not path.is_file():
        raise WeightsNotFoundError(f"source profile of {entry.id!r} not found at {path}", param="profile")
    expected = entry.meta.get("profile_sha256")
    if expected is not None and file_sha256(path) != expected:
        raise WeightsIntegrityError(
            f"source profile {path} of {entry.id!r} does not match its recorded SHA-256", param="profile"
        )
    try:
        return load_profile(path)
    except (OSError, ValueError) as exc:
        raise WeightsIntegrityError(f"source profile {path} of {entry.id!r} is unreadable: {exc}") from None
