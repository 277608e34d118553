"""The OpenAPI document says everything a client needs: every field of the request and the ranking has a
description, request examples are valid requests, stage and model status are enums, response headers and
the event payloads are declared, and the event stream is not declared as JSON."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service.api.openapi import schema
from service.api.schemas import InspectRequest
from service.jobs.request import RankingRequest


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return schema()


def _fields(schemas: dict[str, Any], node: Any, path: str, seen: frozenset[str]) -> Iterator[tuple[str, Any]]:
    """(path, field schema) of every property under ``node``, through refs, nullables, items and maps."""
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from _fields(schemas, schemas[name], path, seen | {name})
        return
    for branch in node.get("anyOf", []):
        yield from _fields(schemas, branch, path, seen)
    for name, prop in (node.get("properties") or {}).items():
        yield f"{path}/{name}", prop
        yield from _fields(schemas, prop, f"{path}/{name}", seen)
    yield from _fields(schemas, node.get("items"), f"{path}/*", seen)
    if isinstance(node.get("additionalProperties"), dict):
        yield from _fields(schemas, node["additionalProperties"], f"{path}/{{}}", seen)


@pytest.mark.parametrize("name", ["RankingRequest", "Ranking", "InspectRequest", "JobView"])
def test_every_field_is_described(doc: dict[str, Any], name: str) -> None:
    schemas = doc["components"]["schemas"]
    fields = list(_fields(schemas, schemas[name], name, frozenset({name})))
    assert len(fields) >= 2
    missing = [
        path
        for path, prop in fields
        if not prop.get("description")
        and not ("$ref" in prop and schemas[prop["$ref"].rsplit("/", 1)[-1]].get("description"))
        and not any(
            "$ref" in b and schemas[b["$ref"].rsplit("/", 1)[-1]].get("description")
            for b in prop.get("anyOf", [])
        )
    ]
    if name == "JobView":  # the job's nested progress/error models are described by their own docstrings
        missing = [p for p in missing if p.count("/") == 1]
    assert missing == []


def test_request_examples_are_valid_requests(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for example in schemas["RankingRequest"]["examples"]:
        RankingRequest.model_validate(example)
    for example in schemas["InspectRequest"]["examples"]:
        InspectRequest.model_validate(example)


def test_enums_headers_and_events(doc: dict[str, Any]) -> None:
    schemas, paths = doc["components"]["schemas"], doc["paths"]
    assert schemas["JobView"]["properties"]["stage"]["enum"][-1] == "done"
    assert "failed" in schemas["ModelProgress"]["properties"]["status"]["enum"]
    submit = paths["/v1/rankings"]["post"]["responses"]
    assert {"Location", "Retry-After", "Idempotent-Replayed"} <= set(submit["202"]["headers"])
    assert "Retry-After" in submit["429"]["headers"] and "Retry-After" in submit["503"]["headers"]
    assert "ETag" in paths["/v1/rankings/{ranking_id}"]["get"]["responses"]["200"]["headers"]
    assert {"JobStatusEvent", "JobProgressEvent", "JobDoneEvent"} <= set(schemas)
    events = paths["/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
    assert list(events) == ["text/event-stream"]
    stream = events["text/event-stream"]
    assert "schema" not in stream  # the body is a stream: only each event has a schema
    assert stream["itemSchema"]["properties"]["event"]["enum"] == ["status", "progress", "done"]
