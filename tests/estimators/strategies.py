"""Hypothesis strategies for scorer inputs: the degenerate corners a public API will receive."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

FEATURE_KINDS = ("random", "relu", "constant", "zeros", "dup_rows", "one_hot", "rank1", "clustered")
SCALES = (1e-30, 1e-6, 1.0, 1e6, 1e30)


def _features(rng: np.random.Generator, kind: str, labels: np.ndarray, d: int) -> np.ndarray:
    n = labels.shape[0]
    if kind == "random":
        return rng.standard_normal((n, d))
    if kind == "relu":
        x = np.maximum(rng.standard_normal((n, d)), 0.0)
        x[:, rng.random(d) < 0.2] = 0.0  # dead units
        return x
    if kind == "constant":
        return np.full((n, d), rng.standard_normal())
    if kind == "zeros":
        return np.zeros((n, d))
    if kind == "dup_rows":
        return np.repeat(rng.standard_normal((1, d)), n, axis=0)
    if kind == "one_hot":
        x = np.zeros((n, d))
        x[np.arange(n), labels % d] = 1.0
        return x
    if kind == "rank1":
        return rng.standard_normal((n, 1)) @ rng.standard_normal((1, d))
    # clustered: well separated class means plus noise
    means = rng.standard_normal((int(labels.max()) + 1, d)) * 3
    out: np.ndarray = means[labels] + rng.standard_normal((n, d))
    return out


def _probs(rng: np.random.Generator, n: int, c_s: int, kind: str, dtype: Any) -> np.ndarray:
    if kind == "onehot":
        p = np.zeros((n, c_s))
        p[np.arange(n), rng.integers(0, c_s, n)] = 1.0
        return p.astype(dtype)
    logits = rng.standard_normal((n, c_s)) * (30.0 if kind == "peaked" else 1.0)
    if kind == "zero_cols" and c_s > 1:
        logits[:, rng.random(c_s) < 0.4] = -np.inf
        logits[:, 0] = np.maximum(logits[:, 0], 0.0)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p = p.astype(dtype)
    out: np.ndarray = p / p.sum(axis=1, keepdims=True, dtype=p.dtype)
    return out


@st.composite
def scoring_inputs(draw: st.DrawFn, max_classes: int = 6, max_per_class: int = 4) -> dict[str, Any]:
    """Inputs for one model: degenerate shapes, values, scales, dtypes and label ids.

    Returns a dict with ``features, labels, source_probs, source_mean, source_std`` (stats may be None).
    """
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_cls = draw(st.integers(1, max_classes))
    sizes = draw(st.lists(st.integers(1, max_per_class), min_size=n_cls, max_size=n_cls))
    labels = np.repeat(np.arange(n_cls), sizes)
    rng.shuffle(labels)
    d = draw(st.sampled_from([1, 2, 3, 16, 200]))  # 200 >> N: the D > N regime
    kind = draw(st.sampled_from(FEATURE_KINDS))
    scale = draw(st.sampled_from(SCALES))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    features = (_features(rng, kind, labels, d) * scale).astype(dtype)
    id_map = draw(st.sampled_from(["plain", "affine", "sparse"]))
    if id_map == "affine":
        labels = labels * 7 + 3
    elif id_map == "sparse":
        ids = np.sort(rng.choice(1000, size=n_cls, replace=False))
        labels = ids[labels]
    c_s = draw(st.integers(1, 30))
    probs = _probs(
        rng, len(labels), c_s, draw(st.sampled_from(["smooth", "peaked", "onehot", "zero_cols"])), dtype
    )
    if draw(st.booleans()):
        source_mean = rng.standard_normal(d) * scale
        source_std = np.abs(rng.standard_normal(d)) * scale
        source_std[rng.random(d) < 0.2] = 0.0
    else:
        source_mean = source_std = None  # type: ignore[assignment]
    return {
        "features": features,
        "labels": labels,
        "source_probs": probs,
        "source_mean": source_mean,
        "source_std": source_std,
    }


@st.composite
def well_posed_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """Well-conditioned inputs (clustered classes, several samples each) for metamorphic properties."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_cls = draw(st.integers(2, 4))
    sizes = draw(st.lists(st.integers(8, 14), min_size=n_cls, max_size=n_cls))
    labels = np.repeat(np.arange(n_cls), sizes)
    rng.shuffle(labels)
    d = draw(st.integers(2, 12))
    features = _features(rng, "clustered", labels, d)
    c_s = draw(st.integers(2, 12))
    logits = features @ rng.standard_normal((d, c_s))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return {
        "features": features,
        "labels": labels,
        "source_probs": probs,
        "source_mean": features.mean(axis=0) + rng.standard_normal(d) * 0.1,
        "source_std": features.std(axis=0) + 0.5,
    }


def kwargs_for(spec: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """Only the inputs ``spec`` needs or uses (what a pipeline would pass)."""
    used = set(spec.needs) | set(spec.optional) | {"labels"}
    return {k: v for k, v in inputs.items() if k in used and v is not None}
