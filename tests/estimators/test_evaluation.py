"""Tests of ``estimators.evaluation``: brute-force definitions, properties, validation, published tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators import evaluation as ev
from estimators.errors import DegenerateInputError, InvalidInputError, InvalidParameterError

TABLES: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "published_tables.json").read_text()
)
PROPS = settings(max_examples=150, deadline=None, derandomize=True, database=None)


# --- independent brute-force definitions -------------------------------------------------------------


def _brute_weighted_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Vigna's additive hyperbolic τ_w for tie-free vectors, averaged over the rankings by x and by y."""

    def one(rank_by: np.ndarray) -> float:
        rank = np.empty(len(rank_by), dtype=int)
        rank[np.argsort(-rank_by)] = np.arange(len(rank_by))  # 0 = largest
        num = den = 0.0
        for i in range(len(x)):
            for j in range(i + 1, len(x)):
                w = 1.0 / (rank[i] + 1) + 1.0 / (rank[j] + 1)
                num += w * np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])
                den += w
        return num / den

    return (one(x) + one(y)) / 2


def _brute_kendall(x: np.ndarray, y: np.ndarray) -> float:
    """(concordant − discordant) / pairs for tie-free vectors."""
    m = len(x)
    s = sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i in range(m) for j in range(i + 1, m))
    return float(s) / (m * (m - 1) / 2)


