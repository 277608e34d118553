"""Tests of the NCTI components and set scorer against an independent numpy/scipy derivation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.linalg

import estimators
from estimators.errors import DegenerateInputError, InvalidParameterError


def _posteriors(x: np.ndarray, y: np.ndarray, sw: np.ndarray) -> np.ndarray:
    """LDA posteriors softmax(x Σ⁻¹ μ_c − ½ μ_c Σ⁻¹ μ_c + log π_c) with shared covariance ``sw``."""
    c = y.max() + 1
    means = np.stack([x[y == k].mean(0) for k in range(c)])
    priors = np.bincount(y) / len(y)
    a = np.linalg.solve(sw, means.T)  # (D, C)
    logits = x @ a - 0.5 * np.sum(means.T * a, axis=0) + np.log(priors)
    logits -= logits.max(1, keepdims=True)
    p = np.exp(logits)
    out: np.ndarray = p / p.sum(1, keepdims=True)
    return out


def _components(x: np.ndarray, y: np.ndarray, low: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    low = low - low.mean(0)
    seli = np.linalg.svd(low, compute_uv=False).sum()
    ncc = p[np.arange(len(y)), y].mean()
    vc = math.log(sum(np.linalg.svd(p[y == k], compute_uv=False).sum() for k in range(y.max() + 1)))
    return float(seli), float(ncc), float(vc)


def _reference_svd_path(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Un-shrunk LDA, derived without scikit-learn. Valid when q = D (PCA is then a rotation, and LDA is
    affine invariant): whiten by the pooled within-class covariance (1/N), project on the whitened
    between-class subspace; the nuclear norm does not depend on the basis chosen for that subspace."""
    c = y.max() + 1
    xbar = x.mean(0)
    means = np.stack([x[y == k].mean(0) for k in range(c)])
    xc = x - means[y]
    sw = xc.T @ xc / len(y)
    evals, evecs = np.linalg.eigh(sw)
    w = evecs @ np.diag(evals**-0.5) @ evecs.T
    u, s, _ = np.linalg.svd(w @ (means - xbar).T, full_matrices=False)
    basis = u[:, : int(np.sum(s > 1e-10 * s[0]))]
    low = (x - xbar) @ w @ basis
    return _components(x, y, low, _posteriors(x, y, sw))


def _reference_eigen_path(x: np.ndarray, y: np.ndarray, shrinkage: float) -> tuple[float, float, float]:
    """Shrunk LDA: Σ_shrunk = (1−s)·S + s·tr(S)/D·I per class (biased covariances), Sb = St − Sw,
    projection on the top C−1 generalised eigenvectors. Orthogonally invariant, so valid when q = D."""
    c = y.max() + 1
    d = x.shape[1]

    def shrunk(z: np.ndarray) -> np.ndarray:
        cov = np.cov(z.T, bias=True).reshape(d, d)
        out: np.ndarray = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / d * np.eye(d)
        return out

    priors = np.bincount(y) / len(y)
    sw = sum(priors[k] * shrunk(x[y == k]) for k in range(c))
    sb = shrunk(x) - sw
    evals, evecs = scipy.linalg.eigh(sb, sw)
    low = x @ evecs[:, np.argsort(evals)[::-1][: c - 1]]
    return _components(x, y, low, _posteriors(x, y, sw))


def _clustered(
    seed: int, n_per: list[int], d: int, spread: float, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(len(n_per)), n_per))
    means = rng.standard_normal((len(n_per), d)) * spread
    mix = rng.standard_normal((d, d)) / math.sqrt(d) + np.eye(d)  # correlated, anisotropic noise
    return means[y] + noise * rng.standard_normal((len(y), d)) @ mix, y


def _all(x: np.ndarray, y: np.ndarray, **params: Any) -> tuple[float, float, float, dict[str, Any]]:
    seli = estimators.score_details("ncti_seli", features=x, labels=y, **params)
    ncc = estimators.score("ncti_ncc", features=x, labels=y, **params)
    vc = estimators.score("ncti_vc", features=x, labels=y, **params)
    return seli.value, ncc, vc, dict(seli.info)


@pytest.mark.parametrize(("seed", "sizes", "d"), [(0, [30, 40, 25], 6), (1, [50, 60], 3), (2, [20] * 5, 12)])
def test_svd_path_matches_independent_derivation(seed: int, sizes: list[int], d: int) -> None:
    x, y = _clustered(seed, sizes, d, spread=4.0, noise=3.0)
    seli, ncc, vc, info = _all(x, y)
    assert info["lda_solver"] == "svd"
    assert info["pca_dims"] == d  # canonical guard min(64, D, N)
    want = _reference_svd_path(x, y)
    assert (seli, ncc, vc) == pytest.approx(want, rel=1e-8)


@pytest.mark.parametrize(("seed", "sizes", "d"), [(3, [30, 40, 25], 6), (4, [50, 60], 3), (5, [20] * 5, 10)])
def test_eigen_path_matches_independent_derivation(seed: int, sizes: list[int], d: int) -> None:
    x, y = _clustered(seed, sizes, d, spread=0.4, noise=0.3)  # small variance -> shrinkage above the floor
    seli, ncc, vc, info = _all(x, y)
    assert info["lda_solver"] == "eigen"
    top = np.sort(np.linalg.eigvalsh(np.cov(x.T)))[::-1][:32].sum()
    assert info["shrinkage"] == pytest.approx(math.exp(-top), rel=1e-10)
    want = _reference_eigen_path(x, y, info["shrinkage"])
    assert (seli, ncc, vc) == pytest.approx(want, rel=1e-7)


