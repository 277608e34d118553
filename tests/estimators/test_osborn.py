"""OSBORN: known answers of the domain, task and cohesion terms, solvers, subsets, and degenerate pools."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import estimators
from estimators import teams
from estimators.errors import InvalidInputError, InvalidParameterError, ZoorankError
from estimators.osborn import OsbornObjective, cohesion_matrix, conditional_entropy, subset_indices


def _onehot_probs(pred: np.ndarray, width: int) -> np.ndarray:
    """Softmax-like rows peaked at ``pred`` (argmax = pred), rows summing to 1."""
    p = np.full((pred.shape[0], width), 0.1 / max(width - 1, 1))
    p[np.arange(pred.shape[0]), pred] = 0.9 if width > 1 else 1.0
    out: np.ndarray = p / p.sum(axis=1, keepdims=True)
    return out


def _member(
    rng: np.random.Generator, labels: np.ndarray, *, d: int = 6, width: int = 5, n_source: int = 30
) -> dict[str, Any]:
    n = labels.shape[0]
    w = rng.standard_normal((d, width))
    target = rng.standard_normal((n, d)) + labels[:, None]
    source = rng.standard_normal((n_source, d))
    return {
        "features": target,
        "source_probs": _onehot_probs((target @ w).argmax(1), width),
        "source_features": source,
        "source_predictions": (source @ w).argmax(1),
    }


def _pool(seed: int, size: int = 4, n: int = 40) -> tuple[dict[str, dict[str, Any]], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    return {f"m{i}": _member(rng, labels) for i in range(size)}, labels


def _objective(members: dict[str, dict[str, Any]], labels: np.ndarray, **params: Any) -> OsbornObjective:
    objective, _, _ = teams.prepare_pool("osborn", members=members, labels=labels, **params)
    assert isinstance(objective, OsbornObjective)
    return objective


# --- W_D -----------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("solver", ["emd", "gaussian"])
def test_identical_source_and_target_features_give_zero_domain_difference(solver: str) -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(30) % 3
    member = _member(rng, labels)
    member["source_features"] = member["features"].copy()
    member["source_predictions"] = member["source_probs"].argmax(1)
    obj = _objective({"a": member}, labels, solver=solver)
    # The cost diagonal is computed after centring (no cancellation of ||x||^2 terms), so it is 0 up to a
    # few ulps of the squared norms (~10 here); 1e-9 leaves many orders of margin on any BLAS.
    assert 0.0 <= obj.w_d_raw[0] <= 1e-9


@pytest.mark.unit
@pytest.mark.parametrize("solver", ["emd", "gaussian"])
def test_translated_cloud_costs_the_squared_shift(solver: str) -> None:
    """Source = target + v: the translation is the optimal W2 map, so W_D = ||v||^2 (both solvers)."""
    rng = np.random.default_rng(1)
    labels = np.arange(25) % 5
    member = _member(rng, labels, d=4)
    shift = np.array([0.5, -1.0, 2.0, 0.0])
    member["source_features"] = member["features"] + shift
    member["source_predictions"] = member["source_probs"].argmax(1)
    obj = _objective({"a": member}, labels, solver=solver)
    # Exact in exact arithmetic; float64 rounding of 25x25 costs of size ~10 stays below 1e-9.
    assert obj.w_d_raw[0] == pytest.approx(float(shift @ shift), abs=1e-9)


@pytest.mark.unit
def test_sinkhorn_tends_to_emd_as_reg_goes_to_zero() -> None:
    rng = np.random.default_rng(2)
    labels = np.arange(20) % 2
    member = _member(rng, labels, d=3, n_source=15)
    exact = _objective({"a": member}, labels, solver="emd").w_d_raw[0]
    fs, ft = member["source_features"], member["features"]
    top = float((((fs[:, None, :] - ft[None, :, :]) ** 2).sum(-1)).max())
    gaps = []
    for reg in (0.1, 0.01, 0.003):  # smaller reg converges, but sinkhorn_log then needs ~10^5 sweeps
        approx = _objective(
            {"a": member}, labels, solver="sinkhorn", sinkhorn_reg=reg, sinkhorn_max_iter=200_000
        ).w_d_raw[0]
        gaps.append(abs(approx - exact))
        # Entropic OT with reg eps on the max-normalised cost exceeds the LP value by at most
        # eps * max(C) * log(n_s * n_t) (the entropy of any coupling lies in [0, log(n_s n_t)]); the
        # 1e-6 absolute slack covers the solver's stopping threshold.
        assert approx - exact <= reg * top * math.log(15 * 20) + 1e-6
    assert gaps[2] < gaps[1] < gaps[0]
    assert gaps[-1] <= 0.01 * exact  # 0.3 % here; the bound above allows up to ~5 % at reg = 0.003


@pytest.mark.unit
def test_plain_and_log_domain_sinkhorn_agree() -> None:
    members, labels = _pool(11, size=2)
    plain = _objective(members, labels, solver="sinkhorn", sinkhorn_method="plain")
    log = _objective(members, labels, solver="sinkhorn", sinkhorn_method="log")
    # The same fixed point, both stopped at a marginal violation of 1e-9: costs agree far below 1e-6.
    np.testing.assert_allclose(plain.w_d_raw, log.w_d_raw, rtol=1e-6)
    np.testing.assert_allclose(plain.w_t_raw, log.w_t_raw, rtol=1e-6, atol=1e-9)


@pytest.mark.unit
def test_frobenius_and_sinkhorn_couplings_cost_at_least_the_lp() -> None:
    members, labels = _pool(3, size=1)
    exact = _objective(members, labels).w_d_raw[0]
    for solver in ("sinkhorn", "frobenius"):
        value = _objective(members, labels, solver=solver).w_d_raw[0]
        # Any feasible coupling costs at least the LP optimum; 1e-9 relative covers float64 rounding.
        assert value >= exact * (1 - 1e-9)


@pytest.mark.unit
def test_source_rms_scale_makes_the_domain_term_scale_free() -> None:
    rng = np.random.default_rng(12)
    labels = np.arange(30) % 3
    member = _member(rng, labels)
    scaled = dict(
        member, features=member["features"] * 1e-3, source_features=member["source_features"] * 1e-3
    )
    raw = [_objective({"a": m}, labels).w_d_raw[0] for m in (member, scaled)]
    rel = [_objective({"a": m}, labels, feature_scale="source_rms").w_d_raw[0] for m in (member, scaled)]
    assert raw[1] == pytest.approx(raw[0] * 1e-6, rel=1e-9)  # raw W_D scales with the features squared
    assert rel[1] == pytest.approx(rel[0], rel=1e-9)  # relative W_D does not (same coupling, rounding only)


# --- W_T -----------------------------------------------------------------------------------------


def _aligned_member(pred_source: np.ndarray, labels: np.ndarray, width: int) -> dict[str, Any]:
    """Source sample = target sample (distinct points): EMD's coupling is the identity / n."""
    feats = np.arange(labels.shape[0], dtype=np.float64)[:, None] * np.array([[1.0, 2.0]])
    return {
        "features": feats,
        "source_probs": _onehot_probs(pred_source, width),
        "source_features": feats.copy(),
        "source_predictions": pred_source,
    }


