from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.model_list import ModelList
from ...models.problem import Problem
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    pattern: str | Unset = '*',
    tag: list[str] | None | Unset = UNSET,

) -> dict[str, Any]:
    

    

    params: dict[str, Any] = {}

    params["pattern"] = pattern

    json_tag: list[str] | None | Unset
    if isinstance(tag, Unset):
        json_tag = UNSET
    elif isinstance(tag, list):
        json_tag = tag


    else:
        json_tag = tag
    params["tag"] = json_tag


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/models",
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ModelList | Problem | None:
    if response.status_code == 200:
        response_200 = ModelList.from_dict(response.json())



        return response_200

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())



        return response_401

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ModelList | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    pattern: str | Unset = '*',
    tag: list[str] | None | Unset = UNSET,

) -> Response[ModelList | Problem]:
    """ List the model zoo

    Args:
        pattern (str | Unset): fnmatch pattern on the model id Default: '*'.
        tag (list[str] | None | Unset): only entries with every tag (each a non-empty label)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ModelList | Problem]
     """


    kwargs = _get_kwargs(
        pattern=pattern,
tag=tag,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    pattern: str | Unset = '*',
    tag: list[str] | None | Unset = UNSET,

) -> ModelList | Problem | None:
    """ List the model zoo

    Args:
        pattern (str | Unset): fnmatch pattern on the model id Default: '*'.
        tag (list[str] | None | Unset): only entries with every tag (each a non-empty label)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ModelList | Problem
     """


    return sync_detailed(
        client=client,
pattern=pattern,
tag=tag,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    pattern: str | Unset = '*',
    tag: list[str] | None | Unset = UNSET,

) -> Response[ModelList | Problem]:
    """ List the model zoo

    Args:
        pattern (str | Unset): fnmatch pattern on the model id Default: '*'.
        tag (list[str] | None | Unset): only entries with every tag (each a non-empty label)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ModelList | Problem]
     """


    kwargs = _get_kwargs(
        pattern=pattern,
tag=tag,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    pattern: str | Unset = '*',
    tag: list[str] | None | Unset = UNSET,

) -> ModelList | Problem | None:
    """ List the model zoo

    Args:
        pattern (str | Unset): fnmatch pattern on the model id Default: '*'.
        tag (list[str] | None | Unset): only entries with every tag (each a non-empty label)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ModelList | Problem
     """


    return (await asyncio_detailed(
        client=client,
pattern=pattern,
tag=tag,

    )).parsed
