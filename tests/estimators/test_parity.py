"""Parity with the original reference implementations, entry by entry from the test-vector manifest.

Expected numbers are never copied into this file: each case is read from
``tests/data/testvectors/manifest.json`` and its inputs from the ``.npz`` files beside it.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import estimators
from estimators import evaluation

VECTORS = Path(__file__).resolve().parents[1] / "data" / "testvectors"
MANIFEST: list[dict[str, Any]] = json.loads((VECTORS / "manifest.json").read_text())


@cache
def _npz(name: str) -> dict[str, np.ndarray]:
    with np.load(VECTORS / name) as z:
        return {k: z[k] for k in z.files}


def _case_id(i: int, e: dict[str, Any]) -> str:
    params = ",".join(f"{k}={v}" for k, v in sorted(e["params"].items()))
    model = f"[{e['model']}]" if e.get("model") else ""
    return f"{i:03d}-{e['scorer']}-{e['file'].removesuffix('.npz')}{model}-{params}"


def _close(got: float, want: float, e: dict[str, Any]) -> bool:
    return abs(got - want) <= (e["atol"] or 0.0) + (e["rtol"] or 0.0) * abs(want)


@pytest.mark.parity
@pytest.mark.parametrize("entry", MANIFEST, ids=[_case_id(i, e) for i, e in enumerate(MANIFEST)])
def test_reference_parity(entry: dict[str, Any]) -> None:
    arrays = _npz(entry["file"])
    inputs = entry["inputs"]
    expected = entry["expected"]
    params = dict(entry["params"])

    if entry["kind"] == "eval":
        fn = getattr(evaluation, entry["scorer"])
        got = fn(arrays[inputs["scores"]], arrays[inputs["accuracies"]])
        assert math.isfinite(got)
        assert _close(got, expected, entry), (got, expected)
        return

    if entry["kind"] == "set":
        candidates = {m: {"features": arrays[k]} for m, k in inputs["features"].items()}
        got_set = estimators.score_set(
            entry["scorer"], candidates=candidates, labels=arrays[inputs["labels"]], **params
        )
        assert set(got_set) == set(expected)
        for m, want in expected.items():
            assert _close(got_set[m], want, entry), (m, got_set[m], want)
        return

    kwargs = {name: arrays[key] for name, key in inputs.items()}
    if isinstance(expected, dict) and "error" in expected:
        with pytest.raises(estimators.ZoorankError):
            estimators.score(entry["scorer"], **kwargs, **params)
        return
    got = estimators.score(entry["scorer"], **kwargs, **params)
    assert isinstance(got, float) and math.isfinite(got)
    assert _close(got, expected, entry), (got, expected)


def test_manifest_covers_every_reference_scorer() -> None:
    """Every scorer named in the manifest is registered (or is an evaluation function)."""
    names = {e["scorer"] for e in MANIFEST if e["kind"] != "eval"}
    assert names <= set(estimators.list_scorers())
