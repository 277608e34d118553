from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.problem import Problem
from ...models.uploaded_dataset import UploadedDataset
from ...types import File, FileTypes
from io import BytesIO
from typing import cast



def _get_kwargs(
    *,
    body: File,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}


    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/datasets",
    }

    _kwargs["content"] = body.payload
    headers["Content-Type"] = "application/octet-stream"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | UploadedDataset | None:
    if response.status_code == 201:
        response_201 = UploadedDataset.from_dict(response.json())



        return response_201

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())



        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())



        return response_401

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())



        return response_413

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())



        return response_422

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())



        return response_429

    if response.status_code == 431:
        response_431 = Problem.from_dict(response.json())



        return response_431

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | UploadedDataset]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: File,

) -> Response[Problem | UploadedDataset]:
    """ Upload a zip or tar archive of images as a dataset

     Upload a dataset as one archive, sent as the raw request body.

    The body is a **zip**, a **tar** or a **gzip-compressed tar** (the format is read from the content,
    not
    from `Content-Type`), holding either an ImageFolder (`<class>/<image>`, optionally inside one top-
    level
    folder) or a `.csv`/`.parquet` manifest (`path,label`) with its images, or one `.npz`. Only `.png`,
    `.jpg`,
    `.jpeg`, `.webp`, `.csv`, `.parquet` and `.npz` members are extracted; hidden files and `__MACOSX`
    are
    skipped.

    The body streams to disk and is refused with **413** past `ZOORANK_UPLOAD_MAX_BYTES`. The archive is
    checked as a whole before anything is extracted; **422** problems refuse absolute member paths,
    `..`,
    backslashes, symlinks, hard links, devices and FIFOs (`upload-refused`), more than
    `ZOORANK_UPLOAD_MAX_FILES` members, more than `ZOORANK_UPLOAD_MAX_EXTRACTED_BYTES` extracted bytes
    or an
    extracted size over `ZOORANK_UPLOAD_MAX_RATIO` times the archive's (`limit-exceeded`), and archives
    whose
    images do not form a readable dataset or decode too rarely (`upload-refused`, naming the reason).

    The answer (201) gives the dataset `reference` (`uploads:<id>/...`) to put in a ranking request, and
    the
    same summary as `POST /v1/datasets/inspect`. Uploads are deleted `ZOORANK_UPLOAD_TTL_S` seconds
    after
    they arrive (`expires_at`).

    ```bash
    curl -H "X-API-Key: $KEY" --data-binary @birds.zip -H "Content-Type: application/zip" \\
         http://localhost:8000/v1/datasets
    ```

    Args:
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | UploadedDataset]
     """


    kwargs = _get_kwargs(
        body=body,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    body: File,

) -> Problem | UploadedDataset | None:
    """ Upload a zip or tar archive of images as a dataset

     Upload a dataset as one archive, sent as the raw request body.

    The body is a **zip**, a **tar** or a **gzip-compressed tar** (the format is read from the content,
    not
    from `Content-Type`), holding either an ImageFolder (`<class>/<image>`, optionally inside one top-
    level
    folder) or a `.csv`/`.parquet` manifest (`path,label`) with its images, or one `.npz`. Only `.png`,
    `.jpg`,
    `.jpeg`, `.webp`, `.csv`, `.parquet` and `.npz` members are extracted; hidden files and `__MACOSX`
    are
    skipped.

    The body streams to disk and is refused with **413** past `ZOORANK_UPLOAD_MAX_BYTES`. The archive is
    checked as a whole before anything is extracted; **422** problems refuse absolute member paths,
    `..`,
    backslashes, symlinks, hard links, devices and FIFOs (`upload-refused`), more than
    `ZOORANK_UPLOAD_MAX_FILES` members, more than `ZOORANK_UPLOAD_MAX_EXTRACTED_BYTES` extracted bytes
    or an
    extracted size over `ZOORANK_UPLOAD_MAX_RATIO` times the archive's (`limit-exceeded`), and archives
    whose
    images do not form a readable dataset or decode too rarely (`upload-refused`, naming the reason).

    The answer (201) gives the dataset `reference` (`uploads:<id>/...`) to put in a ranking request, and
    the
    same summary as `POST /v1/datasets/inspect`. Uploads are deleted `ZOORANK_UPLOAD_TTL_S` seconds
    after
    they arrive (`expires_at`).

    ```bash
    curl -H "X-API-Key: $KEY" --data-binary @birds.zip -H "Content-Type: application/zip" \\
         http://localhost:8000/v1/datasets
    ```

    Args:
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | UploadedDataset
     """


    return sync_detailed(
        client=client,
body=body,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: File,

) -> Response[Problem | UploadedDataset]:
    """ Upload a zip or tar archive of images as a dataset

     Upload a dataset as one archive, sent as the raw request body.

    The body is a **zip**, a **tar** or a **gzip-compressed tar** (the format is read from the content,
    not
    from `Content-Type`), holding either an ImageFolder (`<class>/<image>`, optionally inside one top-
    level
    folder) or a `.csv`/`.parquet` manifest (`path,label`) with its images, or one `.npz`. Only `.png`,
    `.jpg`,
    `.jpeg`, `.webp`, `.csv`, `.parquet` and `.npz` members are extracted; hidden files and `__MACOSX`
    are
    skipped.

    The body streams to disk and is refused with **413** past `ZOORANK_UPLOAD_MAX_BYTES`. The archive is
    checked as a whole before anything is extracted; **422** problems refuse absolute member paths,
    `..`,
    backslashes, symlinks, hard links, devices and FIFOs (`upload-refused`), more than
    `ZOORANK_UPLOAD_MAX_FILES` members, more than `ZOORANK_UPLOAD_MAX_EXTRACTED_BYTES` extracted bytes
    or an
    extracted size over `ZOORANK_UPLOAD_MAX_RATIO` times the archive's (`limit-exceeded`), and archives
    whose
    images do not form a readable dataset or decode too rarely (`upload-refused`, naming the reason).

    The answer (201) gives the dataset `reference` (`uploads:<id>/...`) to put in a ranking request, and
    the
    same summary as `POST /v1/datasets/inspect`. Uploads are deleted `ZOORANK_UPLOAD_TTL_S` seconds
    after
    they arrive (`expires_at`).

    ```bash
    curl -H "X-API-Key: $KEY" --data-binary @birds.zip -H "Content-Type: application/zip" \\
         http://localhost:8000/v1/datasets
    ```

    Args:
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | UploadedDataset]
     """


    kwargs = _get_kwargs(
        body=body,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    body: File,

) -> Problem | UploadedDataset | None:
    """ Upload a zip or tar archive of images as a dataset

     Upload a dataset as one archive, sent as the raw request body.

    The body is a **zip**, a **tar** or a **gzip-compressed tar** (the format is read from the content,
    not
    from `Content-Type`), holding either an ImageFolder (`<class>/<image>`, optionally inside one top-
    level
    folder) or a `.csv`/`.parquet` manifest (`path,label`) with its images, or one `.npz`. Only `.png`,
    `.jpg`,
    `.jpeg`, `.webp`, `.csv`, `.parquet` and `.npz` members are extracted; hidden files and `__MACOSX`
    are
    skipped.

    The body streams to disk and is refused with **413** past `ZOORANK_UPLOAD_MAX_BYTES`. The archive is
    checked as a whole before anything is extracted; **422** problems refuse absolute member paths,
    `..`,
    backslashes, symlinks, hard links, devices and FIFOs (`upload-refused`), more than
    `ZOORANK_UPLOAD_MAX_FILES` members, more than `ZOORANK_UPLOAD_MAX_EXTRACTED_BYTES` extracted bytes
    or an
    extracted size over `ZOORANK_UPLOAD_MAX_RATIO` times the archive's (`limit-exceeded`), and archives
    whose
    images do not form a readable dataset or decode too rarely (`upload-refused`, naming the reason).

    The answer (201) gives the dataset `reference` (`uploads:<id>/...`) to put in a ranking request, and
    the
    same summary as `POST /v1/datasets/inspect`. Uploads are deleted `ZOORANK_UPLOAD_TTL_S` seconds
    after
    they arrive (`expires_at`).

    ```bash
    curl -H "X-API-Key: $KEY" --data-binary @birds.zip -H "Content-Type: application/zip" \\
         http://localhost:8000/v1/datasets
    ```

    Args:
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | UploadedDataset
     """


    return (await asyncio_detailed(
        client=client,
body=body,

    )).parsed
