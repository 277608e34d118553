"""Data-free baselines: rank models by what their metadata says, without looking at the target.

Benchmark studies find that such trivial rankings rival transferability estimators (ranking by model
size or by source accuracy: "Back to the Basics", TMLR 2024; "How NOT to benchmark your SITE metric",
ICLR 2026; TE-Bench's ImageNet-accuracy baseline). They are registered as scorers of kind ``baseline`` so
the benchmark grades them exactly like every other scorer; a ranking never runs them (a guardrail, not a
prediction). Each one reads a single number of :class:`BaselineInputs` and returns it as the score, so a
larger model / a more accurate source model / a wider feature vector ranks higher.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from estimators._registry import register_scorer

__all__ = ["BaselineInputs", "feature_width", "param_count", "source_accuracy"]

_CITATION = (
    "Back to the Basics on Predicting Transfer Performance, TMLR 2024; How NOT to benchmark your SITE "
    "metric, ICLR 2026"
)


@dataclass(frozen=True)
class BaselineInputs:
    """A model's metadata, validated by :func:`estimators.score_baseline`.

    Attributes:
        param_count: number of parameters of the network (> 0), or None when unknown.
        source_accuracy: top-1 accuracy on the source task as a fraction in [0, 1], or None when unknown.
        feature_dim: D, the width of the feature vector (>= 1), or None when unknown.
    """

    param_count: float | None = None
    source_accuracy: float | None = None
    feature_dim: int | None = None


def _known(value: float | None) -> float:
    # score_baseline refuses a call that lacks a needed input; this guards direct calls of the functions
    if value is None or not math.isfinite(value):
        raise ValueError("baseline input missing")
    return float(value)


@register_scorer("param_count", kind="baseline", needs=("param_count",), citation=_CITATION)
def param_count(data: BaselineInputs) -> float:
    """Number of parameters: the bigger network ranks higher."""
    return _known(data.param_count)


@register_scorer("source_accuracy", kind="baseline", needs=("source_accuracy",), citation=_CITATION)
def source_accuracy(data: BaselineInputs) -> float:
    """Top-1 accuracy on the model's own source task: the more accurate source model ranks higher."""
    return _known(data.source_accuracy)


@register_scorer("feature_width", kind="baseline", needs=("feature_dim",), citation=_CITATION)
def feature_width(data: BaselineInputs) -> float:
    """Width D of the feature vector: the wider representation ranks higher."""
    return _known(None if data.feature_dim is None else float(data.feature_dim))
