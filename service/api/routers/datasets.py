"""``POST /v1/datasets`` (uploads), ``POST /v1/datasets/inspect`` and ``GET /v1/datasets/roots``.

References are resolved with ``base=None``: only ``root:relative/path`` names, or absolute paths and
``file://`` URLs inside a configured root, are accepted; anything else is a 403 ``path-not-allowed``
problem naming the rule.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from service.api.auth import ApiKeyDep
from service.api.problems import problem_responses, remember_body
from service.api.schemas import DataRoot, DataRootList, DatasetSummary, InspectRequest, UploadedDataset
from service.api.state import api_state
from service.catalogue import dataset_roots, inspect_dataset
from service.uploads import UploadSink, purge_expired, store_upload

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], dependencies=[ApiKeyDep])


@router.post(
    "/inspect",
    operation_id="inspect_dataset",
    response_model=DatasetSummary,
    responses=problem_responses(400, 401, 403, 413, 422, 429),
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


UPLOAD_DESCRIPTION = """Upload a dataset as one archive, sent as the raw request body.

The body is a **zip**, a **tar** or a **gzip-compressed tar** (the format is read from the content, not
from `Content-Type`), holding either an ImageFolder (`<class>/<image>`, optionally inside one top-level
folder) or a `.csv`/`.parquet` manifest (`path,label`) with its images, or one `.npz`. Only `.png`, `.jpg`,
`.jpeg`, `.webp`, `.csv`, `.parquet` and `.npz` members are extracted; hidden files and `__MACOSX` are
skipped.

The body streams to disk and is refused with **413** past `ZOORANK_UPLOAD_MAX_BYTES`. The archive is
checked as a whole before anything is extracted; **422** problems refuse absolute member paths, `..`,
backslashes, symlinks, hard links, devices and FIFOs (`upload-refused`), more than
`ZOORANK_UPLOAD_MAX_FILES` members, more than `ZOORANK_UPLOAD_MAX_EXTRACTED_BYTES` extracted bytes or an
extracted size over `ZOORANK_UPLOAD_MAX_RATIO` times the archive's (`limit-exceeded`), and archives whose
images do not form a readable dataset or decode too rarely (`upload-refused`, naming the reason).

The answer (201) gives the dataset `reference` (`uploads:<id>/...`) to put in a ranking request, and the
same summary as `POST /v1/datasets/inspect`. Uploads are deleted `ZOORANK_UPLOAD_TTL_S` seconds after
they arrive (`expires_at`).

```bash
curl -H "X-API-Key: $KEY" --data-binary @birds.zip -H "Content-Type: application/zip" \\
     http://localhost:8000/v1/datasets
```
"""


@router.post(
    "",
    operation_id="upload_dataset",
    status_code=201,
    response_model=UploadedDataset,
    responses=problem_responses(401, 413, 422, 429),
    summary="Upload a zip or tar archive of images as a dataset",
    description=UPLOAD_DESCRIPTION,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "the archive's bytes (zip, tar or tar.gz)",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_dataset(request: Request) -> UploadedDataset:
    settings = api_state(request).settings
    await run_in_threadpool(purge_expired, settings)
    sink = await run_in_threadpool(UploadSink, settings)
    try:
        async for chunk in request.stream():
            if chunk:
                sink.write(chunk)
    except BaseException:
        sink.discard()
        raise
    result = await run_in_threadpool(store_upload, sink)
    return UploadedDataset.model_validate(result)
