from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.job_view import JobView
from ...models.problem import Problem
from ...models.ranking_request import RankingRequest
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    body: RankingRequest,
    idempotency_key: None | str | Unset = UNSET,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["idempotency-key"] = idempotency_key



    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/rankings",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> JobView | Problem | None:
    if response.status_code == 200:
        response_200 = JobView.from_dict(response.json())



        return response_200

    if response.status_code == 202:
        response_202 = JobView.from_dict(response.json())



        return response_202

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())



        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())



        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())



        return response_403

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())



        return response_409

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())



        return response_413

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())



        return response_422

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())



        return response_429

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[JobView | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: RankingRequest,
    idempotency_key: None | str | Unset = UNSET,

) -> Response[JobView | Problem]:
    """ Submit a ranking request (202 + Location of the job; 200 when cached)

    Args:
        idempotency_key (None | str | Unset):
        body (RankingRequest): Rank zoo models for a dataset (the body of ``POST /v1/rankings``).

            Attributes:
                dataset: a reference under an allowed root: ``name:relative/path``, or an absolute
            path or
                    ``file://`` URL inside a root (``GET /v1/datasets/roots`` lists the names).
                models: zoo ids or fnmatch patterns; none ranks the default zoo (``builtin`` and
            ``trained``).
                scorers: ``model``/``set`` scorers; none uses the server's defaults.
                params: scorer name -> parameter overrides.
                sampling: sample caps and seed.
                ensemble: also select teams of models (the ranking's ``ensembles`` section).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[JobView | Problem]
     """


    kwargs = _get_kwargs(
        body=body,
idempotency_key=idempotency_key,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    body: RankingRequest,
    idempotency_key: None | str | Unset = UNSET,

) -> JobView | Problem | None:
    """ Submit a ranking request (202 + Location of the job; 200 when cached)

    Args:
        idempotency_key (None | str | Unset):
        body (RankingRequest): Rank zoo models for a dataset (the body of ``POST /v1/rankings``).

            Attributes:
                dataset: a reference under an allowed root: ``name:relative/path``, or an absolute
            path or
                    ``file://`` URL inside a root (``GET /v1/datasets/roots`` lists the names).
                models: zoo ids or fnmatch patterns; none ranks the default zoo (``builtin`` and
            ``trained``).
                scorers: ``model``/``set`` scorers; none uses the server's defaults.
                params: scorer name -> parameter overrides.
                sampling: sample caps and seed.
                ensemble: also select teams of models (the ranking's ``ensembles`` section).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        JobView | Problem
     """


    return sync_detailed(
        client=client,
body=body,
idempotency_key=idempotency_key,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: RankingRequest,
    idempotency_key: None | str | Unset = UNSET,

) -> Response[JobView | Problem]:
    """ Submit a ranking request (202 + Location of the job; 200 when cached)

    Args:
        idempotency_key (None | str | Unset):
        body (RankingRequest): Rank zoo models for a dataset (the body of ``POST /v1/rankings``).

            Attributes:
                dataset: a reference under an allowed root: ``name:relative/path``, or an absolute
            path or
                    ``file://`` URL inside a root (``GET /v1/datasets/roots`` lists the names).
                models: zoo ids or fnmatch patterns; none ranks the default zoo (``builtin`` and
            ``trained``).
                scorers: ``model``/``set`` scorers; none uses the server's defaults.
                params: scorer name -> parameter overrides.
                sampling: sample caps and seed.
                ensemble: also select teams of models (the ranking's ``ensembles`` section).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[JobView | Problem]
     """


    kwargs = _get_kwargs(
        body=body,
idempotency_key=idempotency_key,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    body: RankingRequest,
    idempotency_key: None | str | Unset = UNSET,

) -> JobView | Problem | None:
    """ Submit a ranking request (202 + Location of the job; 200 when cached)

    Args:
        idempotency_key (None | str | Unset):
        body (RankingRequest): Rank zoo models for a dataset (the body of ``POST /v1/rankings``).

            Attributes:
                dataset: a reference under an allowed root: ``name:relative/path``, or an absolute
            path or
                    ``file://`` URL inside a root (``GET /v1/datasets/roots`` lists the names).
                models: zoo ids or fnmatch patterns; none ranks the default zoo (``builtin`` and
            ``trained``).
                scorers: ``model``/``set`` scorers; none uses the server's defaults.
                params: scorer name -> parameter overrides.
                sampling: sample caps and seed.
                ensemble: also select teams of models (the ranking's ``ensembles`` section).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        JobView | Problem
     """


    return (await asyncio_detailed(
        client=client,
body=body,
idempotency_key=idempotency_key,

    )).parsed