@pytest.mark.unit
def test_task_difference_known_answer_and_direction() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    pred = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    member = {"a": _aligned_member(pred, labels, 3)}
    # J = diag-free empirical joint: H(Ŷ | Y) = 1/2 ln 2 (class 0 splits evenly), H(Y | Ŷ) = 0.
    osborn_dir = _objective(member, labels).w_t_raw[0]
    otce_dir = _objective(member, labels, wt_direction="otce").w_t_raw[0]
    assert osborn_dir == pytest.approx(0.5 * math.log(2), rel=1e-12)
    assert otce_dir == pytest.approx(0.0, abs=1e-12)


@pytest.mark.unit
def test_task_difference_readings() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    pred = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    member = _aligned_member(pred, labels, 3)
    member["source_labels"] = labels.copy()  # true source classes coincide with the target labels
    gt = _objective({"a": member}, labels, wt_source_labels="gt").w_t_raw[0]
    assert gt == pytest.approx(0.0, abs=1e-12)
    # target_empirical ignores the coupling: predictions on the target are argmax of source_probs = pred.
    member["source_predictions"] = np.zeros_like(pred)
    emp = _objective({"a": member}, labels, wt_mode="target_empirical").w_t_raw[0]
    assert emp == pytest.approx(0.5 * math.log(2), rel=1e-12)
    coupled = _objective({"a": member}, labels).w_t_raw[0]
    assert coupled == pytest.approx(0.0, abs=1e-12)  # one source class on every row


