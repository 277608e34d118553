"""``POST /v1/datasets/inspect`` and ``GET /v1/datasets/roots``.

References are resolved with ``base=None``: only ``root:relative/path`` names, or absolute paths and
``file://`` URLs inside a configured root, are accepted; anything else is a 403 ``path-not-allowed``
problem naming the rule.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.api.auth import ApiKeyDep
from service.api.problems import problem_responses, remember_body
from service.api.schemas import DataRoot, DataRootList, DatasetSummary, InspectRequest
from service.api.state import api_state
from service.catalogue import dataset_roots, inspect_dataset

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], dependencies=[ApiKeyDep])


@router.post(
    "/inspect",
    operation_id="inspect_dataset",
    response_model=DatasetSummary,
    responses=problem_responses(401, 403, 413, 422, 429),
    summary="Summarise a dataset (classes, counts, fingerprint, corrupt images); no job",
)
def inspect_dataset_route(request: Request, body: InspectRequest) -> DatasetSummary:
    remember_body(request, body)
    summary = inspect_dataset(body.dataset, api_state(request).settings, decode=body.decode)
    return DatasetSummary.model_validate(summary)


@router.get(
    "/roots",
    operation_id="list_dataset_roots",
    response_model=DataRootList,
    responses=problem_responses(401, 429),
    summary="The named roots dataset references may point into",
)
def list_dataset_roots(request: Request) -> DataRootList:
    rows = dataset_roots(api_state(request).settings)
    return DataRootList(items=[DataRoot.model_validate(row) for row in rows])
