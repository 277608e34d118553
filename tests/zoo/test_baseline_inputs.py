"""What a zoo entry's metadata gives the data-free baseline scorers (``ZooEntry.baseline_inputs``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

import estimators
from zoo._api import get_entry

BASE = get_entry("mobilenet_v2.tv_in1k")


def test_imagenet_top1_is_a_percentage_turned_into_a_fraction() -> None:
    got = BASE.baseline_inputs()
    assert got == {"param_count": 3504872.0, "source_accuracy": pytest.approx(0.71878), "feature_dim": 1280.0}


@pytest.mark.parametrize(
    ("meta", "count", "accuracy"),
    [
        ({"params": 104042, "test_acc": 0.8315}, 104042.0, 0.8315),  # a trained entry's own keys
        ({"num_params": 10, "test_acc": 0.5, "imagenet_top1": 70.0}, 10.0, 0.5),  # its own task first
        ({"num_params": 390410}, 390410.0, None),  # no recorded accuracy
        ({}, None, None),
        ({"num_params": "many", "test_acc": True}, None, None),  # not numbers: unknown, not guessed
    ],
)
def test_metadata_keys_are_read_or_left_unknown(
    meta: dict[str, Any], count: float | None, accuracy: float | None
) -> None:
    entry = replace(BASE, meta=meta)
    got = entry.baseline_inputs()
    assert got["param_count"] == count and got["source_accuracy"] == accuracy
    assert got["feature_dim"] == float(BASE.feature_dim)


def test_an_unknown_source_accuracy_is_not_applicable_to_its_baseline() -> None:
    inputs = replace(BASE, meta={"num_params": 5}).baseline_inputs()
    assert estimators.score_baseline("param_count", **inputs) == 5.0
    with pytest.raises(estimators.NotApplicableError):
        estimators.score_baseline("source_accuracy", **inputs)
