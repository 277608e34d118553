"""Source profiles: what PED and OSBORN need to know about a model's source data, without the data.

A profile of a model with D-dimensional features (the input of its head) over N source images holds

* ``mean``, ``std``: ``(D,)`` float32 per-dimension mean and **population** standard deviation
  (``ddof = 0``) of the features over all N images, computed in float64. PED standardises with these
  (its reference uses the source model's ImageNet-val feature spread).
* ``features``: ``(n, D)`` features of a class-stratified sample of ``n <= 5000`` of the images, stored as
  float16 to keep the committed files small (relative error <= 2^-11, far below what an optimal
  transport cost notices). OSBORN's domain term transports these to the target features.
* ``pred``: ``(n,)`` int64, the model's own predicted source label (argmax of its head) for each sampled
  image; OSBORN's task term labels the source side with these.
* ``labels``: ``(n,)`` int64 true source labels, ``index``: ``(n,)`` int64 row numbers in the source set.
* ``count``: ``(1,)`` int64 N, and ``num_classes``: ``(1,)`` int64 C_s.

The sample takes the same number of images from every class (water-filling: a class with fewer images
gives all it has and the rest is spread over the others), which is the deterministic form of OSBORN's
"inversely proportional to class frequency" draw; within a class the rows come from a seeded permutation.
Files are safetensors with sorted keys and a fixed one-key metadata header, so equal profiles are equal
bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from zoo.training.train import to_input

__all__ = [
    "MAX_SAMPLE",
    "SourceProfile",
    "compute_profile",
    "extract",
    "load_profile",
    "profile_from_outputs",
    "save_profile",
    "stratified_indices",
]

MAX_SAMPLE = 5000
PROFILE_FORMAT = "zoorank-source-profile/1"


@dataclass(frozen=True)
class SourceProfile:
    """Per-dimension feature statistics and a labelled feature sample of one model's source data.

    Attributes:
        mean: ``(D,)`` float32 feature mean over all ``count`` source images.
        std: ``(D,)`` float32 population standard deviation over the same images.
        features: ``(n, D)`` float32 features of the stratified sample (float16 on disk).
        pred: ``(n,)`` int64 the model's predicted source class per sampled image.
        labels: ``(n,)`` int64 true source class per sampled image.
        index: ``(n,)`` int64 row of each sampled image in the source set, ascending.
        count: N, the number of source images behind ``mean`` and ``std``.
        num_classes: C_s, the width of the source head.
    """

    mean: torch.Tensor
    std: torch.Tensor
    features: torch.Tensor
    pred: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    count: int
    num_classes: int

    @property
    def feature_dim(self) -> int:
        """D."""
        return int(self.mean.shape[0])

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """The on-disk tensors (features as float16), keyed as described in the module docstring."""
        return {
            "count": torch.tensor([self.count], dtype=torch.int64),
            "features": self.features.to(torch.float16).contiguous(),
            "index": self.index.to(torch.int64).contiguous(),
            "labels": self.labels.to(torch.int64).contiguous(),
            "mean": self.mean.to(torch.float32).contiguous(),
            "num_classes": torch.tensor([self.num_classes], dtype=torch.int64),
            "pred": self.pred.to(torch.int64).contiguous(),
            "std": self.std.to(torch.float32).contiguous(),
        }


@torch.inference_mode()
def extract(
    model: nn.Module, head: str, images: torch.Tensor, *, batch_size: int = 512
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (the input of ``model.<head>``) and source logits of uint8 ``(N, 32, 32, 3)`` images.

    Returns:
        ``(features (N, D) float32, logits (N, C_s) float32)``.
    """
    module = model.get_submodule(head)
    captured: list[torch.Tensor] = []

    def hook(_m: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        captured.append(args[0].detach().reshape(args[0].shape[0], -1).to(torch.float32))

    handle = module.register_forward_pre_hook(hook)
    model.eval()
    logits: list[torch.Tensor] = []
    try:
        for i in range(0, images.shape[0], batch_size):
            logits.append(model(to_input(images[i : i + batch_size])).to(torch.float32))
    finally:
        handle.remove()
    if not logits:
        raise ValueError("no images to extract features from")
    return torch.cat(captured), torch.cat(logits)


def stratified_indices(
    labels: torch.Tensor | npt.NDArray[np.int64], max_rows: int = MAX_SAMPLE, *, seed: int = 0
) -> npt.NDArray[np.int64]:
    """Ascending indices of a class-balanced sample of ``min(max_rows, N)`` rows.

    Every class gets ``q`` rows, where ``q`` is the largest quota the budget allows (classes with fewer
    rows give all of theirs); leftover rows go one each to the classes with spare rows, in class order.
    Rows within a class are the first ``q_c`` of a permutation drawn from ``default_rng(seed)``.
    """
    y = np.asarray(labels, dtype=np.int64)
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    classes, counts = np.unique(y, return_counts=True)
    budget = min(max_rows, len(y))
    quota = np.zeros_like(counts)
    while quota.sum() < budget:
        open_ = quota < counts
        share = max(1, (budget - int(quota.sum())) // int(open_.sum()))
        for k in np.flatnonzero(open_):
            take = min(share, int(counts[k] - quota[k]), budget - int(quota.sum()))
            quota[k] += take
            if quota.sum() >= budget:
                break
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota, strict=True)]
    return np.sort(np.concatenate(picked)).astype(np.int64) if picked else np.zeros(0, dtype=np.int64)


