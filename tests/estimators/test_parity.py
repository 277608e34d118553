"""Parity with the original reference implementations, entry by entry from the test-vector manifest.

Expected numbers are never copied into this file: each case is read from
``tests/data/testvectors/manifest.json`` and its inputs from the ``.npz`` files beside it, and every
comparison uses the entry's own ``rtol`` / ``atol``.

Every entry runs with BLAS, OpenMP and torch limited to 1 and to 2 threads: thread counts change the
blocking of matrix products, hence the rounding, and a scorer must stay within the manifest tolerance
either way (the tolerances are 1e-6 relative or wider, ≥ 10⁹ ulp, while a change of blocking moves a
well-conditioned result by a few ulp times the ``condition_estimate`` of the entry, all small). The
order-invariant scorers are also run on a permuted sample order, which changes only the summation order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

import estimators
from estimators import evaluation

VECTORS = Path(__file__).resolve().parents[1] / "data" / "testvectors"
MANIFEST: list[dict[str, Any]] = json.loads((VECTORS / "manifest.json").read_text())

#: Scorers whose parity values are not order-invariant, so the permuted-order run skips them:
#: * nleep: the seeded k-means++ start of its mixture picks samples by index, so another sample order
#:   reaches another local optimum;
#: * parc (reference mode): its label RDM carries rounding noise (manifest note) that Spearman ranks apart;
#:   on a permuted order the noise falls on other pairs and the value moves by percents (3.7 % measured on
#:   wide.npz). The default exact mode is order-invariant and is tested for it in test_parc.py.
ORDER_DEPENDENT = {"nleep", "parc"}
#: Single entries whose reference value depends on rounding noise that the sample order moves:
#: * the NCTI components on small.npz (D = 36 < 64, with all-zero dead columns): the PCA keeps all 36
#:   components, the trailing ones span the null space and are pure rounding noise, and the reference's
#:   svd-solver LDA standardises that noise by its within-class spread (see estimators/ncti.py). The value
#:   reproduces across BLAS kernels and thread counts (checked above), but a permutation re-draws the noise
#:   and moves it by ~0.5 %.
NOISY_ORDER_ENTRIES = {("ncti_seli", "small.npz"), ("ncti_ncc", "small.npz"), ("ncti_vc", "small.npz")}
#: The parity variant of PARC: the manifest holds SFDA's dense-RDM value (the default mode is "exact").
PARITY_PARAMS: dict[str, dict[str, Any]] = {"parc": {"label_rdm": "reference"}}


@cache
def _npz(name: str) -> dict[str, np.ndarray]:
    with np.load(VECTORS / name) as z:
        return {k: z[k] for k in z.files}


@cache
def _permuted(name: str) -> dict[str, np.ndarray]:
    """The arrays of ``name`` with every per-sample array (axis 0 of length N: features, labels, source
    probabilities) reordered by one seeded permutation; per-dimension statistics and heads unchanged."""
    arrays = _npz(name)
    n = len(arrays["labels"])
    perm = np.random.default_rng(0).permutation(n)
    per_sample = {"labels", "source_probs", "source_probs_deadcol"} | {
        k for k in arrays if k == "features" or k.startswith("features__")
    }
    return {k: (v[perm] if k in per_sample else v) for k, v in arrays.items()}


def _case_id(i: int, e: dict[str, Any]) -> str:
    params = ",".join(f"{k}={v}" for k, v in sorted(e["params"].items()))
    model = f"[{e['model']}]" if e.get("model") else ""
    return f"{i:03d}-{e['scorer']}-{e['file'].removesuffix('.npz')}{model}-{params}"


def _close(got: float, want: float, e: dict[str, Any]) -> bool:
    return abs(got - want) <= (e["atol"] or 0.0) + (e["rtol"] or 0.0) * abs(want)


@pytest.fixture(params=[1, 2], ids=["threads1", "threads2"])
def threads(request: pytest.FixtureRequest) -> Iterator[int]:
    """Limit BLAS/OpenMP (threadpoolctl) and torch's intra-op pool to 1 or 2 threads, then restore."""
    n: int = request.param
    before = torch.get_num_threads()
    with threadpool_limits(limits=n):
        torch.set_num_threads(n)
        try:
            yield n
        finally:
            torch.set_num_threads(before)


def _check(entry: dict[str, Any], arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
    """Run one manifest entry on ``arrays`` and compare within the entry's tolerance."""
    inputs, expected = entry["inputs"], entry["expected"]
    params = {**entry["params"], **extra}

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
    if entry["scorer"] == "parc" and _label_rdm_is_exact(kwargs["labels"]):
        # This machine's BLAS computes SFDA's label RDM without rounding noise (OpenBLAS's pre-AVX2
        # kernels, e.g. OPENBLAS_CORETYPE=Sandybridge, do on every entry here), so the reference pipeline
        # itself gives the noise-free value, the one the exact mode computes, and not the manifest's number,
        # which holds the noise of the machine that made it (up to 7 % away on imagenet_head.npz). Both
        # modes then rank the same two-valued label RDM; only the feature RDM's rounding differs, ~1e-15.
        want = estimators.score("parc", **kwargs, **{**params, "label_rdm": "exact"})
        assert got == pytest.approx(want, rel=1e-9), (got, want)
        return
    assert _close(got, expected, entry), (got, expected)


def _label_rdm_is_exact(labels: np.ndarray) -> bool:
    """Whether SFDA's label RDM ``1 − corrcoef(onehot)`` comes out exactly two-valued on this machine.

    The same call as PARC's reference mode (single-threaded BLAS), on the same one-hot matrix.
    """
    codes = np.unique(labels, return_inverse=True)[1].reshape(-1)
    onehot = np.eye(int(codes.max()) + 1)[codes]
    with threadpool_limits(limits=1, user_api="blas"):
        rdm = 1 - np.asarray(np.corrcoef(onehot))
    return int(np.unique(rdm[np.triu_indices(len(codes), 1)]).size) <= 2


@pytest.mark.parity
@pytest.mark.parametrize("entry", MANIFEST, ids=[_case_id(i, e) for i, e in enumerate(MANIFEST)])
def test_reference_parity(entry: dict[str, Any], threads: int) -> None:
    _check(entry, _npz(entry["file"]), PARITY_PARAMS.get(entry["scorer"], {}))


PERMUTABLE = [
    (i, e)
    for i, e in enumerate(MANIFEST)
    if e["kind"] in ("model", "set")
    and e["scorer"] not in ORDER_DEPENDENT
    and (e["scorer"], e["file"]) not in NOISY_ORDER_ENTRIES
]


@pytest.mark.parity
@pytest.mark.parametrize("entry", [e for _, e in PERMUTABLE], ids=[_case_id(i, e) for i, e in PERMUTABLE])
def test_reference_parity_on_permuted_samples(entry: dict[str, Any]) -> None:
    """Order-invariant scorers give the reference value, within its tolerance, on any sample order.

    Every per-sample array (``(N, ...)`` along axis 0: features, labels, source probabilities) is permuted
    with one seeded permutation; per-dimension statistics (``source_mean`` / ``source_std``) are not.
    """
    _check(entry, _permuted(entry["file"]), {})


def test_manifest_covers_every_reference_scorer() -> None:
    """Every scorer named in the manifest is registered (or is an evaluation function)."""
    names = {e["scorer"] for e in MANIFEST if e["kind"] != "eval"}
    assert names <= set(estimators.list_scorers())
