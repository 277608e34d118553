"""``POST /v1/datasets/inspect`` and ``GET /v1/datasets/roots``.

References are resolved with ``base=None``: only ``root:relative/path`` names, or absolute paths and
``file://`` URLs inside a configured root, are accepted; anything else is a 403 ``path-not-allowed``
problem naming the rule.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.api.auth import ApiKeyDep
from service.api.problems import problem_responses
from service.api.schemas import DataRoot, DataRootList, DatasetSummary, InspectRequest
from service.api.state import api_state
from service.settings import LimitExceededError

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], dependencies=[ApiKeyDep])


@router.post(
    "/inspect",
    operation_id="inspect_dataset",
    response_model=DatasetSummary,
    responses=problem_responses(401, 403, 413, 422, 429),
    summary="Summarise a dataset (classes, counts, fingerprint, corrupt images); no job",
)
def inspect_dataset(request: Request, body: InspectRequest) -> DatasetSummary:
    from service.ranking import describe_dataset

    settings = api_state(request).settings
    summary = describe_dataset(body.dataset, settings, base=None, decode=False)
    if body.decode:
        if summary["num_samples"] > settings.max_images_per_job:
            raise LimitExceededError(
                f"decoding {summary['num_samples']} images exceeds the {settings.max_images_per_job}-image "
                "limit (ZOORANK_MAX_IMAGES); inspect with decode=false",
                param="max_images_per_job",
            )
        summary = describe_dataset(body.dataset, settings, base=None, decode=True)
    summary.pop("location", None)  # the server-side path is not the caller's business
    return DatasetSummary.model_validate(summary)


@router.get(
    "/roots",
    operation_id="list_dataset_roots",
    response_model=DataRootList,
    responses=problem_responses(401, 429),
    summary="The named roots dataset references may point into",
)
def list_dataset_roots(request: Request) -> DataRootList:
    roots = api_state(request).settings.named_roots
    return DataRootList(items=[DataRoot(name=name, example=f"{name}:path/to/dataset") for name in roots])