def compute_profile(
    model: nn.Module,
    head: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    max_rows: int = MAX_SAMPLE,
    seed: int = 0,
) -> SourceProfile:
    """Profile ``model`` on its source data: uint8 ``(N, 32, 32, 3)`` images and int64 ``(N,)`` labels."""
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    features, logits = extract(model, head, images)
    return profile_from_outputs(features, logits, labels, max_rows=max_rows, seed=seed)


def profile_from_outputs(
    features: torch.Tensor,
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    max_rows: int = MAX_SAMPLE,
    seed: int = 0,
) -> SourceProfile:
    """Profile from already extracted ``(N, D)`` features and ``(N, C_s)`` logits of the source images."""
    n = int(labels.shape[0])
    if features.ndim != 2 or logits.ndim != 2 or features.shape[0] != n or logits.shape[0] != n or n == 0:
        raise ValueError(
            f"need (N, D) features and (N, C) logits for N = {n} labels, got {tuple(features.shape)} "
            f"and {tuple(logits.shape)}"
        )
    f64 = features.to(torch.float64)
    keep = torch.from_numpy(stratified_indices(labels, max_rows, seed=seed))
    return SourceProfile(
        mean=f64.mean(0).to(torch.float32),
        std=f64.std(0, correction=0).to(torch.float32),
        # round-trip through float16 so the in-memory profile equals what a reload gives
        features=features[keep].to(torch.float16).to(torch.float32),
        pred=logits[keep].argmax(1).to(torch.int64),
        labels=labels[keep].to(torch.int64),
        index=keep,
        count=n,
        num_classes=int(logits.shape[1]),
    )


def save_profile(profile: SourceProfile, path: Path) -> None:
    """Write ``profile`` as safetensors (deterministic bytes for equal profiles)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = profile.to_tensors()
    save_file(dict(sorted(tensors.items())), str(path), metadata={"format": PROFILE_FORMAT})


def load_profile(path: Path) -> SourceProfile:
    """Read a profile written by :func:`save_profile`; raises ``ValueError`` on missing keys or shapes."""
    t = load_file(str(path))
    missing = {"count", "features", "index", "labels", "mean", "num_classes", "pred", "std"} - set(t)
    if missing:
        raise ValueError(f"{path}: not a source profile (missing {sorted(missing)})")
    n, d = t["features"].shape
    if (
        t["mean"].shape != (d,)
        or t["std"].shape != (d,)
        or any(t[k].shape != (n,) for k in ("pred", "labels", "index"))
    ):
        raise ValueError(f"{path}: inconsistent profile shapes")
    return SourceProfile(
        mean=t["mean"],
        std=t["std"],
        features=t["features"].to(torch.float32),
        pred=t["pred"],
        labels=t["labels"],
        index=t["index"],
        count=int(t["count"][0]),
        num_classes=int(t["num_classes"][0]),
    )
