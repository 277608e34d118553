"""The validation gate every scorer call passes through, and the validated data it produces.

:func:`check_scoring_inputs` is modelled on scikit-learn's ``check_array``: it converts numpy arrays or
torch tensors to fresh float64 torch tensors (so no scorer can mutate the caller's arrays), checks shapes
and finiteness, re-encodes labels to ``0..C-1`` in sorted order of the original ids (the convention of
every reference implementation) and enforces the per-scorer class minimums. Scorers then receive a
:class:`ScoringData` and never see raw user input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch

from estimators._linalg import DTYPE_NAMES
from estimators._registry import ScorerSpec
from estimators.errors import DegenerateInputError, InvalidInputError


@dataclass(frozen=True)
class ScoringData:
    """Validated inputs of one model.

    Attributes:
        features: ``(N, D)`` float tensor (float64 unless the scorer has a ``dtype`` parameter), or None.
        labels: ``(N,)`` int64 class codes ``0..C-1``, or None for 2-D regression targets.
        classes: ``(C,)`` the original label ids, ``classes[labels]`` gives back the input labels.
        counts: ``(C,)`` int64 samples per class.
        source_probs: ``(N, C_s)`` float64 rows on the simplex, or None.
        source_mean, source_std: ``(D,)`` float64 source feature statistics, or None.
        targets: ``(N, K)`` float64 regression / multi-label targets (LogME only), or None.
        source_features: ``(n_s, D)`` features of a source-profile sample (OSBORN), or None.
        source_predictions, source_labels: ``(n_s,)`` int64 predicted / true source classes of that
            sample, or None.
    """

    features: torch.Tensor | None
    labels: torch.Tensor | None
    classes: np.ndarray
    counts: torch.Tensor
    source_probs: torch.Tensor | None = None
    source_mean: torch.Tensor | None = None
    source_std: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    source_features: torch.Tensor | None = None
    source_predictions: torch.Tensor | None = None
    source_labels: torch.Tensor | None = None

    @property
    def n(self) -> int:
        """Number of samples N."""
        for t in (self.labels, self.targets):
            if t is not None:
                return int(t.shape[0])
        raise AssertionError("ScoringData without labels or targets")  # pragma: no cover

    @property
    def num_classes(self) -> int:
        """Number of distinct classes C (0 for regression targets)."""
        return int(self.counts.shape[0])

    @property
    def device(self) -> torch.device:
        """Device of the data (that of the features when given)."""
        ref = self.features if self.features is not None else self.codes
        return ref.device

    @property
    def codes(self) -> torch.Tensor:
        """``(N,)`` int64 class codes; raises if the data holds regression targets instead."""
        if self.labels is None:
            raise InvalidInputError("this scorer needs 1-D class labels, not 2-D targets", param="labels")
        return self.labels

    @property
    def x(self) -> torch.Tensor:
        """``(N, D)`` features; raises if none were given."""
        if self.features is None:
            raise InvalidInputError("this scorer needs features", param="features")
        return self.features

    @property
    def probs(self) -> torch.Tensor:
        """``(N, C_s)`` source probabilities; raises if none were given."""
        if self.source_probs is None:
            raise InvalidInputError("this scorer needs source_probs", param="source_probs")
        return self.source_probs

    @cached_property
    def onehot(self) -> torch.Tensor:
        """``(N, C)`` one-hot encoding of the labels, in the features' dtype (float64 by default)."""
        dtype = self.features.dtype if self.features is not None else torch.float64
        out = torch.zeros(self.n, self.num_classes, dtype=dtype, device=self.device)
        out[torch.arange(self.n, device=self.device), self.codes] = 1
        return out

    @cached_property
    def priors(self) -> torch.Tensor:
        """``(C,)`` class frequencies n_c / N."""
        dtype = self.features.dtype if self.features is not None else torch.float64
        return self.counts.to(dtype) / self.n

    @cached_property
    def class_means(self) -> torch.Tensor:
        """``(C, D)`` per-class mean of the features."""
        sums = self.onehot.T @ self.x
        return sums / self.counts.to(sums.dtype)[:, None]

    @cached_property
    def features_numpy(self) -> np.ndarray:
        """``(N, D)`` float64 numpy copy of the features (for scikit-learn based scorers)."""
        return np.ascontiguousarray(self.x.detach().to("cpu", torch.float64).numpy())

    @cached_property
    def labels_numpy(self) -> np.ndarray:
        """``(N,)`` int64 numpy class codes."""
        return self.codes.detach().cpu().numpy()


