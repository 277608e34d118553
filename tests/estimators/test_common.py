"""Checks every registered scorer must pass (scikit-learn's common-checks idea).

Totality: on any well-formed input a scorer returns a finite float or raises a typed zoorank error, never
NaN/inf and never a raw numpy / torch / scikit-learn exception. Metamorphic: sample order, class ids and
repetition do not change the score; float32 and float64 inputs agree.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings

import estimators
from estimators.errors import DegenerateInputError, NumericalError
from tests.estimators.strategies import kwargs_for, scoring_inputs, well_posed_inputs

MODEL_SCORERS = estimators.list_scorers("model")
#: Scorers that refit a model per call (probe_cv: nested cross-validated logistic regressions): their
#: hypothesis invariance tests take minutes, so ``make test-fast`` leaves them out (``make test`` runs them).
_REFITTING = {"probe_cv"}
MODEL_SCORERS_MARKED = [
    pytest.param(n, marks=pytest.mark.slow) if n in _REFITTING else n for n in MODEL_SCORERS
]
SET_SCORERS = estimators.list_scorers("set")

TOTALITY = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
METAMORPHIC = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

# A typed NumericalError is fine when the maths itself breaks down (singular systems, overflow); one that
# wraps a generic library error means a scorer bug that the boundary merely hid, and fails the test.
_MATHS_CAUSES = (
    ArithmeticError,
    np.linalg.LinAlgError,
    getattr(torch.linalg, "LinAlgError", ArithmeticError),
)


def _accept_typed(exc: Exception) -> None:
    if isinstance(exc, DegenerateInputError):
        return
    if isinstance(exc, NumericalError) and (
        exc.__cause__ is None or isinstance(exc.__cause__, _MATHS_CAUSES)
    ):
        return
    raise exc


@pytest.mark.property
@pytest.mark.parametrize("name", MODEL_SCORERS)
@TOTALITY
@given(inputs=scoring_inputs())
def test_model_scorer_is_total(name: str, inputs: dict[str, Any]) -> None:
    spec = estimators.get_scorer(name)
    kwargs = kwargs_for(spec, inputs)
    before = {k: np.array(v, copy=True) for k, v in kwargs.items()}
    try:
        value = estimators.score(name, **kwargs)
    except Exception as exc:
        _accept_typed(exc)
    else:
        assert isinstance(value, float) and math.isfinite(value)
    for k, v in kwargs.items():  # inputs are never mutated
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.property
@pytest.mark.parametrize("name", SET_SCORERS)
@TOTALITY
@given(a=scoring_inputs(), b=scoring_inputs())
def test_set_scorer_is_total(name: str, a: dict[str, Any], b: dict[str, Any]) -> None:
    n = min(len(a["labels"]), len(b["labels"]))
    labels = a["labels"][:n]
    candidates = {"a": {"features": a["features"][:n]}, "b": {"features": b["features"][:n]}}
    try:
        out = estimators.score_set(name, candidates=candidates, labels=labels)
    except Exception as exc:
        _accept_typed(exc)
    else:
        assert set(out) == {"a", "b"}
        assert all(isinstance(v, float) and math.isfinite(v) for v in out.values())


def _score_or_none(name: str, kwargs: dict[str, Any]) -> float | None:
    try:
        return estimators.score(name, **kwargs, **METAMORPHIC_PARAMS.get(name, {}))
    except (DegenerateInputError, NumericalError):
        return None


# Scorers whose result legitimately depends on sample order: a seeded k-means++ / GMM initialisation picks
# samples by index (NLEEP), so a permutation changes the local optimum found.
ORDER_DEPENDENT = {"nleep"}
# Parameters for the metamorphic checks (none needed since PARC's default became its exact mode).
METAMORPHIC_PARAMS: dict[str, dict[str, Any]] = {}


@pytest.mark.property
@pytest.mark.parametrize("name", MODEL_SCORERS_MARKED)
@METAMORPHIC
@given(inputs=well_posed_inputs())
def test_permutation_invariance(name: str, inputs: dict[str, Any]) -> None:
    if name in ORDER_DEPENDENT:
        pytest.skip("order-dependent by construction (seeded sample-based initialisation)")
    spec = estimators.get_scorer(name)
    kwargs = kwargs_for(spec, inputs)
    perm = np.random.default_rng(0).permutation(len(inputs["labels"]))
    permuted = {k: (v[perm] if k in ("features", "labels", "source_probs") else v) for k, v in kwargs.items()}
    a, b = _score_or_none(name, kwargs), _score_or_none(name, permuted)
    assert (a is None) == (b is None)
    if a is not None and b is not None:
        assert b == pytest.approx(a, rel=1e-6, abs=1e-9)


@pytest.mark.property
@pytest.mark.parametrize("name", MODEL_SCORERS_MARKED)
@METAMORPHIC
@given(inputs=well_posed_inputs())
def test_relabelling_invariance(name: str, inputs: dict[str, Any]) -> None:
    spec = estimators.get_scorer(name)
    kwargs = kwargs_for(spec, inputs)
    y = kwargs["labels"]
    c = int(y.max()) + 1
    new_ids = np.random.default_rng(1).permutation(np.arange(c) * 13 + 5)
    relabelled = {**kwargs, "labels": new_ids[y]}
    a, b = _score_or_none(name, kwargs), _score_or_none(name, relabelled)
    assert (a is None) == (b is None)
    if a is not None and b is not None:
        assert b == pytest.approx(a, rel=1e-6, abs=1e-9)


@pytest.mark.property
@pytest.mark.parametrize("name", MODEL_SCORERS_MARKED)
@METAMORPHIC
@given(inputs=well_posed_inputs())
def test_repeatable_bit_for_bit(name: str, inputs: dict[str, Any]) -> None:
    kwargs = kwargs_for(estimators.get_scorer(name), inputs)
    a, b = _score_or_none(name, kwargs), _score_or_none(name, kwargs)
    assert a == b


@pytest.mark.property
@pytest.mark.parametrize("name", MODEL_SCORERS_MARKED)
@METAMORPHIC
@given(inputs=well_posed_inputs())
def test_float32_matches_float64(name: str, inputs: dict[str, Any]) -> None:
    kwargs = kwargs_for(estimators.get_scorer(name), inputs)
    f32 = {k: (v.astype(np.float32) if k in ("features", "source_probs") else v) for k, v in kwargs.items()}
    if "source_probs" in f32:
        f32["source_probs"] = f32["source_probs"] / f32["source_probs"].sum(axis=1, keepdims=True)
    f64 = kwargs
    a, b = _score_or_none(name, f64), _score_or_none(name, f32)
    assert (a is None) == (b is None)
    if a is not None and b is not None:
        assert b == pytest.approx(a, rel=1e-4, abs=1e-8)


@pytest.mark.parametrize("name", MODEL_SCORERS)
def test_torch_input_matches_numpy(name: str) -> None:
    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(3), 12)
    feats = rng.standard_normal((36, 5)) + labels[:, None]
    logits = feats @ rng.standard_normal((5, 6))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    inputs = {
        "features": feats,
        "labels": labels,
        "source_probs": probs,
        "source_mean": feats.mean(0),
        "source_std": feats.std(0) + 0.1,
    }
    kwargs = kwargs_for(estimators.get_scorer(name), inputs)
    as_torch = {k: torch.from_numpy(np.array(v)) for k, v in kwargs.items()}
    assert estimators.score(name, **as_torch) == pytest.approx(estimators.score(name, **kwargs), rel=1e-12)


# --- orientation -------------------------------------------------------------------------------------------

#: Scorers that cannot be oriented by a shuffled-label case, each with what the test asserts instead:
#: * etran_energy reads no labels (the energy of the features alone), so both cases score the same;
#: * tmi estimates the class-conditional entropy H(X|Y) of the features and reports it higher-is-better, as
#:   published (more intra-class spread = more room for fine-tuning). H(X|Y) ≤ H(X), with equality when the
#:   labels carry no information about the features, so shuffled labels maximise it: TMI ranks the shuffled
#:   case first by construction. This is a property of the published measure, kept and documented.
ORIENTATION_EXCEPTIONS = {"etran_energy", "tmi"}


def _orientation_case() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Inputs where the labels are predictable from everything a scorer reads, and a shuffled copy.

    Four classes of 50 samples in D = 64 (N > D, so no scorer is in its saturated D ≥ N regime): features
    are well separated class centres plus unit noise; the source head puts most of its mass on source class
    2·y (of 8); the source statistics describe a wider, shifted source domain (PED). The shuffled labels are
    a seeded permutation of the same labels (same class sizes), independent of every input.

    D = 64 also matters for ncti_vc (lower = more collapsed = better): with few dimensions the LDA fitted to
    shuffled labels is near-uniform, whose posterior blocks have small nuclear norms too; at a realistic
    width it over-fits the shuffled labels confidently and spreads each class over several predicted
    classes, which is what VC penalises (NCTI pairs it with NCC for that reason).
    """
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 50)
    features = rng.standard_normal((4, 64))[labels] * 3 + rng.standard_normal((200, 64))
    logits = 4.0 * np.eye(8)[2 * labels] + rng.standard_normal((200, 8))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    inputs = {
        "features": features,
        "source_probs": probs,
        "source_mean": features.mean(axis=0) + 1.0,
        "source_std": 2.0 * features.std(axis=0),
    }
    return inputs, labels, rng.permutation(labels)


