"""The benchmark's ground-truth protocols: full fine-tuning and the linear probe, on preprocessed arrays.

**Fine-tuning** (:data:`FINETUNE_PROTOCOL`, one protocol for every model and target):

* the pre-trained network (its verified weights, ``zoo.models.load_model``) with its source head replaced
  by a new ``Linear(D, K)``; every parameter is trained, BatchNorm in training mode;
* inputs are the model's own preprocessing of the target images (``Preprocessing``: size, channels,
  mean/std), no augmentation;
* SGD, momentum 0.9, weight decay 5e-4, batch 64, cosine schedule from the peak LR to 0 over
  ``max(10 epochs, 100 steps)``;
* LR grid ``(0.003, 0.01, 0.03)``: each is trained on a seeded stratified 80 % of the train split and
  scored on the other 20 % (validation); the LR with the best validation accuracy wins (ties: the smaller
  LR), and **that run's** network is evaluated on the test split (no refit on the full train split: a
  refit would cost a fourth run per pair on these CPUs);
* seed 0 for the head, the split and the shuffling; one intra-op thread and deterministic algorithms
  (:func:`zoo.training.train.deterministic`), so a rerun on the same machine gives the same numbers.
  Networks and batches are in the channels-last memory layout (:data:`MEMORY_FORMAT`): the same
  arithmetic in another summation order, 1.7-1.9x faster for the depthwise convolutions of the
  ImageNet models on one CPU thread. It is a kernel choice, not a hyper-parameter, so it is recorded in
  each fine-tune record's ``details`` (records without it ran contiguous) and not in the protocol.

**Linear probe** (:data:`PROBE_PROTOCOL`): frozen features of the train and test splits, standardised
with the train mean/std, multinomial logistic regression
(scikit-learn ``LogisticRegression``, lbfgs, at most 300 iterations per fit, warm-started along the C
path within a fold) with C chosen from ``logspace(-4, 2, 7)`` by the accuracy of 5-fold stratified
cross-validation on the train split (fewer folds when a class has fewer than 5 images; ties go to the
smaller C), refitted on the whole train split at that C, then test accuracy.

Each protocol has a ``version``; the ground-truth runner redoes every unit recorded under another version.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from torch import nn
from torch.nn import functional as F

from zoo._api import Preprocessing, ZooEntry
from zoo.features import ImageTransform
from zoo.models import FeatureModel, load_model
from zoo.training.train import deterministic

__all__ = [
    "FINETUNE_PROTOCOL",
    "MEMORY_FORMAT",
    "PROBE_PROTOCOL",
    "FinetuneProtocol",
    "FinetuneResult",
    "ProbeProtocol",
    "ProbeResult",
    "extract",
    "finetune",
    "linear_probe",
    "preprocess",
    "stratified_holdout",
]

#: Memory layout of the networks and batches during fine-tuning and evaluation (see the module docstring).
MEMORY_FORMAT = "channels_last"
_LAYOUT: torch.memory_format = getattr(torch, MEMORY_FORMAT)

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FinetuneProtocol:
    """Hyper-parameters of the fine-tuning ground truth (see the module docstring)."""

    version: str = "1"
    lrs: tuple[float, ...] = (0.003, 0.01, 0.03)
    epochs: int = 10
    min_steps: int = 100
    batch_size: int = 64
    momentum: float = 0.9
    weight_decay: float = 5e-4
    val_fraction: float = 0.2
    seed: int = 0
    augmentation: str = "none"
    selection: str = "best validation accuracy over lrs (ties: smaller lr); that run is tested"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (recorded with every result)."""
        return asdict(self)