def _to_numpy_any(value: Any, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise InvalidInputError(f"{name} could not be read as an array: {exc}", param=name) from None


def _float_tensor(value: Any, name: str, ndim: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A fresh float tensor copy of ``value`` after shape, dtype and finiteness checks."""
    if isinstance(value, torch.Tensor):
        if value.is_complex() or not (value.is_floating_point() or value.dtype in _INT_TORCH):
            raise InvalidInputError(f"{name} must hold real numbers, got dtype {value.dtype}", param=name)
        t = value.detach()
        t = t.to(dtype=dtype, copy=True)
    else:
        arr = _to_numpy_any(value, name)
        if arr.dtype.kind not in "biuf":
            raise InvalidInputError(f"{name} must hold real numbers, got dtype {arr.dtype}", param=name)
        t = torch.from_numpy(np.array(arr, dtype=np.float64, copy=True))
        if dtype != torch.float64:
            t = t.to(dtype)
    if t.ndim != ndim:
        raise InvalidInputError(f"{name} must be {ndim}-D, got shape {tuple(t.shape)}", param=name)
    if t.numel() == 0:
        raise InvalidInputError(f"{name} is empty (shape {tuple(t.shape)})", param=name)
    # One min/max pass (NaN propagates through both, inf shows up as an extreme): ~10x cheaper than
    # materialising an isfinite mask on large feature matrices.
    lo, hi = torch.aminmax(t)
    if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        bad = int((~torch.isfinite(t)).sum())
        raise InvalidInputError(f"{name} contains {bad} NaN or infinite value(s)", param=name)
    return t


_INT_TORCH = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool)


def _encode_labels(labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(codes, classes)`` with codes in 0..C-1 following the sorted distinct ids."""
    y = _to_numpy_any(labels, "labels")
    if y.ndim != 1:
        raise InvalidInputError(f"labels must be 1-D, got shape {y.shape}", param="labels")
    if y.size == 0:
        raise InvalidInputError("labels is empty", param="labels")
    if y.dtype.kind == "c":
        raise InvalidInputError(f"labels must be class ids, got dtype {y.dtype}", param="labels")
    if y.dtype.kind == "f" and (not np.all(np.isfinite(y)) or not np.all(y == np.round(y))):
        raise InvalidInputError(
            "labels must be integer class ids; got non-integral floats "
            "(2-D float targets are accepted by 'logme' only)",
            param="labels",
        )
    try:
        classes, codes = np.unique(y, return_inverse=True)
    except TypeError as exc:
        raise InvalidInputError(f"labels could not be sorted: {exc}", param="labels") from None
    return codes.reshape(-1).astype(np.int64), classes


def check_scoring_inputs(
    spec: ScorerSpec,
    *,
    labels: Any = None,
    features: Any = None,
    source_probs: Any = None,
    source_mean: Any = None,
    source_std: Any = None,
    dtype: str | None = None,
    source_features: Any = None,
    source_predictions: Any = None,
    source_labels: Any = None,
) -> ScoringData:
    """Validate and convert one model's inputs for ``spec``.

    Args:
        spec: the scorer about to run (its needs and class minimums are enforced).
        labels: ``(N,)`` class ids of any integer (or integral float / string) type, or ``(N, K)`` float
            targets when ``spec.accepts_targets``.
        features: ``(N, D)`` features, numpy or torch (a CUDA tensor keeps the computation on the GPU).
        source_probs: ``(N, C_s)`` source-head probabilities, rows non-negative summing to 1.
        source_mean, source_std: ``(D,)`` source feature statistics.
        dtype: compute dtype of the features (``"float64"`` default, ``"float32"`` where allowed).
        source_features, source_predictions, source_labels: a source profile's ``(n_s, D)`` feature
            sample and its ``(n_s,)`` predicted / true source classes (see :func:`_check_profile`).

    Raises:
        InvalidInputError: a missing input, a wrong shape, a non-finite value, bad probabilities.
        DegenerateInputError: too few samples, classes or samples per class for this scorer.
    """
    given = {
        "features": features,
        "source_probs": source_probs,
        "source_mean": source_mean,
        "source_std": source_std,
        "source_features": source_features,
        "source_predictions": source_predictions,
        "source_labels": source_labels,
    }
    for need in spec.needs:
        if need != "labels" and given.get(need) is None:
            raise InvalidInputError(f"{spec.name!r} needs {need!r}, which was not given", param=need)
    used = set(spec.needs) | set(spec.optional)
    compute = DTYPE_NAMES[dtype or "float64"]

    feats = (
        _float_tensor(features, "features", 2, compute)
        if "features" in used and features is not None
        else None
    )
    device = feats.device if feats is not None else torch.device("cpu")
    if labels is None:
        # Only scorers that do not need labels (etran_energy) may omit them: their samples form one class.
        if "labels" in spec.needs or feats is None:
            raise InvalidInputError(f"{spec.name!r} needs 'labels', which was not given", param="labels")
        labels = np.zeros(feats.shape[0], dtype=np.int64)

    targets: torch.Tensor | None = None
    codes_t: torch.Tensor | None = None
    label_arr = _to_numpy_any(labels, "labels") if not isinstance(labels, torch.Tensor) else labels
    if spec.accepts_targets and getattr(label_arr, "ndim", 1) == 2:
        targets = _float_tensor(labels, "labels", 2).to(device)
        n = int(targets.shape[0])
        classes = np.zeros(0, dtype=np.int64)
        counts = torch.zeros(0, dtype=torch.int64, device=device)
    else:
        codes, classes = _encode_labels(labels)
        n = codes.shape[0]
        codes_t = torch.from_numpy(codes).to(device)
        counts = torch.bincount(codes_t, minlength=len(classes))

    if n < spec.min_samples:
        raise DegenerateInputError(
            f"{spec.name!r} needs at least {spec.min_samples} samples, got {n}", param="labels"
        )
    if feats is not None and feats.shape[0] != n:
        raise InvalidInputError(
            f"features has {feats.shape[0]} rows but labels has {n} entries", param="features"
        )
    if codes_t is not None:
        c = len(classes)
        if c < spec.min_classes:
            raise DegenerateInputError(
                f"labels has {c} distinct class(es); {spec.name!r} needs at least {spec.min_classes}",
                param="labels",
            )
        smallest = int(counts.min())
        if smallest < spec.min_per_class:
            cls = classes[int(torch.argmin(counts))].item()
            raise DegenerateInputError(
                f"class {cls!r} has {smallest} sample(s); {spec.name!r} needs at least "
                f"{spec.min_per_class} per class",
                param="labels",
            )

    probs = None
    if "source_probs" in used and source_probs is not None:
        probs = _float_tensor(source_probs, "source_probs", 2).to(device)
        if probs.shape[0] != n:
            raise InvalidInputError(
                f"source_probs has {probs.shape[0]} rows but labels has {n} entries", param="source_probs"
            )
        if float(probs.min()) < 0:
            raise InvalidInputError("source_probs has negative entries", param="source_probs")
        src_dtype = source_probs.dtype if hasattr(source_probs, "dtype") else None
        tol = 1e-6 if src_dtype in (np.float64, torch.float64) else 1e-4 * max(1.0, probs.shape[1] / 1000)
        worst = float((probs.sum(dim=1) - 1).abs().max())
        if worst > tol:
            raise InvalidInputError(
                f"source_probs rows must sum to 1 (max deviation {worst:.3g} > {tol:.1g}); pass softmax "
                "probabilities, not logits",
                param="source_probs",
            )

    stats: dict[str, torch.Tensor | None] = {"source_mean": None, "source_std": None}
    for name in stats:
        value = given[name]
        if name in used and value is not None:
            t = _float_tensor(value, name, 1).to(device)
            if feats is not None and t.shape[0] != feats.shape[1]:
                raise InvalidInputError(
                    f"{name} has length {t.shape[0]} but features have {feats.shape[1]} dimensions",
                    param=name,
                )
            if name == "source_std" and bool((t < 0).any()):
                raise InvalidInputError("source_std has negative entries", param=name)
            stats[name] = t
    if (stats["source_mean"] is None) != (stats["source_std"] is None):
        raise InvalidInputError("source_mean and source_std must be given together", param="source_std")

    profile = _check_profile(given, used, feats, probs, device)
    return ScoringData(
        features=feats,
        labels=codes_t,
        classes=classes,
        counts=counts,
        source_probs=probs,
        source_mean=stats["source_mean"],
        source_std=stats["source_std"],
        targets=targets,
        **profile,
    )


def _int_vector(value: Any, name: str) -> torch.Tensor:
    """A fresh ``(n,)`` int64 tensor of non-negative class ids (integral floats accepted)."""
    arr = _to_numpy_any(value, name)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {arr.shape}", param=name)
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"{name} must hold integer class ids, got dtype {arr.dtype}", param=name)
    if arr.dtype.kind == "f" and (not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr))):
        raise InvalidInputError(f"{name} must hold integer class ids, got non-integral values", param=name)
    if arr.size and arr.min() < 0:
        raise InvalidInputError(f"{name} has negative class ids", param=name)
    return torch.from_numpy(np.array(arr, dtype=np.int64, copy=True))


