"""Public entry points: discover scorers and run them behind the validation gate and output contract."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from estimators._data import ScoringData, check_scoring_inputs
from estimators._params import check_params
from estimators._registry import INPUT_NAMES, PROGRESS_PARAM, SCORERS, ScorerKind, ScorerSpec
from estimators.baselines import BaselineInputs
from estimators.errors import (
    InvalidInputError,
    InvalidParameterError,
    NonFiniteScoreError,
    NotApplicableError,
    NumericalError,
    ZoorankError,
)

R = TypeVar("R")
# torch.linalg.LinAlgError is a RuntimeError subclass not exported in torch's type stubs.
_TORCH_LINALG_ERROR: type[Exception] = getattr(torch.linalg, "LinAlgError", RuntimeError)


#: ``ScoreResult.info`` key of a scorer whose score is the mean of per-sample terms: the ``(N,)`` terms in
#: the caller's sample order (``probe_cv``: out-of-fold correctness). A resample of the samples then
#: rescores the model without refitting anything.
PER_SAMPLE = "per_sample"


@dataclass(frozen=True)
class ScoreResult:
    """A score with the evidence behind it.

    Attributes:
        value: the finite score (higher is better).
        info: scorer-specific diagnostics (e.g. PED's accepted steps, SFDA's shrinkage, fallbacks taken).
    """

    value: float
    info: Mapping[str, Any] = field(default_factory=dict)


def list_scorers(kind: ScorerKind | None = None) -> list[str]:
    """Sorted names of the registered scorers, optionally of one kind (``model``, ``set``, ``ensemble``)."""
    return [n for n in SCORERS.names() if kind is None or SCORERS.get(n).kind == kind]


def get_scorer(name: str) -> ScorerSpec:
    """Metadata of scorer ``name``; raises :class:`UnknownScorerError` listing the valid names."""
    return SCORERS.get(name)


def _spec_of_kind(name: str, kind: ScorerKind, entry: str) -> ScorerSpec:
    spec = SCORERS.get(name)
    if spec.kind != kind:
        hint = {
            "model": "score",
            "set": "score_set",
            "ensemble": "score_ensemble",
            "baseline": "score_baseline",
        }[spec.kind]
        raise InvalidParameterError(
            f"{name!r} is a {spec.kind!r} scorer; call estimators.{hint}() instead of {entry}()", param="name"
        )
    return spec


def _run_guarded(spec: ScorerSpec, call: Callable[[], R]) -> R:
    """Run ``call`` translating stray library exceptions into :class:`NumericalError`.

    Expected failures are raised as typed errors by the scorers themselves; this is the boundary that keeps
    numpy/torch/scikit-learn exceptions from leaking to callers (httpx's ``map_exceptions`` idea).
    """
    try:
        with np.errstate(all="ignore"):
            return call()
    except ZoorankError:
        raise
    except (ArithmeticError, np.linalg.LinAlgError, _TORCH_LINALG_ERROR, ValueError, RuntimeError) as exc:
        raise NumericalError(
            f"{spec.name!r} failed numerically on these inputs: {type(exc).__name__}: {exc}",
            scorer=spec.name,
        ) from exc


def _finite(spec: ScorerSpec, value: Any, what: str = "") -> float:
    out = float(value)
    if not math.isfinite(out):
        raise NonFiniteScoreError(
            f"{spec.name!r} produced a non-finite value ({out}){what}; the inputs are degenerate for it",
            scorer=spec.name,
        )
    return out


def _prepare(spec: ScorerSpec, params: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    merged = check_params(spec.name, params, dict(spec.defaults), dict(spec.constraints))
    dtype = merged.get("dtype") if "dtype" in spec.defaults else None
    return merged, dtype


def score_details(
    name: str,
    *,
    labels: Any = None,
    features: Any = None,
    source_probs: Any = None,
    source_mean: Any = None,
    source_std: Any = None,
    progress: Any = None,
    **params: Any,
) -> ScoreResult:
    """Like :func:`score` but returns the :class:`ScoreResult` with the scorer's diagnostics.

    ``progress``, a ``Callable[[int, int], None]``, is called as ``progress(done, total)`` after each step
    of a scorer that reports them (:attr:`ScorerSpec.reports_progress`: ``probe_cv`` per fold); other
    scorers ignore it. It does not change the result. (Typed ``Any`` like the arrays, so that callers may
    pass a mapping of arrays with ``**``.)

    Raises:
        InvalidParameterError: ``progress`` is neither None nor callable.
    """
    spec = _spec_of_kind(name, "model", "score")
    merged, dtype = _prepare(spec, params)
    if progress is not None and not callable(progress):
        raise InvalidParameterError(
            f"progress must be a callable (done, total), got {type(progress).__name__}", param=PROGRESS_PARAM
        )
    if progress is not None and spec.reports_progress:
        merged = {**merged, PROGRESS_PARAM: progress}
    data = check_scoring_inputs(
        spec,
        labels=labels,
        features=features,
        source_probs=source_probs,
        source_mean=source_mean,
        source_std=source_std,
        dtype=dtype,
    )
    raw = _run_guarded(spec, lambda: spec.fn(data, **merged))
    if isinstance(raw, ScoreResult):
        return ScoreResult(_finite(spec, raw.value), dict(raw.info))
    return ScoreResult(_finite(spec, raw), {})


def score(
    name: str,
    *,
    labels: Any = None,
    features: Any = None,
    source_probs: Any = None,
    source_mean: Any = None,
    source_std: Any = None,
    **params: Any,
) -> float:
    """Score one model for a labelled target set with the per-model scorer ``name``.

    Args:
        name: a ``model``-kind scorer (see :func:`list_scorers`).
        labels: ``(N,)`` target class ids (any ids; re-encoded internally), or ``(N, K)`` float targets for
            ``logme``. May be omitted for scorers that do not need labels (``etran_energy``).
        features: ``(N, D)`` penultimate features (numpy or torch; float32 or float64).
        source_probs: ``(N, C_s)`` source-head softmax probabilities (LEEP, NCE).
        source_mean, source_std: ``(D,)`` source-data feature statistics (PED).
        **params: scorer parameters (see ``get_scorer(name).defaults``).

    Returns:
        A finite float; higher means the model is predicted to transfer better.

    Raises:
        UnknownScorerError, InvalidInputError, InvalidParameterError, DegenerateInputError, NumericalError.
    """
    return score_details(
        name,
        labels=labels,
        features=features,
        source_probs=source_probs,
        source_mean=source_mean,
        source_std=source_std,
        **params,
    ).value


def _check_group(
    spec: ScorerSpec, group: Mapping[str, Mapping[str, Any]], labels: Any, what: str, dtype: str | None
) -> dict[str, ScoringData]:
    if not isinstance(group, Mapping) or len(group) == 0:
        raise InvalidInputError(f"{spec.name!r} needs a non-empty mapping of {what}", param=what)
    out: dict[str, ScoringData] = {}
    for key, arrays in group.items():
        if not isinstance(arrays, Mapping):
            raise InvalidInputError(f"{what}[{key!r}] must be a mapping of input name -> array", param=what)
        extra = set(arrays) - (set(INPUT_NAMES) - {"labels"})
        if extra:
            raise InvalidInputError(f"{what}[{key!r}] has unknown inputs {sorted(extra)}", param=what)
        try:
            out[str(key)] = check_scoring_inputs(spec, labels=labels, dtype=dtype, **arrays)
        except ZoorankError as exc:
            exc.message = f"{what}[{key!r}]: {exc.message}"
            exc.args = (exc.message,)
            raise
    return out


def score_set(
    name: str, *, candidates: Mapping[str, Mapping[str, Any]], labels: Any, **params: Any
) -> dict[str, float]:
    """Score a whole candidate set with a set-level scorer (``etran``, ``ncti``).

    Set-level scores are relative: each candidate's value depends on the others (min–max scaling over the
    set), so adding or removing a candidate changes every value.

    Args:
        name: a ``set``-kind scorer.
        candidates: model id -> ``{"features": (N, D_m) array, ...}``; all share ``labels``.
        labels: ``(N,)`` target class ids.

    Returns:
        model id -> finite float.
    """
    spec = _spec_of_kind(name, "set", "score_set")
    merged, dtype = _prepare(spec, params)
    data = _check_group(spec, candidates, labels, "candidates", dtype)
    raw: Mapping[str, Any] = _run_guarded(spec, lambda: spec.fn(data, **merged))
    return {k: _finite(spec, raw[k], f" for candidate {k!r}") for k in data}


def score_ensemble(
    name: str, *, members: Mapping[str, Mapping[str, Any]], labels: Any, **params: Any
) -> float:
    """Score one team of models with an ensemble scorer.

    Args:
        name: an ``ensemble``-kind scorer.
        members: member model id -> its inputs (``features``, ``source_probs``, ...).
        labels: ``(N,)`` target class ids shared by every member.
    """
    spec = _spec_of_kind(name, "ensemble", "score_ensemble")
    merged, dtype = _prepare(spec, params)
    data = _check_group(spec, members, labels, "members", dtype)
    raw = _run_guarded(spec, lambda: spec.fn(data, **merged))
    value = raw.value if isinstance(raw, ScoreResult) else raw
    return _finite(spec, value)


def _number(value: Any, name: str) -> float:
    """A finite real number from a Python / numpy scalar or a one-element array."""
    arr = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
    if arr.size != 1 or arr.dtype.kind not in "iuf":
        raise InvalidInputError(f"{name} must be one real number, got {value!r}", param=name)
    out = float(arr.reshape(()))
    if not math.isfinite(out):
        raise InvalidInputError(f"{name} must be finite, got {out}", param=name)
    return out


def score_baseline(
    name: str,
    *,
    param_count: Any = None,
    source_accuracy: Any = None,
    feature_dim: Any = None,
    features: Any = None,
    **params: Any,
) -> float:
    """Score one model with a data-free ``baseline`` scorer from its metadata alone.

    Args:
        name: a ``baseline``-kind scorer (``param_count``, ``source_accuracy``, ``feature_width``).
        param_count: number of parameters (> 0).
        source_accuracy: top-1 source accuracy as a fraction in [0, 1].
        feature_dim: width D of the feature vector (an integer >= 1); taken from ``features`` when omitted.
        features: ``(N, D)`` features, read only for their width D.
        **params: scorer parameters (the baselines have none).

    Returns:
        A finite float; higher means the model is predicted to transfer better.

    Raises:
        NotApplicableError: the model lacks the input the scorer reads (None), e.g. an unrecorded source
            accuracy.
        InvalidInputError: an input is not one finite number in its range.
    """
    spec = _spec_of_kind(name, "baseline", "score_baseline")
    merged, _ = _prepare(spec, params)
    if feature_dim is None and features is not None:
        shape = np.shape(features)
        if len(shape) != 2:
            raise InvalidInputError(f"features must be (N, D), got shape {shape}", param="features")
        feature_dim = shape[1]
    given = {"param_count": param_count, "source_accuracy": source_accuracy, "feature_dim": feature_dim}
    missing = [k for k in spec.needs if given.get(k) is None]
    if missing:
        raise NotApplicableError(
            f"{name!r} needs the model's {missing[0].replace('_', ' ')}, which is not recorded",
            param=missing[0],
        )
    values = {k: (None if v is None else _number(v, k)) for k, v in given.items()}
    count, acc, dim = values["param_count"], values["source_accuracy"], values["feature_dim"]
    if count is not None and count <= 0:
        raise InvalidInputError(f"param_count must be > 0, got {count}", param="param_count")
    if acc is not None and not 0.0 <= acc <= 1.0:
        raise InvalidInputError(
            f"source_accuracy must be a fraction in [0, 1], got {acc}", param="source_accuracy"
        )
    if dim is not None and (dim < 1 or dim != int(dim)):
        raise InvalidInputError(f"feature_dim must be an integer >= 1, got {dim}", param="feature_dim")
    data = BaselineInputs(
        param_count=count, source_accuracy=acc, feature_dim=None if dim is None else int(dim)
    )
    return _finite(spec, _run_guarded(spec, lambda: spec.fn(data, **merged)))
