"""``GET /v1/models`` and ``GET /v1/models/{model_id}``: the zoo and its metadata."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from service.api.auth import ApiKeyDep
from service.api.errors import NotFoundError
from service.api.problems import problem_responses
from service.api.schemas import ModelInfo, ModelList

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[ApiKeyDep])


def model_info(entry: Any) -> ModelInfo:
    """The API view of one :class:`~zoo.ZooEntry` (the same fields as ``zoorank models -f json``)."""
    from zoo.weights import origin, present

    row = entry.to_dict()
    row["weights"] = {
        **row["weights"],
        "origin": origin(entry.weights, entry.meta),
        "present": present(entry.weights),
    }
    row["meta"] = {str(k): v for k, v in row["meta"].items()}
    return ModelInfo.model_validate(row)


@router.get(
    "",
    operation_id="list_models",
    response_model=ModelList,
    responses=problem_responses(401, 422, 429),
    summary="List the model zoo",
)
def list_models(
    pattern: Annotated[str, Query(max_length=200, description="fnmatch pattern on the model id")] = "*",
    tag: Annotated[list[str] | None, Query(max_length=20, description="only entries with every tag")] = None,
) -> ModelList:
    import zoo

    entries = zoo.list_entries(pattern, tags=tuple(tag or ()))
    return ModelList(items=[model_info(e) for e in entries])


@router.get(
    "/{model_id}",
    operation_id="get_model",
    response_model=ModelInfo,
    responses=problem_responses(401, 404, 429),
    summary="One zoo entry",
)
def get_model(model_id: Annotated[str, Path(max_length=200)]) -> ModelInfo:
    import zoo
    from zoo.errors import UnknownModelError

    try:
        entry = zoo.get_entry(model_id)
    except UnknownModelError as exc:
        raise NotFoundError(exc.message, param="model_id") from None
    return model_info(entry)
