"""Unit and property tests of PED."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import estimators
from estimators import ped as ped_mod
from estimators._data import check_scoring_inputs
from estimators._registry import SCORERS

VECTORS = Path(__file__).resolve().parents[1] / "data" / "testvectors"


def _blobs(seed: int, sizes: tuple[int, ...], d: int, sep: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(sizes)), sizes)
    x = rng.standard_normal((len(sizes), d))[y] * sep + rng.standard_normal((len(y), d))
    perm = rng.permutation(len(y))
    return x[perm], y[perm]


def _data(x: Any, y: Any, **stats: Any) -> Any:
    return check_scoring_inputs(estimators.get_scorer("ped"), labels=y, features=x, **stats)


def _brute_force_step(
    means: np.ndarray, radii: np.ndarray, nsigma: float, step: float, constant: float
) -> np.ndarray:
    """One PED step pair by pair, as the reference describes it (explicit loop, C×C×D-free)."""
    c = means.shape[0]
    out = np.zeros_like(means)
    for a in range(c):
        for b in range(a + 1, c):
            diff = means[b] - means[a]
            dist = np.linalg.norm(diff)
            overlap = max(nsigma * (radii[a] + radii[b]) - dist, 0.0)
            push = min(0.5 * step**2 * constant * overlap, overlap)
            out[a] -= diff / dist * push
            out[b] += diff / dist * push
    return out


# --- the step --------------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(("seed", "c", "d"), [(0, 2, 1), (1, 5, 3), (2, 9, 17)])
def test_matrix_form_step_equals_pairwise_loop(seed: int, c: int, d: int) -> None:
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((c, d))
    radii = rng.uniform(0.5, 3.0, c) * math.sqrt(d)
    got = ped_mod.one_step(
        torch.from_numpy(means), torch.from_numpy(radii), nsigma=0.6, step=0.1, constant=1.0
    ).numpy()
    want = _brute_force_step(means, radii, 0.6, 0.1, 1.0)
    assert np.abs(want).sum() > 0
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.unit
def test_two_classes_move_apart_by_the_overlap_rule() -> None:
    means = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    radii = torch.tensor([2.0, 1.0], dtype=torch.float64)
    disp = ped_mod.one_step(means, radii, nsigma=0.6, step=0.1, constant=1.0)
    overlap = 0.6 * 3.0 - 1.0
    assert disp[0, 0].item() == pytest.approx(-0.005 * overlap)
    assert disp[1, 0].item() == pytest.approx(0.005 * overlap)
    # A large step is clamped at the overlap itself.
    big = ped_mod.one_step(means, radii, nsigma=0.6, step=10.0, constant=1.0)
    assert big[1, 0].item() == pytest.approx(overlap)


@pytest.mark.unit
def test_coincident_class_means_get_no_push() -> None:
    means = torch.zeros((3, 2), dtype=torch.float64)
    disp = ped_mod.one_step(means, torch.ones(3, dtype=torch.float64), nsigma=0.6, step=0.1, constant=1.0)
    assert torch.equal(disp, torch.zeros_like(disp))


@pytest.mark.unit
def test_class_geometry_matches_numpy() -> None:
    x, y = _blobs(3, (7, 12, 5), 4)
    mean, std = x.mean(axis=0) + 0.3, x.std(axis=0) + 0.2
    data = _data(x, y)
    means, radii = ped_mod.class_geometry(data.x, data, torch.from_numpy(mean), torch.from_numpy(std))
    xs = (x - mean) / std
    for c in range(3):
        np.testing.assert_allclose(means[c].numpy(), xs[y == c].mean(axis=0), rtol=1e-12)
        assert radii[c].item() == pytest.approx(math.sqrt(xs[y == c].var(axis=0).sum()), rel=1e-12)


# --- the loop --------------------------------------------------------------------------------------------


@pytest.mark.property
@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    seed=st.integers(0, 2**31),
    c=st.integers(2, 6),
    max_steps=st.integers(1, 9),
    exit_ratio=st.floats(0.0, 1.5),
    spread=st.floats(0.0, 5.0),
)
def test_first_step_always_taken_and_at_most_max_steps(
    seed: int, c: int, max_steps: int, exit_ratio: float, spread: float
) -> None:
    rng = np.random.default_rng(seed)
    means = torch.from_numpy(rng.standard_normal((c, 3)))
    radii = torch.from_numpy(rng.uniform(0.0, spread, c))
    total, steps = ped_mod.ped_displacements(
        means, radii, nsigma=0.6, step=0.1, max_steps=max_steps, exit_ratio=exit_ratio, constant=1.0
    )
    assert 1 <= len(steps) <= max_steps
    assert all(s > exit_ratio * steps[0] for s in steps[1:])
    # The total is the sum of the accepted steps, replayed.
    current = means - means.mean(dim=0)
    replay = torch.zeros_like(current)
    for _ in steps:
        disp = ped_mod.one_step(current, radii, nsigma=0.6, step=0.1, constant=1.0)
        current, replay = current + disp, replay + disp
    torch.testing.assert_close(total, replay, rtol=1e-12, atol=1e-14)


@pytest.mark.unit
def test_exit_ratio_one_keeps_only_the_first_step() -> None:
    # Overlaps shrink as classes separate, so every later step moves less than the first.
    x, y = _blobs(4, (20, 20, 20), 3, sep=0.5)
    info = estimators.score_details("ped", features=x, labels=y, base="sfda", exit_ratio=1.0).info
    assert info["accepted_steps"] == 1
    info = estimators.score_details("ped", features=x, labels=y, base="sfda", exit_ratio=0.0).info
    assert info["accepted_steps"] == 6
    steps = info["step_displacements"]
    assert all(later < first for first, later in zip(steps, steps[1:], strict=False))


@pytest.mark.unit
def test_well_separated_classes_are_not_moved() -> None:
    rng = np.random.default_rng(5)
    y = np.repeat([0, 1, 2], 15)
    x = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]])[y] + rng.standard_normal((45, 2))
    stats = {"source_mean": np.zeros(2), "source_std": np.ones(2)}
    res = estimators.score_details("ped", features=x, labels=y, base="sfda", **stats)
    assert res.info["accepted_steps"] == 1
    assert res.info["step_displacements"] == [0.0]
    assert res.value == estimators.score("sfda", features=x, labels=y)


@pytest.mark.unit
def test_overlapping_classes_are_pushed_apart() -> None:
    x, y = _blobs(6, (30, 30, 30), 4, sep=0.3)
    res = estimators.score_details("ped", features=x, labels=y, base="sfda")
    assert res.info["step_displacements"][0] > 0
    assert res.value > estimators.score("sfda", features=x, labels=y)


# --- standardisation -------------------------------------------------------------------------------------


@pytest.mark.unit
def test_fallback_standardises_with_target_spread() -> None:
    x, y = _blobs(7, (15, 20, 10), 3)
    fallback = estimators.score_details("ped", features=x, labels=y, base="sfda")
    explicit = estimators.score_details(
        "ped", features=x, labels=y, base="sfda", source_mean=x.mean(axis=0), source_std=x.std(axis=0)
    )
    assert fallback.info["standardisation"] == "target"
    assert explicit.info["standardisation"] == "source"
    assert fallback.value == pytest.approx(explicit.value, rel=1e-12)
    assert fallback.info["accepted_steps"] == explicit.info["accepted_steps"]


@pytest.mark.unit
def test_source_statistics_change_the_geometry() -> None:
    x, y = _blobs(8, (15, 20, 10), 3)
    a = estimators.score_details("ped", features=x, labels=y, base="sfda")
    stretched = x.std(axis=0) * np.array([1.0, 10.0, 0.1])
    b = estimators.score_details(
        "ped", features=x, labels=y, base="sfda", source_mean=x.mean(axis=0), source_std=stretched
    )
    assert a.info["step_displacements"] != b.info["step_displacements"]


@pytest.mark.unit
def test_source_mean_does_not_matter() -> None:
    x, y = _blobs(9, (12, 18), 4)
    std = x.std(axis=0) + 0.5
    kwargs: dict[str, Any] = {"features": x, "labels": y, "base": "sfda", "source_std": std}
    a = estimators.score("ped", source_mean=np.zeros(4), **kwargs)
    b = estimators.score("ped", source_mean=np.full(4, 1e3), **kwargs)
    assert b == pytest.approx(a, rel=1e-9)


@pytest.mark.unit
def test_zero_source_std_is_floored_at_eps() -> None:
    x, y = _blobs(10, (12, 18), 2)
    zero = {"source_mean": np.zeros(2), "source_std": np.zeros(2)}
    eps = {"source_mean": np.zeros(2), "source_std": np.full(2, 1e-3)}
    a = estimators.score_details("ped", features=x, labels=y, base="sfda", **zero)
    b = estimators.score_details("ped", features=x, labels=y, base="sfda", **eps)
    assert a.value == b.value
    assert a.info["step_displacements"] == b.info["step_displacements"]


# --- contract --------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_accepted_steps_match_manifest() -> None:
    manifest = json.loads((VECTORS / "manifest.json").read_text())
    entries = [e for e in manifest if e["scorer"] == "ped" and e["params"]["base"] == "sfda"]
    assert entries
    for e in entries:
        with np.load(VECTORS / e["file"]) as z:
            kwargs = {name: z[key] for name, key in e["inputs"].items()}
        res = estimators.score_details("ped", **kwargs, **e["params"])
        assert res.info["accepted_steps"] == e["info"]["accepted_steps"], e["file"]


@pytest.mark.unit
def test_does_not_mutate_scoring_data() -> None:
    x, y = _blobs(11, (10, 10, 10), 3, sep=0.3)
    data = _data(x, y)
    before = data.x.clone()
    res = estimators.get_scorer("ped").fn(data, base="sfda")
    assert res.info["step_displacements"][0] > 0
    assert torch.equal(data.x, before)


@pytest.mark.unit
def test_float32_compute_agrees() -> None:
    x, y = _blobs(12, (20, 25, 15), 4, sep=0.5)
    a = estimators.score("ped", features=x, labels=y, base="sfda")
    b = estimators.score("ped", features=x.astype(np.float32), labels=y, base="sfda", dtype="float32")
    assert b == pytest.approx(a, rel=1e-4)


@pytest.mark.unit
def test_default_base_is_logme() -> None:
    assert estimators.get_scorer("ped").defaults["base"] == "logme"
    if "logme" not in SCORERS:
        pytest.skip("logme is not registered yet")
    x, y = _blobs(13, (20, 25, 15), 4, sep=0.5)
    res = estimators.score_details("ped", features=x, labels=y)
    assert res.info["base"] == "logme" and math.isfinite(res.value)


@pytest.mark.unit
def test_fix_high_dim_reaches_a_logme_base_only_when_d_exceeds_n() -> None:
    if "logme" not in SCORERS:
        pytest.skip("logme is not registered yet")
    wide_x, wide_y = _blobs(15, (8, 9, 7), 60, sep=0.3)
    reference = estimators.score_details("ped", features=wide_x, labels=wide_y)
    fixed = estimators.score_details("ped", features=wide_x, labels=wide_y, fix_high_dim=True)
    assert reference.info["base_params"]["fix_high_dim"] is False
    assert fixed.info["base_params"]["fix_high_dim"] is True
    assert reference.value > fixed.value  # the reference drops the D - N zero eigenvalues (log α > 0 here)
    tall_x, tall_y = _blobs(16, (30, 40, 35), 5, sep=0.3)
    a = estimators.score("ped", features=tall_x, labels=tall_y)
    b = estimators.score("ped", features=tall_x, labels=tall_y, fix_high_dim=True)
    assert b == pytest.approx(a, rel=1e-12)
    c = estimators.score_details("ped", features=tall_x, labels=tall_y, base="sfda", fix_high_dim=True)
    assert "fix_high_dim" not in c.info["base_params"]


@pytest.mark.unit
def test_scale_extremes_are_finite() -> None:
    x, y = _blobs(14, (10, 12, 9), 3, sep=0.5)
    for scale in (1e-30, 1e30):
        stats = {"source_mean": np.zeros(3), "source_std": np.full(3, scale)}
        value = estimators.score("ped", features=x * scale, labels=y, base="sfda", **stats)
        assert math.isfinite(value)
