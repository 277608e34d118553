"""``GET /v1/scorers``: every registered transferability estimator."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from service.api.auth import ApiKeyDep
from service.api.problems import problem_responses
from service.api.schemas import ScorerInfo, ScorerKind, ScorerList
from service.api.state import api_state

router = APIRouter(prefix="/v1/scorers", tags=["scorers"], dependencies=[ApiKeyDep])


@router.get(
    "",
    operation_id="list_scorers",
    response_model=ScorerList,
    responses=problem_responses(401, 422, 429),
    summary="List the scorers",
)
def list_scorers(
    request: Request,
    kind: Annotated[ScorerKind | None, Query(description="only scorers of this kind")] = None,
) -> ScorerList:
    import estimators

    defaults = set(api_state(request).settings.default_scorers)
    names = estimators.list_scorers(None if kind is None else kind.value)
    items = []
    for name in names:
        row = estimators.get_scorer(name).to_dict()
        row["default"] = name in defaults
        items.append(ScorerInfo.model_validate(row))
    return ScorerList(items=items)
