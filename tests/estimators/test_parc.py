"""PARC: the rank-biserial Spearman against scipy, the default exact mode against an independent dense
computation (also on the test-vector inputs), subsampling, chunking and the degenerate cases. The
reference mode's parity with the test vectors is checked in test_parity.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

import estimators
from estimators import parc as parc_module
from estimators.errors import DegenerateInputError
from estimators.parc import _rank_biserial_spearman, stratified_subsample

VECTORS = Path(__file__).resolve().parents[1] / "data" / "testvectors"


def _parc_dense(features: np.ndarray, labels: np.ndarray, pca_dims: int = 32) -> float:
    """The reference pipeline with the label RDM taken as exactly two-valued (no rounding noise)."""
    x = features.astype(np.float64)
    if pca_dims <= x.shape[1]:
        k = min(pca_dims, len(labels))  # the reference raises when N < 32 ≤ D; zoorank keeps N components
        x = PCA(n_components=k, svd_solver="randomized", random_state=1919, iterated_power=1).fit_transform(x)
    x = StandardScaler().fit_transform(x)
    iu = np.triu_indices(len(labels), 1)
    rdm_f = (1 - np.corrcoef(x))[iu]
    cross = (labels[iu[0]] != labels[iu[1]]).astype(float)
    return float(spearmanr(rdm_f, cross)[0] * 100)


def _manifest(scorer: str) -> list[dict[str, Any]]:
    entries = json.loads((VECTORS / "manifest.json").read_text())
    return [e for e in entries if e["scorer"] == scorer]


@pytest.mark.property
@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n0=st.integers(1, 60),
    n1=st.integers(1, 60),
    levels=st.sampled_from([2, 5, 1000, 0]),
)
def test_rank_biserial_matches_scipy(seed: int, n0: int, n1: int, levels: int) -> None:
    """Closed form vs ``spearmanr`` on a 0/1 indicator, with heavy ties (few levels) and none (0)."""
    rng = np.random.default_rng(seed)
    same = rng.integers(0, levels, n0).astype(float) if levels else rng.standard_normal(n0)
    cross = (
        rng.integers(0, levels, n1).astype(float) + 0.5 * rng.integers(0, 2)
        if levels
        else rng.standard_normal(n1)
    )
    values = np.concatenate([same, cross])
    if np.all(values == values[0]):
        with pytest.raises(DegenerateInputError):
            _rank_biserial_spearman(same.copy(), cross.copy())
        return
    want = spearmanr(values, np.r_[np.zeros(n0), np.ones(n1)])[0]
    assert _rank_biserial_spearman(same.copy(), cross.copy()) == pytest.approx(want, rel=1e-10, abs=1e-13)


@pytest.mark.unit
@pytest.mark.parametrize(("n", "d", "c"), [(90, 50, 3), (60, 8, 5), (40, 3, 2), (25, 200, 6)])
def test_matches_dense_two_valued_computation(n: int, d: int, c: int) -> None:
    rng = np.random.default_rng(n + d)
    labels = np.concatenate([np.arange(c), rng.integers(0, c, n - c)])
    features = rng.standard_normal((n, d)) + rng.standard_normal((c, d))[labels]
    got = estimators.score("parc", label_rdm="exact", features=features, labels=labels)
    assert got == pytest.approx(_parc_dense(features, labels), rel=1e-9)


@pytest.mark.unit
def test_exact_ties_are_ranked_as_ties() -> None:
    """With 2 feature dimensions every correlation is exactly ±1; rounding must not split those ties."""
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 3, 50)
    features = rng.standard_normal((50, 2)) + labels[:, None] * np.array([[1.0, -1.0]])
    z = StandardScaler().fit_transform(features)
    rdm_f = np.where((z[:, :1] > z[:, 1:]) == (z[:, :1] > z[:, 1:]).T, 0.0, 2.0)  # same sign of z0 − z1
    iu = np.triu_indices(50, 1)
    want = spearmanr(rdm_f[iu], labels[iu[0]] != labels[iu[1]])[0] * 100
    assert estimators.score("parc", label_rdm="exact", features=features, labels=labels) == pytest.approx(
        want, rel=1e-12
    )


@pytest.mark.unit
def test_chunked_and_float32_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 120)
    features = rng.standard_normal((120, 10)) + labels[:, None] * 0.3
    features[:10] = features[10:20]  # duplicated samples: exact ties in the dissimilarities
    want = estimators.score("parc", label_rdm="exact", features=features, labels=labels)
    monkeypatch.setattr(parc_module, "_BLOCK_ELEMENTS", 7 * 120)  # 7 rows per block
    monkeypatch.setattr(parc_module, "_RUN_CHUNK", 5)  # tie runs straddle chunk boundaries
    assert estimators.score("parc", label_rdm="exact", features=features, labels=labels) == pytest.approx(
        want, rel=1e-12
    )
    monkeypatch.setattr(parc_module, "_FLOAT64_MAX_PAIRS", 10)  # float32 storage
    assert estimators.score("parc", label_rdm="exact", features=features, labels=labels) == pytest.approx(
        want, rel=1e-5
    )


@pytest.mark.unit
@pytest.mark.parametrize(
    "entry",
    _manifest("parc"),
    ids=lambda e: e["file"].removesuffix(".npz") + (f"-{e['model']}" if e.get("model") else ""),
)
def test_default_exact_mode_on_the_test_vectors(entry: dict[str, Any]) -> None:
    """The default (exact) mode on the test-vector inputs equals the noise-free dense computation and,
    where N ≥ D, does not move when the samples are permuted.

    The manifest's number is the reference's noisy value (see test_parity.py for that comparison); the
    noise-free value is ``_parc_dense``: the same PCA, standardisation and feature RDM, with the label RDM
    taken as the exactly two-valued matrix it is mathematically. Both rank the same two-valued variable
    against feature dissimilarities that differ only by rounding (~1e-15 relative), hence rel 1e-9.
    """
    with np.load(VECTORS / entry["file"]) as z:
        features, labels = (z[entry["inputs"][k]] for k in ("features", "labels"))
    got = estimators.score("parc", features=features, labels=labels, **entry["params"])
    assert got == pytest.approx(_parc_dense(features, labels, **entry["params"]), rel=1e-9)
    if features.shape[0] < features.shape[1]:
        return  # wide: the reference's randomized PCA draws its projection over samples (order matters)
    perm = np.random.default_rng(2).permutation(len(labels))
    # A permutation changes only the order of sums and of the sort: equal up to rounding.
    assert estimators.score(
        "parc", features=features[perm], labels=labels[perm], **entry["params"]
    ) == pytest.approx(got, rel=1e-12)


@pytest.mark.unit
def test_more_separable_features_score_higher() -> None:
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(4), 25)
    centres = rng.standard_normal((4, 20))
    tight = centres[labels] + 0.3 * rng.standard_normal((100, 20))
    loose = centres[labels] + 3.0 * rng.standard_normal((100, 20))
    assert estimators.score("parc", label_rdm="exact", features=tight, labels=labels) > estimators.score(
        "parc", label_rdm="exact", features=loose, labels=labels
    )


@pytest.mark.unit
def test_subsample_is_applied_above_max_samples() -> None:
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(3), [100, 60, 2])
    features = rng.standard_normal((162, 6)) + labels[:, None]
    details = estimators.score_details(
        "parc", label_rdm="exact", features=features, labels=labels, max_samples=50
    )
    assert details.info == {"samples": 50, "subsampled": True, "dims": 6}
    keep = stratified_subsample(np.unique(labels, return_inverse=True)[1], 50, 0)
    assert details.value == pytest.approx(_parc_dense(features[keep], labels[keep]), rel=1e-9)
    other_seed = estimators.score(
        "parc", label_rdm="exact", features=features, labels=labels, max_samples=50, random_state=1
    )
    assert other_seed != details.value
    full = estimators.score_details("parc", features=features, labels=labels)
    assert full.info["subsampled"] is False and full.info["samples"] == 162


@pytest.mark.unit
def test_max_samples_below_the_class_count_is_degenerate() -> None:
    labels = np.repeat(np.arange(5), 4)
    features = np.random.default_rng(9).standard_normal((20, 6))
    with pytest.raises(DegenerateInputError, match="max_samples"):
        estimators.score("parc", label_rdm="exact", features=features, labels=labels, max_samples=4)
    assert np.isfinite(
        estimators.score("parc", label_rdm="exact", features=features, labels=labels, max_samples=10)
    )


@pytest.mark.unit
def test_stratified_subsample_keeps_proportions_and_every_class() -> None:
    codes = np.repeat(np.arange(4), [500, 300, 199, 1])
    keep = stratified_subsample(codes, 100, 0)
    assert keep.size == 100 and np.all(np.diff(keep) > 0)
    assert np.bincount(codes[keep]).tolist() == [50, 30, 19, 1]
    np.testing.assert_array_equal(keep, stratified_subsample(codes, 100, 0))
    assert not np.array_equal(keep, stratified_subsample(codes, 100, 1))


@pytest.mark.unit
@pytest.mark.parametrize(
    ("features", "labels", "match"),
    [
        (np.arange(10.0)[:, None], np.repeat([0, 1], 5), "at least 2"),  # one dimension
        (np.random.default_rng(5).standard_normal((4, 5)), np.arange(4), "same-class pair"),
        (np.ones((10, 5)), np.repeat([0, 1], 5), "same value in every"),
    ],
)
def test_degenerate_inputs(features: np.ndarray, labels: np.ndarray, match: str) -> None:
    with pytest.raises(DegenerateInputError, match=match):
        estimators.score("parc", label_rdm="exact", features=features, labels=labels)