@st.composite
def tie_free_pair(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    m = draw(st.integers(2, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.permutation(m).astype(float) * draw(st.sampled_from([1e-6, 1.0, 1e6])) + 0.5
    y = rng.permutation(m).astype(float) + draw(st.floats(-100, 100))
    return x, y


@st.composite
def score_acc(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Scores with possible ties, non-negative accuracies not all equal, both non-constant."""
    m = draw(st.integers(2, 10))
    s = np.array(draw(st.lists(st.integers(-3, 3), min_size=m, max_size=m)), dtype=float)
    a = np.array(draw(st.lists(st.integers(0, 5), min_size=m, max_size=m)), dtype=float) * 10 + 50
    if np.all(s == s[0]):
        s[0] += 1
    if np.all(a == a[0]):
        a[-1] += 1
    return s, a


@PROPS
@given(pair=tie_free_pair())
def test_weighted_tau_matches_brute_force_definition(pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = pair
    assert ev.weighted_tau(x, y) == pytest.approx(_brute_weighted_tau(x, y), abs=1e-12)


@PROPS
@given(pair=tie_free_pair())
def test_kendall_and_pearson_match_definitions(pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = pair
    assert ev.kendall_tau(x, y) == pytest.approx(_brute_kendall(x, y), abs=1e-12)
    xc, yc = x - x.mean(), y - y.mean()
    r = float(xc @ yc / np.sqrt((xc @ xc) * (yc @ yc)))
    assert ev.pearson(x, y) == pytest.approx(r, abs=1e-9)


def test_hand_computed_weighted_tau() -> None:
    # x ranks (0,1,2); y swaps the bottom two. Only the pair of ranks (1, 2) is discordant:
    # weights w01 = 1 + 1/2, w02 = 1 + 1/3, w12 = 1/2 + 1/3, and ranking by y gives the same weights.
    w01, w02, w12 = 1.5, 4 / 3, 5 / 6
    expected = (w01 + w02 - w12) / (w01 + w02 + w12)
    assert ev.weighted_tau([3.0, 2.0, 1.0], [30.0, 10.0, 20.0]) == pytest.approx(expected, abs=1e-15)


# --- properties ---------------------------------------------------------------------------------------


@PROPS
@given(sa=score_acc())
def test_correlation_properties(sa: tuple[np.ndarray, np.ndarray]) -> None:
    s, a = sa
    assert ev.weighted_tau(s, s) == pytest.approx(1.0, abs=1e-12)
    assert ev.weighted_tau(s, -s) == pytest.approx(-1.0, abs=1e-12)
    # symmetric in its arguments (rank=True averages both rankings)
    assert ev.weighted_tau(s, a) == pytest.approx(ev.weighted_tau(a, s), abs=1e-12)
    # τ_w is not antisymmetric under negating one argument (its weights follow the ranking), τ_b and r are
    assert ev.kendall_tau(-s, a) == pytest.approx(-ev.kendall_tau(s, a), abs=1e-12)
    assert ev.pearson(-s, a) == pytest.approx(-ev.pearson(s, a), abs=1e-12)
    for fn in (ev.weighted_tau, ev.kendall_tau, ev.pearson):
        v = fn(s, a)
        assert -1.0 <= v <= 1.0
        # invariant to strictly increasing transforms (rank measures) / positive affine maps (Pearson)
        assert fn(3.0 * s + 7.0, a) == pytest.approx(v, abs=1e-12)


@PROPS
@given(pair=tie_free_pair())
def test_weighted_tau_independent_of_listing_order_without_ties(pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = pair
    perm = np.random.default_rng(0).permutation(len(x))
    assert ev.weighted_tau(x[perm], y[perm]) == pytest.approx(ev.weighted_tau(x, y), abs=1e-12)


@PROPS
@given(sa=score_acc(), k=st.integers(1, 12))
def test_rel_at_k_properties(sa: tuple[np.ndarray, np.ndarray], k: int) -> None:
    s, a = sa
    r = ev.rel_at_k(s, a, k)
    assert 0.0 < r <= 1.0
    assert ev.rel_at_k(s, a, k + 1) >= r  # more picks never hurt
    if k >= len(s):
        assert r == 1.0
    # the result does not depend on the order the models are listed in, even with ties
    perm = np.random.default_rng(k).permutation(len(s))
    assert ev.rel_at_k(s[perm], a[perm], k) == r
    # the top scorer is made the most accurate model -> rel@1 == 1 and recall@1 == 1
    best = a.copy()
    best[int(np.argmax(s))] = a.max() + 1.0
    if np.sum(s == s.max()) == 1:
        assert ev.rel_at_k(s, best, 1) == 1.0
        assert ev.recall_at_k(s, best, 1) == 1.0


def test_rel_at_k_hand_cases() -> None:
    s = [0.9, 0.5, 0.1, 0.7]
    a = [80.0, 90.0, 100.0, 85.0]
    assert ev.rel_at_k(s, a, 1) == pytest.approx(0.8)
    assert ev.rel_at_k(s, a, 2) == pytest.approx(0.85)
    assert ev.rel_at_k(s, a, 3) == pytest.approx(0.9)
    assert ev.rel_at_k(s, a, 4) == 1.0
    # a tie at the cut is broken towards the worse model, whatever the listing order
    assert ev.rel_at_k([1.0, 1.0, 0.0], [50.0, 100.0, 10.0], 1) == 0.5
    assert ev.rel_at_k([1.0, 1.0, 0.0], [100.0, 50.0, 10.0], 1) == 0.5


def test_recall_at_k_hand_cases() -> None:
    s = [0.9, 0.5, 0.1, 0.7]
    a = [80.0, 90.0, 100.0, 85.0]
    assert ev.recall_at_k(s, a, 1) == 0.0
    assert ev.recall_at_k(s, a, 3) == 0.0
    assert ev.recall_at_k(s, a, 4) == 1.0
    assert ev.recall_at_k([3.0, 2.0, 1.0], [90.0, 95.0, 90.0], 2) == 1.0  # tied with the 2nd best counts


# --- input handling -------------------------------------------------------------------------------------


def test_dicts_are_aligned_by_model_id() -> None:
    scores = {"a": 0.3, "b": 0.9, "c": 0.5, "d": 0.1}
    acc = {"d": 70.0, "c": 80.0, "a": 75.0, "b": 90.0}
    s = [0.3, 0.9, 0.5, 0.1]
    a = [75.0, 90.0, 80.0, 70.0]
    for fn in (ev.weighted_tau, ev.kendall_tau, ev.pearson):
        assert fn(scores, acc) == fn(s, a)
    assert ev.rel_at_k(scores, acc, 1) == 1.0


def test_numpy_torch_and_int_inputs_agree() -> None:
    s = [3, 1, 2, 5]
    a = [0.7, 0.2, 0.5, 0.6]
    want = ev.weighted_tau(np.array(s, dtype=float), a)
    assert ev.weighted_tau(s, a) == want
    assert ev.weighted_tau(torch.tensor(s), torch.tensor(a)) == want
    assert ev.weighted_tau(tuple(s), np.array(a, dtype=np.float32)) == pytest.approx(want)


@pytest.mark.parametrize(
    ("scores", "accs"),
    [
        ([1.0, 2.0], [1.0, 2.0, 3.0]),  # length mismatch
        ([1.0], [1.0]),  # fewer than 2 models
        ([1.0, float("nan")], [1.0, 2.0]),
        ([1.0, 2.0], [1.0, float("inf")]),
        (["a", "b"], [1.0, 2.0]),
        ([[1.0, 2.0]], [[1.0, 2.0]]),  # 2-D
        ({"a": 1.0, "b": 2.0}, [1.0, 2.0]),  # dict vs sequence
        ({"a": 1.0, "b": 2.0}, {"a": 1.0, "c": 2.0}),  # different ids
        ([1 + 2j, 2.0], [1.0, 2.0]),
    ],
)
def test_invalid_inputs_raise_typed_errors(scores: Any, accs: Any) -> None:
    for fn in (ev.weighted_tau, ev.kendall_tau, ev.pearson, ev.rel_at_k, ev.recall_at_k):
        with pytest.raises(InvalidInputError):
            fn(scores, accs)


@pytest.mark.parametrize("fn", [ev.weighted_tau, ev.kendall_tau, ev.pearson])
def test_constant_vector_is_degenerate_not_nan(fn: Any) -> None:
    with pytest.raises(DegenerateInputError, match="scores"):
        fn([0.5, 0.5, 0.5], [1.0, 2.0, 3.0])
    with pytest.raises(DegenerateInputError, match="accuracies"):
        fn([1.0, 2.0, 3.0], [7.0, 7.0, 7.0])


def test_rel_at_k_validation() -> None:
    for k in (0, -1, 1.5, True, "2"):
        with pytest.raises(InvalidParameterError):
            ev.rel_at_k([1.0, 2.0], [1.0, 2.0], k)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="non-negative"):
        ev.rel_at_k([1.0, 2.0], [-1.0, 2.0], 1)
    with pytest.raises(DegenerateInputError):
        ev.rel_at_k([1.0, 2.0], [0.0, 0.0], 1)
    assert ev.rel_at_k([1.0, 1.0], [3.0, 3.0], 1) == 1.0  # constant inputs are fine for rel@k


def test_inputs_are_not_mutated() -> None:
    s = np.array([0.3, 0.1, 0.2])
    a = np.array([1.0, 3.0, 2.0])
    ev.weighted_tau(s, a)
    ev.rel_at_k(s, a, 2)
    np.testing.assert_array_equal(s, [0.3, 0.1, 0.2])
    np.testing.assert_array_equal(a, [1.0, 3.0, 2.0])


# --- published tables (tests/data/published_tables.json) ----------------------------------------------

_TLLIB = TABLES["tllib_model_selection"]
_CELLS = [(ds, m) for ds, ms in _TLLIB["consistent_cells"].items() for m in ms]
_ALL_CELLS = [(ds, m) for ds, v in _TLLIB["datasets"].items() for m in v["scores"]]


@pytest.mark.parametrize(("dataset", "metric"), _CELLS, ids=[f"{d}-{m}" for d, m in _CELLS])
def test_tllib_readme_weighted_tau_reproduced(dataset: str, metric: str) -> None:
    table = _TLLIB["datasets"][dataset]
    got = ev.weighted_tau(table["scores"][metric], table["finetune_acc"])
    assert round(got, 3) == pytest.approx(table["reported_weighted_tau"][metric], abs=1e-9), got


@pytest.mark.parametrize(("dataset", "metric"), _ALL_CELLS, ids=[f"{d}-{m}" for d, m in _ALL_CELLS])
def test_tllib_every_cell_matches_the_spec_recomputation(dataset: str, metric: str) -> None:
    table = _TLLIB["datasets"][dataset]
    got = ev.weighted_tau(table["scores"][metric], table["finetune_acc"])
    assert got == pytest.approx(table["spec_recomputed_weighted_tau"][metric], abs=5e-4 + 1e-12)


def test_tllib_inconsistent_cells_really_differ_from_the_readme() -> None:
    """The cells left out above are not reproducible from the README itself (documents why)."""
    for dataset, table in _TLLIB["datasets"].items():
        for metric in table["scores"]:
            if (dataset, metric) in _CELLS:
                continue
            got = ev.weighted_tau(table["scores"][metric], table["finetune_acc"])
            assert round(got, 3) != table["reported_weighted_tau"][metric], (dataset, metric)


def _minmax(v: dict[str, float]) -> dict[str, float]:
    lo, hi = min(v.values()), max(v.values())
    return {k: (x - lo) / (hi - lo) for k, x in v.items()}


def test_etran_cifar100_vector() -> None:
    t = TABLES["etran_cifar100"]
    acc, sc, want = t["finetune_acc"], t["scores"], t["expected"]
    tol = 0.5 * 10 ** -t["expected_decimals"]
    # the transcribed table is self-consistent: 0.15·minmax(energy) + 0.85·minmax(lda)
    en, cls = _minmax(sc["s_en"]), _minmax(sc["s_cls"])
    for m, v in sc["etran"].items():
        assert 0.15 * en[m] + 0.85 * cls[m] == pytest.approx(v, abs=1e-6)
    assert ev.weighted_tau(sc["etran"], acc) == pytest.approx(want["weighted_tau_etran"], abs=tol)
    assert ev.weighted_tau(sc["s_cls"], acc) == pytest.approx(want["weighted_tau_s_cls"], abs=tol)
    assert ev.weighted_tau(sc["s_en"], acc) == pytest.approx(want["weighted_tau_s_en"], abs=tol)
    assert ev.kendall_tau(sc["etran"], acc) == pytest.approx(want["kendall_tau_etran"], abs=tol)
    assert ev.pearson(sc["etran"], acc) == pytest.approx(want["pearson_etran"], abs=tol)
    assert ev.rel_at_k(sc["etran"], acc, 1) == want["rel_at_1_etran"]
    assert round(ev.weighted_tau(sc["etran"], acc), 3) == want["published_weighted_tau_etran"]


def test_ncti_cifar10_vector() -> None:
    t = TABLES["ncti_cifar10"]
    tol = 0.5 * 10 ** -t["expected_decimals"]
    got = ev.weighted_tau(t["scores"], t["finetune_acc"])
    assert got == pytest.approx(t["expected"]["weighted_tau"], abs=tol)
    assert round(got, 3) == t["expected"]["published_weighted_tau"]