@dataclass(frozen=True)
class ProbeProtocol:
    """Hyper-parameters of the linear-probe ground truth."""

    version: str = "2"  # 2: at most 300 lbfgs iterations per fit (was 2000)
    cs: tuple[float, ...] = tuple(float(c) for c in np.logspace(-4, 2, 7))
    folds: int = 5
    max_iter: int = 300
    standardise: bool = True
    seed: int = 0
    solver: str = (
        "sklearn LogisticRegression(lbfgs, multinomial); CV accuracy per C, refit on all train at the best C"
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (recorded with every result)."""
        return asdict(self)


FINETUNE_PROTOCOL = FinetuneProtocol()
PROBE_PROTOCOL = ProbeProtocol()


@dataclass(frozen=True)
class ProbeResult:
    """Linear-probe outcome: test accuracy, the chosen C and the mean CV accuracy at that C."""

    accuracy: float
    c: float
    cv_accuracy: float


@dataclass(frozen=True)
class FinetuneResult:
    """Fine-tuning outcome.

    Attributes:
        accuracy: test accuracy of the selected run.
        lr: the selected learning rate.
        val_accuracy: lr -> validation accuracy.
        test_probs: ``(N_test, K)`` float32 softmax of the selected run on the test split.
        steps: optimiser steps per run.
    """

    accuracy: float
    lr: float
    val_accuracy: dict[str, float]
    test_probs: F32
    steps: int


def preprocess(images: npt.NDArray[np.uint8], prep: Preprocessing) -> torch.Tensor:
    """uint8 images ``(N, H, W[, 3])`` -> the model's normalised float32 input ``(N, C, S, S)``.

    Resizing and channel conversion are exactly the feature extractor's (:class:`ImageTransform`).
    """
    transform = ImageTransform(prep)
    arr = np.stack([transform.array(Image.fromarray(img)) for img in images])  # (N, S, S, C)
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    mean = torch.tensor(prep.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(prep.std, dtype=torch.float32).view(1, -1, 1, 1)
    return ((x - mean) / std).contiguous()


@torch.inference_mode()
def extract(model: FeatureModel, x: torch.Tensor, *, batch_size: int = 256) -> F32:
    """Features ``(N, D)`` float32 of ``model`` (eval mode) on preprocessed input ``x``."""
    model.eval()
    parts = [model(x[i : i + batch_size])[0].float() for i in range(0, x.shape[0], batch_size)]
    return torch.cat(parts).numpy().astype(np.float32)


def stratified_holdout(labels: I64, fraction: float, seed: int) -> tuple[I64, I64]:
    """Seeded stratified split: ``(fit_idx, val_idx)``, ``round(fraction * n_c)`` (>= 1) per class to val.

    A class with a single item stays entirely in the fit part.
    """
    rng = np.random.default_rng(seed)
    fit, val = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        k = max(1, round(fraction * len(members))) if len(members) > 1 else 0
        val.append(members[:k])
        fit.append(members[k:])
    return np.sort(np.concatenate(fit)).astype(np.int64), np.sort(np.concatenate(val)).astype(np.int64)


def linear_probe(
    train_x: F32, train_y: I64, test_x: F32, test_y: I64, protocol: ProbeProtocol = PROBE_PROTOCOL
) -> ProbeResult:
    """Test accuracy of a logistic regression on frozen features, C by stratified CV on the train split.

    Args:
        train_x, test_x: ``(N, D)`` features; train_y, test_y: ``(N,)`` labels.
        protocol: the C grid, folds, iterations.
    """

    xtr = np.asarray(train_x, dtype=np.float64)
    xte = np.asarray(test_x, dtype=np.float64)
    if protocol.standardise:
        mean, std = xtr.mean(0), xtr.std(0)
        std[std == 0] = 1.0
        xtr, xte = (xtr - mean) / std, (xte - mean) / std
    folds = max(2, int(min(protocol.folds, np.bincount(train_y).min())))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=protocol.seed)
    cs = sorted(protocol.cs)
    correct = np.zeros(len(cs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for fit_idx, val_idx in cv.split(xtr, train_y):
            # one warm-started path per fold, from the strongest regularisation to the weakest
            clf = LogisticRegression(max_iter=protocol.max_iter, warm_start=True)
            for j, c in enumerate(cs):
                clf.set_params(C=c).fit(xtr[fit_idx], train_y[fit_idx])
                correct[j] += float((clf.predict(xtr[val_idx]) == train_y[val_idx]).sum())
        best = int(np.argmax(correct))  # first maximum: the smallest C among ties
        final = LogisticRegression(C=cs[best], max_iter=protocol.max_iter).fit(xtr, train_y)
    acc = float((final.predict(xte) == test_y).mean())
    c, cv_acc = float(cs[best]), float(correct[best] / len(train_y))
    return ProbeResult(accuracy=acc, c=c, cv_accuracy=cv_acc)


class _Finetuned(nn.Module):
    """The pre-trained body with a new K-way head: (B, C, S, S) -> logits (B, K)."""

    def __init__(self, body: nn.Module, dim: int, k: int) -> None:
        super().__init__()
        self.body = body
        self.head = nn.Linear(dim, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats: torch.Tensor = self.body(x)
        return self.head(feats.flatten(1).float())  # type: ignore[no-any-return]


@torch.inference_mode()
def _logits(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    return torch.cat(
        [
            model(x[i : i + batch_size].contiguous(memory_format=_LAYOUT))
            for i in range(0, x.shape[0], batch_size)
        ]
    )


def _train_one(
    entry: ZooEntry,
    x: torch.Tensor,
    y: torch.Tensor,
    k: int,
    lr: float,
    protocol: FinetuneProtocol,
) -> tuple[nn.Module, int]:
    base = load_model(entry, "cpu")
    torch.manual_seed(protocol.seed)
    model = _Finetuned(base.body, entry.feature_dim, k).to(memory_format=_LAYOUT)
    n = int(y.shape[0])
    per_epoch = math.ceil(n / protocol.batch_size)
    epochs = max(protocol.epochs, math.ceil(protocol.min_steps / per_epoch))
    total = per_epoch * epochs
    opt = torch.optim.SGD(
        model.parameters(), lr=lr, momentum=protocol.momentum, weight_decay=protocol.weight_decay
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    gen = torch.Generator().manual_seed(protocol.seed)
    model.train()
    steps = 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, protocol.batch_size):
            idx = order[start : start + protocol.batch_size]
            if len(idx) < 2 and n >= 2:  # a 1-image batch breaks BatchNorm's training statistics
                continue
            loss = F.cross_entropy(model(x[idx].contiguous(memory_format=_LAYOUT)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
            steps += 1
    return model.eval(), steps


def finetune(
    entry: ZooEntry,
    train_x: torch.Tensor,
    train_y: I64,
    test_x: torch.Tensor,
    test_y: I64,
    protocol: FinetuneProtocol = FINETUNE_PROTOCOL,
    *,
    log: Callable[[str], None] | None = None,
) -> FinetuneResult:
    """Fine-tune ``entry`` on the train split with :data:`FINETUNE_PROTOCOL`; test accuracy and probabilities.

    Args:
        entry: the zoo model (pre-trained weights are loaded and verified for every LR).
        train_x, test_x: preprocessed inputs ``(N, C, S, S)`` (:func:`preprocess`).
        train_y, test_y: ``(N,)`` int64 labels in ``[0, K)``.
        protocol: the fine-tuning protocol.
        log: receives one line per LR.
    """
    k = int(max(train_y.max(), test_y.max())) + 1
    fit_idx, val_idx = stratified_holdout(train_y, protocol.val_fraction, protocol.seed)
    y_all = torch.from_numpy(np.asarray(train_y, dtype=np.int64))
    best: tuple[float, float, nn.Module, int] | None = None
    val_acc: dict[str, float] = {}
    with deterministic(threads=1):
        for lr in sorted(protocol.lrs):
            t0 = time.perf_counter()
            model, steps = _train_one(entry, train_x[fit_idx], y_all[fit_idx], k, lr, protocol)
            pred = _logits(model, train_x[val_idx]).argmax(1).numpy()
            acc = float((pred == train_y[val_idx]).mean())
            val_acc[repr(lr)] = acc
            if log is not None:
                log(f"  lr {lr}: val {acc:.4f} ({steps} steps, {time.perf_counter() - t0:.0f} s)")
            if best is None or acc > best[0]:
                best = (acc, lr, model, steps)
        assert best is not None
        logits = _logits(best[2], test_x).double()
    probs = torch.softmax(logits, dim=1).numpy().astype(np.float32)
    accuracy = float((probs.argmax(1) == test_y).mean())
    return FinetuneResult(
        accuracy=accuracy, lr=best[1], val_accuracy=val_acc, test_probs=probs, steps=best[3]
    )