@pytest.mark.unit
def test_gt_reading_needs_source_labels() -> None:
    members, labels = _pool(4, size=1)
    with pytest.raises(InvalidInputError, match="source_labels"):
        _objective(members, labels, wt_source_labels="gt")


@pytest.mark.unit
def test_conditional_entropy_known_values() -> None:
    independent = np.full((2, 2), 0.25)
    assert conditional_entropy(independent, given_axis=1) == pytest.approx(math.log(2), rel=1e-12)
    assert conditional_entropy(np.eye(3) / 3, given_axis=1) == pytest.approx(0.0, abs=1e-15)
    # unnormalised tables are normalised first
    assert conditional_entropy(independent * 7, given_axis=0) == pytest.approx(math.log(2), rel=1e-12)


# --- cohesion --------------------------------------------------------------------------------------


@pytest.mark.unit
def test_identical_members_have_zero_conditional_entropy() -> None:
    pred = np.array([0, 1, 2, 2, 1, 0, 3])
    h = cohesion_matrix([pred, pred.copy()], [4, 4])
    assert h[0, 1] == 0.0 and h[1, 0] == 0.0  # the extreme: complete agreement


@pytest.mark.unit
def test_independent_member_has_maximal_conditional_entropy() -> None:
    a = np.array([0, 0, 1, 1] * 3)
    b = np.array([0, 1, 0, 1] * 3)  # independent of a, both uniform
    h = cohesion_matrix([a, b], [2, 2])
    assert h[0, 1] == pytest.approx(math.log(2), rel=1e-12)  # H(a | b) = H(a)
    assert h[1, 0] == pytest.approx(math.log(2), rel=1e-12)