def test_svd_path_is_affine_invariant() -> None:
    x, y = _clustered(6, [40, 30, 35], 5, spread=4.0, noise=3.0)
    a = np.random.default_rng(7).standard_normal((5, 5)) + 3 * np.eye(5)
    base = _all(x, y)[:3]
    moved = _all(x @ a + 100.0, y)[:3]
    assert moved == pytest.approx(base, rel=1e-7)


def test_pca_dims_guard_and_parameter() -> None:
    x, y = _clustered(8, [20, 25], 30, spread=4.0, noise=3.0)
    assert _all(x, y)[3]["pca_dims"] == 30  # D < 64
    assert _all(x[:, :30][:18], y[:18])[3]["pca_dims"] == 18  # N < D
    assert _all(x, y, pca_dims=4)[3]["pca_dims"] == 4
    with pytest.raises(InvalidParameterError):
        estimators.score("ncti_ncc", features=x, labels=y, pca_dims=0)


def test_ncc_is_one_and_vc_small_for_collapsed_classes() -> None:
    """Near neural collapse: tiny within-class noise around distinct means gives ncc → 1 and each class
    block of posteriors rank one (‖P_c‖_* = √n_c), so vc → log Σ √n_c."""
    x, y = _clustered(9, [10, 20, 30], 4, spread=10.0, noise=1e-3)
    _, ncc, vc, _ = _all(x, y)
    assert ncc == pytest.approx(1.0, abs=1e-9)
    assert vc == pytest.approx(math.log(math.sqrt(10) + math.sqrt(20) + math.sqrt(30)), abs=1e-9)


@pytest.mark.parametrize(
    ("features", "labels", "match"),
    [
        (np.zeros((12, 5)), np.repeat([0, 1], 6), "constant"),
        (np.full((12, 5), 1e30), np.repeat([0, 1], 6), "constant"),
        (
            np.repeat(np.random.default_rng(0).standard_normal((1, 5)), 12, axis=0),
            np.repeat([0, 1], 6),
            "constant",
        ),
        (np.random.default_rng(1).standard_normal((3, 4)), [0, 1, 2], "more samples than classes"),
        (np.repeat(np.eye(3), 4, axis=0), np.repeat([0, 1, 2], 4), "single point"),
        (np.array([[-1.0], [1.0], [-2.0], [2.0]]), [0, 0, 1, 1], "class means coincide"),
    ],
)
def test_degenerate_inputs_raise_typed_errors(features: np.ndarray, labels: Any, match: str) -> None:
    for name in ("ncti_seli", "ncti_ncc", "ncti_vc"):
        with pytest.raises(DegenerateInputError, match=match):
            estimators.score(name, features=features, labels=labels)


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e-30, 1e-6, 1e6, 1e30, 1e200, 1e300])
def test_extreme_scales_are_finite(scale: float) -> None:
    x, y = _clustered(10, [15, 12, 9], 200, spread=2.0, noise=1.0)  # D > N as well
    seli, ncc, vc, _ = _all(x * scale, y)
    assert all(math.isfinite(v) for v in (seli, ncc, vc))
    assert 0.0 < ncc <= 1.0


@pytest.mark.parametrize("scale", [1e-250, 1e-120, 1e120, 1e250])
def test_rescaling_beyond_1e100_matches_the_unscaled_path(scale: float) -> None:
    """Both LDA paths reached at such scales are scale invariant, so the power-of-two rescale that keeps
    the covariances finite must reproduce the value at a safe scale on the same side."""
    x, y = _clustered(13, [12, 15, 10], 6, spread=2.0, noise=1.0)
    near = 1e-90 if scale < 1 else 1e90
    got, want = _all(x * scale, y), _all(x * near, y)
    assert got[3]["lda_solver"] == want[3]["lda_solver"] == ("eigen" if scale < 1 else "svd")
    assert got[:3] == pytest.approx(want[:3], rel=1e-9)


def test_set_scorer_combines_minmax_components() -> None:
    y = np.repeat(np.arange(3), [30, 25, 35])
    rng = np.random.default_rng(11)
    cands = {}
    for i, (spread, noise, d) in enumerate([(4.0, 3.0, 6), (1.0, 3.0, 8), (6.0, 1.0, 5), (0.3, 0.3, 4)]):
        means = rng.standard_normal((3, d)) * spread
        cands[f"m{i}"] = {"features": means[y] + noise * rng.standard_normal((len(y), d))}
    out = estimators.score_set("ncti", candidates=cands, labels=y)
    comps = {m: _all(c["features"], y)[:3] for m, c in cands.items()}

    def mm(i: int) -> dict[str, float]:
        vals = {m: v[i] for m, v in comps.items()}
        lo, hi = min(vals.values()), max(vals.values())
        return {m: (v - lo) / (hi - lo) for m, v in vals.items()}

    seli, ncc, vc = mm(0), mm(1), mm(2)
    for m in cands:
        assert out[m] == pytest.approx(ncc[m] + seli[m] - vc[m], abs=1e-12)
        assert -1.0 <= out[m] <= 2.0
    # a single candidate: every component scales to 0
    assert estimators.score_set("ncti", candidates={"only": cands["m0"]}, labels=y) == {"only": 0.0}


def test_set_scorer_names_the_failing_candidate() -> None:
    y = np.repeat([0, 1], 10)
    good = np.random.default_rng(12).standard_normal((20, 4)) + y[:, None]
    with pytest.raises(DegenerateInputError, match="'bad'"):
        estimators.score_set(
            "ncti", candidates={"good": {"features": good}, "bad": {"features": np.ones((20, 4))}}, labels=y
        )
