"""``GET /v1/scorers``: every registered transferability estimator."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from service.api.auth import ApiKeyDep
from service.api.problems import problem_responses
from service.api.schemas import ScorerInfo, ScorerKind, ScorerList
from service.api.state import api_state
from service.catalogue import scorer_rows

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
    rows = scorer_rows(api_state(request).settings, None if kind is None else kind.value)
    return ScorerList(items=[ScorerInfo.model_validate(row) for row in rows])