@pytest.mark.unit
def test_an_independent_member_raises_cohesion_and_lowers_the_score() -> None:
    labels = np.arange(12) % 2
    rng = np.random.default_rng(5)
    base = _member(rng, labels, width=2)
    twin = {k: np.array(v, copy=True) for k, v in base.items()}
    pred = base["source_probs"].argmax(1)
    other = dict(base)
    # predictions independent of base's: within each base class, half 0 and half 1
    flip = np.zeros_like(pred)
    for c in (0, 1):
        rows = np.flatnonzero(pred == c)
        flip[rows[: len(rows) // 2]] = 1
    other["source_probs"] = _onehot_probs(flip, 2)
    obj = _objective({"base": base, "twin": twin, "other": other}, labels, standardize="none", w_d=0, w_t=0)
    agree = obj.breakdown((0, 1))
    disagree = obj.breakdown((0, 2))
    assert agree["sum_c"] == 0.0
    assert disagree["sum_c"] > 0.0  # documented direction: disagreement raises W_C ...
    assert obj.team_score((0, 2)) < obj.team_score((0, 1))  # ... and lowers the score


# --- standardisation, score, scorer entry point -----------------------------------------------------


@pytest.mark.unit
def test_pool_standardisation() -> None:
    members, labels = _pool(6, size=5)
    obj = _objective(members, labels)
    # z-scores: mean 0, population std 1, up to float64 rounding of 5 values
    assert abs(obj.d.mean()) < 1e-12 and obj.d.std() == pytest.approx(1.0, rel=1e-12)
    assert abs(obj.t.mean()) < 1e-12 and obj.t.std() == pytest.approx(1.0, rel=1e-12)
    off = ~np.eye(5, dtype=bool)
    assert np.all(obj.c >= 0) and obj.c[off].std() == pytest.approx(1.0, rel=1e-12)


@pytest.mark.unit
def test_greedy_gains_sum_to_the_team_score() -> None:
    members, labels = _pool(7, size=5)
    selection = estimators.select_team("osborn", members=members, labels=labels, k=3)
    total = sum(step["gain"] for step in selection.steps)
    # The objective is decomposable, so the gains telescope; rounding of a few sums of O(10) terms.
    assert total == pytest.approx(selection.best.score, rel=1e-12, abs=1e-12)


@pytest.mark.unit
def test_score_ensemble_treats_the_members_as_the_pool() -> None:
    members, labels = _pool(8, size=3)
    value = estimators.score_ensemble("osborn", members=members, labels=labels)
    obj = _objective(members, labels)
    assert value == pytest.approx(obj.team_score((0, 1, 2)), rel=1e-12)
    # pool z-scores sum to 0 over the whole pool: only cohesion is left
    assert value == pytest.approx(-float(obj.c.sum()), rel=1e-9)
    with pytest.raises(InvalidParameterError, match="exhaustive"):
        estimators.score_ensemble("osborn", members=members, labels=labels, standardize="candidates")


@pytest.mark.unit
def test_sizes_are_capped_and_reported() -> None:
    members, labels = _pool(9, size=2, n=90)
    selection = estimators.select_team(
        "osborn", members=members, labels=labels, k=1, max_source=12, max_target=20
    )
    for info in selection.members.values():
        assert info["n_source"] == 12 and info["n_target"] == 20
    assert selection.info["n_target"] == 20


@pytest.mark.unit
def test_subset_indices() -> None:
    y = np.array([0] * 90 + [1] * 10)
    assert np.array_equal(subset_indices(y, 200, subset="balanced", seed=0), np.arange(100))
    bal = subset_indices(y, 20, subset="balanced", seed=0)
    assert len(bal) == 20 and np.bincount(y[bal]).tolist() == [10, 10]
    inv = subset_indices(y, 20, subset="inverse_frequency", seed=0)
    assert len(inv) == 20 and len(set(inv.tolist())) == 20 and np.all(np.diff(inv) > 0)
    # inverse-frequency: each class carries half the probability mass, so the rare class is not swamped
    assert np.bincount(y[inv], minlength=2)[1] >= 5
    assert np.array_equal(inv, subset_indices(y, 20, subset="inverse_frequency", seed=0))


@pytest.mark.unit
def test_bad_profile_inputs_are_typed_errors() -> None:
    members, labels = _pool(10, size=1)
    bad = dict(members["m0"])
    bad["source_predictions"] = np.full(30, 99)
    with pytest.raises(InvalidInputError, match="source_predictions"):
        estimators.score_ensemble("osborn", members={"a": bad}, labels=labels)
    bad = dict(members["m0"])
    bad["source_features"] = np.ones((30, 2))
    with pytest.raises(InvalidInputError, match="dimensions"):
        estimators.score_ensemble("osborn", members={"a": bad}, labels=labels)


# --- properties --------------------------------------------------------------------------------------


@st.composite
def _degenerate_pools(draw: st.DrawFn) -> tuple[dict[str, dict[str, Any]], np.ndarray, int, dict[str, Any]]:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(2, 16))
    num_classes = draw(st.sampled_from([1, 2, 2, 3, 3, 3]))  # mostly valid labels, sometimes one class
    labels = np.arange(n) % num_classes
    size = draw(st.integers(1, 4))
    members: dict[str, dict[str, Any]] = {}
    for i in range(size):
        kind = draw(st.sampled_from(["plain", "one_class", "empty_profile", "d1", "duplicate", "constant"]))
        if kind == "duplicate" and members:
            members[f"m{i}"] = {k: np.array(v, copy=True) for k, v in next(iter(members.values())).items()}
            continue
        d = 1 if kind == "d1" else draw(st.integers(1, 4))
        width = draw(st.integers(1, 4))
        n_source = 0 if kind == "empty_profile" else draw(st.integers(1, 12))
        target = rng.standard_normal((n, d)) * draw(st.sampled_from([1e-8, 1.0, 1e4]))
        if kind == "constant":
            target = np.ones((n, d))
        pred = np.zeros(n, dtype=np.int64) if kind == "one_class" else rng.integers(0, width, n)
        members[f"m{i}"] = {
            "features": target,
            "source_probs": _onehot_probs(pred, width),
            "source_features": rng.standard_normal((n_source, d)),
            "source_predictions": rng.integers(0, width, n_source),
        }
    k = draw(st.integers(1, 5))
    params = {
        "solver": draw(st.sampled_from(["emd", "sinkhorn", "gaussian"])),
        "standardize": draw(st.sampled_from(["pool", "none"])),
        "wt_direction": draw(st.sampled_from(["osborn", "otce"])),
        "max_source": draw(st.integers(1, 12)),
        "max_target": draw(st.integers(1, 16)),
    }
    return members, labels, k, params


@pytest.mark.unit
@settings(max_examples=500, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_degenerate_pools(), mode=st.sampled_from(["greedy", "exhaustive"]))
def test_degenerate_pools_give_finite_values_or_typed_errors(
    case: tuple[dict[str, dict[str, Any]], np.ndarray, int, dict[str, Any]], mode: str
) -> None:
    members, labels, k, params = case
    try:
        selection = estimators.select_team("osborn", members=members, labels=labels, k=k, mode=mode, **params)
    except ZoorankError:
        return
    assert len(selection.best.members) == k
    assert set(selection.pool) | set(selection.ineligible) == set(members)  # nobody silently dropped
    for team in selection.teams:
        assert math.isfinite(team.score)
    for info in selection.members.values():
        for key in ("W_D", "W_T", "d", "t"):
            assert math.isfinite(info[key]) and (key not in ("W_D", "W_T") or info[key] >= 0)


@pytest.mark.unit
def test_members_of_different_widths_and_dims_score() -> None:
    """Members differ in D (1..3) and head width (1..3, one a single-class head): every pool scores."""
    ok = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        labels = np.arange(8) % 2
        members = {f"m{i}": _member(rng, labels, d=1 + i % 3, width=1 + i % 3, n_source=5) for i in range(3)}
        try:
            estimators.select_team("osborn", members=members, labels=labels, k=2, mode="exhaustive")
            ok += 1
        except ZoorankError:
            pass
    assert ok == 40


@pytest.mark.unit
@settings(max_examples=500, derandomize=True, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    widths=st.tuples(st.integers(1, 5), st.integers(1, 5)),
)
def test_conditional_entropy_bounds(seed: int, n: int, widths: tuple[int, int]) -> None:
    """0 ≤ H(A | B) ≤ H(A) ≤ log C_A, for any pair of label vectors (natural log)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, widths[0], n)
    b = rng.integers(0, widths[1], n)
    h = cohesion_matrix([a, b], list(widths))
    marginal = np.bincount(a, minlength=widths[0]) / n
    entropy_a = -float(np.sum(marginal[marginal > 0] * np.log(marginal[marginal > 0])))
    # conditioning never increases entropy; 1e-12 absorbs the rounding of sums of <= 25 terms
    assert 0.0 <= h[0, 1] <= entropy_a + 1e-12 <= math.log(widths[0]) + 2e-12
    assert h[0, 0] == 0.0 and h[1, 1] == 0.0


@pytest.mark.unit
@settings(max_examples=500, derandomize=True, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_s=st.integers(1, 12),
    n_t=st.integers(2, 12),
    d=st.integers(1, 3),
)
def test_emd_cost_is_at_most_the_independent_coupling(seed: int, n_s: int, n_t: int, d: int) -> None:
    """The LP optimum costs no more than the product coupling (mean of all pairwise squared distances)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n_t) % 2
    member = {
        "features": rng.standard_normal((n_t, d)),
        "source_probs": _onehot_probs(rng.integers(0, 3, n_t), 3),
        "source_features": rng.standard_normal((n_s, d)) * 2,
        "source_predictions": rng.integers(0, 3, n_s),
    }
    obj = _objective({"a": member}, labels)
    fs, ft = member["source_features"], member["features"]
    product = float((((fs[:, None, :] - ft[None, :, :]) ** 2).sum(-1)).mean())
    # relative 1e-9: float64 rounding of <= 144 products of O(10) costs
    assert 0.0 <= obj.w_d_raw[0] <= product * (1 + 1e-9) + 1e-12
    assert 0.0 <= obj.w_t_raw[0] <= math.log(3) + 1e-12  # H(Ŷ | Y) ≤ log C_s


@pytest.mark.unit
@settings(max_examples=500, derandomize=True, deadline=None)
@given(
    counts=st.lists(st.integers(1, 30), min_size=1, max_size=5),
    cap=st.integers(1, 60),
    subset=st.sampled_from(["inverse_frequency", "balanced"]),
    seed=st.integers(0, 1000),
)
def test_subset_indices_properties(counts: list[int], cap: int, subset: str, seed: int) -> None:
    y = np.repeat(np.arange(len(counts)), counts)
    idx = subset_indices(y, cap, subset=subset, seed=seed)
    assert len(idx) == min(cap, len(y))
    assert np.all(np.diff(idx) > 0) and idx.min() >= 0 and idx.max() < len(y)
    if subset == "balanced" and cap < len(y):
        got = np.bincount(y[idx], minlength=len(counts))
        # water-filling: a class short of the largest quota gave all of its rows
        top = int(got.max())
        assert all(g >= top - 1 or g == c for g, c in zip(got, counts, strict=True))
