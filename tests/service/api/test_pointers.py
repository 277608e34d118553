"""``param`` of a problem about the request body is a JSON pointer into that body (RFC 6901)."""

from __future__ import annotations

from typing import Any

import pytest

from estimators.errors import InvalidParameterError, UnknownScorerError, ZoorankError
from service.api.problems import json_pointer, problem_for
from service.errors import NotFoundError, RequestValidationFailed
from zoo.errors import DatasetNotFoundError, PathNotAllowedError, UnknownModelError

BODY: dict[str, Any] = {
    "dataset": "data:shapes",
    "models": ["cnn4.glyphs", "no.such"],
    "scorers": ["logme", "nope"],
    "params": {"logme": {"tol": -1}, "a/b": {"x~y": 1}},
    "sampling": {"seed": 3},
    "ensemble": {"k": 9, "params": {"osborn": {"solver": "x"}}},
}


@pytest.mark.parametrize(
    ("exc", "pointer"),
    [
        (UnknownModelError("Unknown zoo entry 'no.such'", param="name"), "/models/1"),
        (UnknownModelError("no models to rank", param="models"), "/models"),
        (UnknownScorerError("unknown scorer 'nope'", param="name"), "/scorers/1"),
        (InvalidParameterError("tol must be > 0", param="tol"), "/params/logme/tol"),
        (InvalidParameterError("bad", param="x~y"), "/params/a~1b/x~0y"),
        (InvalidParameterError("solver?", param="solver"), "/ensemble/params/osborn/solver"),
        (InvalidParameterError("k too big", param="k"), "/ensemble/k"),
        (InvalidParameterError("seed range", param="seed"), "/sampling/seed"),
        (InvalidParameterError("stray", param="scorer_params"), "/params"),
        (PathNotAllowedError("outside", param="root"), "/dataset"),
        (DatasetNotFoundError("missing", param="ref"), "/dataset"),
        (NotFoundError("no job", param="job_id"), "job_id"),
        (ZoorankError("no param"), None),
    ],
)
def test_body_params_become_pointers(exc: ZoorankError, pointer: str | None) -> None:
    assert json_pointer(exc, BODY) == pointer
    assert problem_for(exc, "/v1/rankings", BODY).param == pointer


def test_names_stay_names_without_a_body() -> None:
    assert json_pointer(InvalidParameterError("x", param="tol"), None) == "tol"


def test_validation_errors_point_at_their_first_body_field() -> None:
    issues = [{"loc": "body.sampling.seed", "message": "too big", "kind": "less_than"}]
    assert json_pointer(RequestValidationFailed("bad", issues=issues, param="seed"), None) == "/sampling/seed"
    query = [{"loc": "query.limit", "message": "too big", "kind": "less_than_equal"}]
    assert json_pointer(RequestValidationFailed("bad", issues=query, param="limit"), None) == "limit"