def _oriented(name: str, value: float) -> float:
    """The score turned so that larger is better, by the scorer's own metadata."""
    return value if estimators.get_scorer(name).higher_is_better else -value


@pytest.mark.unit
@pytest.mark.parametrize("name", MODEL_SCORERS)
def test_orientation_separable_beats_shuffled_labels(name: str) -> None:
    """Oriented by ``higher_is_better``, every model scorer prefers labels that the inputs predict."""
    inputs, labels, shuffled = _orientation_case()
    spec = estimators.get_scorer(name)
    kwargs = {k: v for k, v in kwargs_for(spec, inputs).items() if k != "labels"}
    good = estimators.score(name, labels=labels, **kwargs)
    poor = estimators.score(name, labels=shuffled, **kwargs)
    if name == "etran_energy":
        assert "labels" not in spec.needs and good == poor
    elif name == "tmi":
        assert spec.higher_is_better and good < poor  # H(X|Y) grows as Y says less about X (see above)
    else:
        assert name not in ORIENTATION_EXCEPTIONS
        assert _oriented(name, good) > _oriented(name, poor), (good, poor)


@pytest.mark.unit
@pytest.mark.parametrize("name", SET_SCORERS)
def test_set_orientation_aligned_candidate_wins(name: str) -> None:
    """A set scorer ranks the candidate whose features predict the labels above one whose rows were
    shuffled (the same feature values, unrelated to the labels)."""
    inputs, labels, _ = _orientation_case()
    shuffled_rows = inputs["features"][np.random.default_rng(1).permutation(len(labels))]
    out = estimators.score_set(
        name,
        candidates={"aligned": {"features": inputs["features"]}, "shuffled": {"features": shuffled_rows}},
        labels=labels,
    )
    assert _oriented(name, out["aligned"]) > _oriented(name, out["shuffled"]), out


#: Scorers published with "higher is better", each checked against its paper's convention.
PUBLISHED_HIGHER = [
    *("logme", "leep", "nce", "hscore", "hscore_shrinkage", "transrate", "sfda", "nleep", "parc", "ped"),
    *("gbc", "etran_energy", "etran_lda", "etran", "ncti_seli", "ncti_ncc", "ncti", "tmi"),
    *("ens_eep", "mean_leep"),
]


@pytest.mark.unit
def test_orientation_metadata_is_published() -> None:
    """``higher_is_better`` is on every spec and in its JSON metadata; ncti_vc (published as lower =
    better, kept un-negated for the set-level NCTI) is the one lower-is-better component here."""
    assert estimators.get_scorer("ncti_vc").higher_is_better is False
    assert all(estimators.get_scorer(n).higher_is_better for n in PUBLISHED_HIGHER)
    for n in estimators.list_scorers():
        spec = estimators.get_scorer(n)
        assert spec.to_dict()["higher_is_better"] is spec.higher_is_better
