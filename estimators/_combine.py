"""Helpers shared by set-level scorers, which combine per-model components across a candidate set."""

from __future__ import annotations

from collections.abc import Mapping


def minmax_scale(values: Mapping[str, float]) -> dict[str, float]:
    """Min–max scale ``values`` over the candidates: min -> 0, max -> 1.

    A component that is equal for every candidate cannot discriminate between them; it scales to 0 for
    all (the reference divides 0 by 0), so it drops out of the combination instead of poisoning it.
    """
    lo, hi = min(values.values()), max(values.values())
    span = hi - lo
    if not span > 0:
        return dict.fromkeys(values, 0.0)
    return {k: (v - lo) / span for k, v in values.items()}
