"""``GET /v1/models`` and ``GET /v1/models/{model_id}``: the zoo and its metadata."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import StringConstraints

from service.api.auth import ApiKeyDep
from service.api.problems import problem_responses
from service.api.schemas import ModelInfo, ModelList
from service.catalogue import model_row, model_rows

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[ApiKeyDep])


@router.get(
    "",
    operation_id="list_models",
    response_model=ModelList,
    responses=problem_responses(401, 422, 429),
    summary="List the model zoo",
)
def list_models(
    pattern: Annotated[str, Query(max_length=200, description="fnmatch pattern on the model id")] = "*",
    tag: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] | None,
        Query(max_length=20, description="only entries with every tag (each a non-empty label)"),
    ] = None,
) -> ModelList:
    rows = model_rows(pattern, tags=tuple(tag or ()))
    return ModelList(items=[ModelInfo.model_validate(row) for row in rows])


@router.get(
    "/{model_id}",
    operation_id="get_model",
    response_model=ModelInfo,
    responses=problem_responses(401, 404, 429),
    summary="One zoo entry",
)
def get_model(model_id: Annotated[str, Path(max_length=200)]) -> ModelInfo:
    return ModelInfo.model_validate(model_row(model_id))
