"""Seeded, bit-reproducible CPU training of the small zoo networks.

Reproducibility rests on four things, all set by :func:`deterministic` for the duration of a fit and
restored afterwards: ``torch.manual_seed`` before the network is built (initial weights), a dedicated
``torch.Generator`` for the shuffling order, ``torch.use_deterministic_algorithms(True)``, and one
intra-op thread (a parallel reduction may sum in a different order from run to run). The same torch build
on the same CPU family then gives bit-identical weights. A different CPU instruction set (e.g. AVX2 vs
AVX-512 kernels in oneDNN/MKL) may round differently; ``build_zoo --check`` reports that as a mismatch.

Inputs are uint8 ``(N, 32, 32, 3)`` images; :func:`to_input` turns them into the normalised
``(N, 3, 32, 32)`` float tensor that the zoo's ``Preprocessing`` (mean = std = 0.5) also produces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.utils.deterministic
from torch import nn
from torch.nn import functional as F

from zoo.archs import build

__all__ = [
    "MEAN",
    "STD",
    "TrainConfig",
    "TrainResult",
    "accuracy",
    "deterministic",
    "fit",
    "predict",
    "to_input",
]

#: Per-channel normalisation of every self-trained model (pixels scaled to [0, 1] first).
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one fit.

    Attributes:
        epochs: passes over the training set.
        batch_size: images per step (the last, smaller batch of an epoch is kept).
        lr: peak learning rate; cosine-annealed to 0 over all steps.
        weight_decay: decoupled (AdamW) or L2 (SGD) weight decay.
        optimizer: ``adamw`` or ``sgd`` (momentum 0.9, Nesterov).
        seed: seeds the initial weights and the shuffling order.
        max_steps: stop after this many steps (tests); None runs all epochs.
        channels_last: run convolutions in NHWC, markedly faster for depthwise layers on CPUs.
    """

    epochs: int = 2
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    optimizer: Literal["adamw", "sgd"] = "adamw"
    seed: int = 0
    max_steps: int | None = None
    channels_last: bool = True


@dataclass
class TrainResult:
    """A trained network and its loss curve.

    Attributes:
        model: the trained network, in eval mode, on the CPU, float32.
        losses: mean training loss of each epoch.
        steps: optimiser steps taken.
    """

    model: nn.Module
    losses: list[float] = field(default_factory=list)
    steps: int = 0


@contextmanager
def deterministic(threads: int = 1) -> Iterator[None]:
    """Deterministic algorithms and ``threads`` intra-op threads inside the block; previous state after.

    ``fill_uninitialized_memory`` is switched off: it only matters for kernels that read memory they did
    not write (none on this path) and costs about 20 % of a training step.
    """
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    # the flag lives on a module subclass, invisible to type checkers
    prev_fill = torch.utils.deterministic.fill_uninitialized_memory  # type: ignore[attr-defined]
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    try:
        yield
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = prev_fill  # type: ignore[attr-defined]
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.set_num_threads(prev_threads)


def to_input(images: torch.Tensor, *, channels_last: bool = False) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` -> normalised float32 ``(N, 3, H, W)`` (``(x / 255 - MEAN) / STD``)."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {tuple(images.shape)}")
    x = images.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    mean = torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1)
    x = (x - mean) / std
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def fit(
    arch: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    config: TrainConfig,
    *,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Build ``arch`` from ``config.seed`` and train it on ``images``/``labels``; bit-reproducible.

    Args:
        arch: registered architecture name (:func:`zoo.archs.build`).
        images: uint8 ``(N, 32, 32, 3)``.
        labels: int64 ``(N,)`` in ``[0, num_classes)``.
        num_classes: C, the head width.
        config: hyper-parameters and seed.
        log: called with one line per epoch.

    Returns:
        The trained float32 network in eval mode, its per-epoch losses and the step count.
    """
    n = int(labels.shape[0])
    if n == 0 or images.shape[0] != n:
        raise ValueError(f"need matching non-empty images and labels, got {images.shape[0]} and {n}")
    with deterministic():
        torch.manual_seed(config.seed)
        model = build(arch, num_classes)
        fmt = torch.channels_last if config.channels_last else torch.contiguous_format
        model = model.to(memory_format=fmt)
        x_all = to_input(images, channels_last=config.channels_last)
        y_all = labels.to(torch.int64)
        steps_per_epoch = -(-n // config.batch_size)
        total = steps_per_epoch * config.epochs
        if config.max_steps is not None:
            total = min(total, config.max_steps)
        opt: torch.optim.Optimizer
        if config.optimizer == "adamw":
            opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        else:
            opt = torch.optim.SGD(
                model.parameters(),
                lr=config.lr,
                momentum=0.9,
                nesterov=True,
                weight_decay=config.weight_decay,
            )
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total, 1))
        gen = torch.Generator().manual_seed(config.seed)
        result = TrainResult(model=model)
        model.train()
        for epoch in range(config.epochs):
            order = torch.randperm(n, generator=gen)
            loss_sum, seen = 0.0, 0
            for start in range(0, n, config.batch_size):
                if result.steps >= total:
                    break
                idx = order[start : start + config.batch_size]
                loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
                sched.step()
                result.steps += 1
                loss_sum += float(loss.detach()) * len(idx)
                seen += len(idx)
            if seen:
                result.losses.append(loss_sum / seen)
                if log is not None:
                    log(f"  epoch {epoch + 1}/{config.epochs}: loss {loss_sum / seen:.4f}")
            if result.steps >= total:
                break
        model = model.to(memory_format=torch.contiguous_format).eval()
        result.model = model
    return result


@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """Source logits ``(N, C)`` float32 of ``model`` (put in eval mode) on uint8 ``(N, 32, 32, 3)``."""
    model.eval()
    outs = [model(to_input(images[i : i + batch_size])) for i in range(0, images.shape[0], batch_size)]
    return torch.cat(outs) if outs else torch.empty(0, 0)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of ``model`` on uint8 ``(N, 32, 32, 3)`` images with int64 ``(N,)`` labels."""
    if labels.numel() == 0:
        raise ValueError("accuracy of an empty set")
    logits = predict(model, images)
    return float((logits.argmax(1) == labels).to(torch.float64).mean())