def _check_profile(
    given: dict[str, Any],
    used: set[str],
    feats: torch.Tensor | None,
    probs: torch.Tensor | None,
    device: torch.device,
) -> dict[str, torch.Tensor | None]:
    """Validate a source profile's sample: ``source_features`` ``(n_s, D)`` with the target's D,
    ``source_predictions`` / ``source_labels`` ``(n_s,)`` (predictions below the head width C_s)."""
    out: dict[str, torch.Tensor | None] = {
        "source_features": None,
        "source_predictions": None,
        "source_labels": None,
    }
    value = given["source_features"]
    if "source_features" in used and value is not None:
        sf = _float_tensor(value, "source_features", 2).to(device)
        if feats is not None and sf.shape[1] != feats.shape[1]:
            raise InvalidInputError(
                f"source_features has {sf.shape[1]} dimensions but features have {feats.shape[1]}",
                param="source_features",
            )
        out["source_features"] = sf
    for name in ("source_predictions", "source_labels"):
        value = given[name]
        if name not in used or value is None:
            continue
        t = _int_vector(value, name)
        rows = out["source_features"]
        if rows is not None and t.shape[0] != rows.shape[0]:
            raise InvalidInputError(
                f"{name} has {t.shape[0]} entries but source_features has {rows.shape[0]} rows", param=name
            )
        if (
            name == "source_predictions"
            and probs is not None
            and t.numel()
            and int(t.max()) >= probs.shape[1]
        ):
            raise InvalidInputError(
                f"source_predictions has class id {int(t.max())} but the source head has {probs.shape[1]} "
                "classes",
                param=name,
            )
        out[name] = t.to(device)
    return out
