"""What the OpenAPI document says beyond the models' types: field descriptions, examples, enums,
response headers and the job event payloads.

:func:`document` runs once on the generated schema (``create_api``'s ``openapi()``), so the wire models
stay as they are and everything a client reads about them is here, keyed by where it goes:

* :data:`DESCRIPTIONS`: ``"Schema/field/field"`` -> description (``*`` steps into array items, ``{}``
  into map values); a test checks every field of the request and the ranking has one.
* :data:`ENUMS`: string fields whose values are a closed set on this server version (clients should
  still accept new ones: the SDK does).
* :data:`EVENT_PAYLOADS`: one schema per server-sent event of ``/v1/jobs/{job_id}/events``.
* a ``400`` problem on every operation with a body (an undecodable body);
* headers of ``Location``, ``Retry-After``, ``ETag``, ``Idempotent-Replayed``, ``WWW-Authenticate``.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["DESCRIPTIONS", "ENUMS", "EVENT_PAYLOADS", "EXAMPLES", "document"]

_PAIRING = "scorer name -> "
DESCRIPTIONS: dict[str, str] = {
    # the request
    "RankingRequest/dataset": (
        "The target dataset: `root:relative/path` under a named root (GET /v1/datasets/roots), or an "
        "absolute path or file:// URL inside a root."
    ),
    "RankingRequest/models": "Zoo ids or fnmatch patterns (GET /v1/models); omitted: the default zoo.",
    "RankingRequest/scorers": (
        "`model`/`set` scorers to run (GET /v1/scorers); omitted: the server's defaults."
    ),
    "RankingRequest/params": _PAIRING + "parameter overrides, checked against the scorer's parameters.",
    "RankingRequest/sampling": "Per-class and overall caps on the images ranked, and the seed of the draw.",
    "RankingRequest/ensemble": "Also select teams of models (the ranking's `ensembles` section).",
    "Sampling/max_per_class": "At most this many images per class (0: no cap; omitted: the server default).",
    "Sampling/max_samples": (
        "At most this many images in all (omitted: no overall cap beyond the server limit)."
    ),
    "Sampling/seed": "Seed of the stratified draw: the same dataset, caps and seed give the same sample.",
    "Sampling/budget": (
        "Budget mode: forward at most this fraction, in (0, 1], of the images x models a full ranking "
        "forwards. Rounds rank nested stratified samples, doubling in size, and drop the models the "
        "round's confidence set separates from the best; omitted: a full ranking."
    ),
    "EnsembleOptions/k": "Team size.",
    "EnsembleOptions/mode": "`greedy` (one team, built a member at a time) or `exhaustive` (every k-subset).",
    "EnsembleOptions/top": "Teams reported by an exhaustive search.",
    "EnsembleOptions/max_teams": "Most k-subsets an exhaustive search may score (refused above).",
    "EnsembleOptions/scorers": "Ensemble-kind scorers to run.",
    "EnsembleOptions/params": _PAIRING + "parameter overrides of the ensemble scorers.",
    # the ranking
    "Ranking/schema_version": "`major.minor`: additions bump the minor part; read any 1.x as 1.x.",
    "Ranking/dataset": "The target dataset as ranked.",
    "Ranking/dataset/reference": "The dataset reference as the request gave it.",
    "Ranking/dataset/fingerprint": (
        "Content fingerprint of the whole dataset (with `sampling`: the exact sample)."
    ),
    "Ranking/dataset/reader": "The reader that read it (imagefolder, csv, parquet, npz, ...).",
    "Ranking/dataset/num_samples": "Images ranked on (after sampling, minus undecodable ones).",
    "Ranking/dataset/num_classes": "Distinct classes in the sample.",
    "Ranking/dataset/classes": "Class names in label order.",
    "Ranking/dataset/class_counts": "Class name -> images in the sample.",
    "Ranking/dataset/corrupt": "Sampled images skipped because they failed to decode.",
    "Ranking/dataset/sampling": "How the sample was drawn.",
    "Ranking/dataset/sampling/strategy": "`stratified`: per-class caps, then a seeded draw.",
    "Ranking/dataset/sampling/max_per_class": "Per-class cap applied, or null.",
    "Ranking/dataset/sampling/max_samples": "Overall cap applied, or null.",
    "Ranking/dataset/sampling/seed": "Seed of the draw.",
    "Ranking/dataset/sampling/available": "Images in the dataset before sampling.",
    "Ranking/models": (
        "One row per model, sorted by aggregate_rank (nulls last), then id: the first is the pick."
    ),
    "Ranking/models/*/id": "Zoo entry id.",
    "Ranking/models/*/scores": _PAIRING + "finite score, for the scorers that scored this model.",
    "Ranking/models/*/ranks": _PAIRING + "rank among the models it scored (1 = best; ties share the mean).",
    "Ranking/models/*/aggregate_rank": "Mean of `ranks` (lower is better), or null when no scorer scored it.",
    "Ranking/models/*/errors": _PAIRING + "why that scorer has no score for this model.",
    "Ranking/models/*/errors/{}/code": "Stable reason code (a problem code, or not-applicable).",
    "Ranking/models/*/errors/{}/message": "One human-readable line.",
    "Ranking/models/*/error": (
        "Why the whole model could not be used (weights missing, load failure), or null."
    ),
    "Ranking/models/*/weights_sha256": "Digest of the weights the features came from (null: random init).",
    "Ranking/models/*/feature_dim": "Dimension D of the extracted features (null when extraction failed).",
    "Ranking/models/*/has_source_head": "Whether source-class probabilities were available (LEEP, NCE).",
    "Ranking/models/*/source_profile": "Whether a source feature profile was available (PED).",
    "Ranking/models/*/cached": "Whether the features came from the feature store instead of a forward pass.",
    "Ranking/models/*/extraction_seconds": "Wall time to get the features (load + forward, or a store read).",
    "Ranking/models/*/info": _PAIRING + "the scorer's diagnostics, possibly empty.",
    "Ranking/models/*/notes": "Anything else worth knowing (e.g. a profile that could not be read).",
    "Ranking/models/*/saturated": (
        "Scorers whose top score here is a saturated tie: those ranks carry no order."
    ),
    "Ranking/scorers": "The scorers run, in request order.",
    "Ranking/scorers/*/name": "Registry name.",
    "Ranking/scorers/*/kind": "`model` (one score per model) or `set` (scores the models together).",
    "Ranking/scorers/*/version": "The scorer's version (bumped whenever its numbers change).",
    "Ranking/scorers/*/params": "The full parameter set used (defaults merged with the overrides).",
    "Ranking/scorers/*/citation": "The paper.",
    "Ranking/scorers/*/higher_is_better": (
        "The scorer's orientation (ranks put the best score first either way)."
    ),
    "Ranking/provenance": "What produced the ranking.",
    "Ranking/provenance/zoorank_version": "Installed zoorank version.",
    "Ranking/provenance/extractor_version": "Version of the feature extractor (part of feature-store keys).",
    "Ranking/provenance/created_at": "UTC timestamp, ISO 8601.",
    "Ranking/provenance/device": "Torch device the features were extracted on.",
    "Ranking/provenance/torch_version": "Installed torch version.",
    "Ranking/recommendation": (
        "The model to fine-tune and how sure that is (schema 1.2): from seeded, stratified resamples of "
        "the sampled images, re-ranked from the cached features."
    ),
    "Ranking/recommendation/model": "The recommended model: the most often best over the resamples.",
    "Ranking/recommendation/runner_up": "The next model, or null with a single ranked model.",
    "Ranking/recommendation/margin": "Aggregate-rank difference to the runner-up, or null.",
    "Ranking/recommendation/confidence_set": "The models that cannot be separated from the best at `level`.",
    "Ranking/recommendation/clear": "True when the confidence set holds the recommended model alone.",
    "Ranking/recommendation/level": "Confidence level of the set (e.g. 0.95).",
    "Ranking/recommendation/candidates": "Per ranked model: `p_best` and a rank interval.",
    "Ranking/recommendation/candidates/*/id": "Model id.",
    "Ranking/recommendation/candidates/*/p_best": "Share of resamples in which this model ranks first.",
    "Ranking/recommendation/candidates/*/rank_low": "Lower end of its rank interval over the resamples.",
    "Ranking/recommendation/candidates/*/rank_high": "Upper end of the model's rank interval.",
    "Ranking/recommendation/method": "The method and its parameters (resamples, seed, refitted scorers).",
    "Ranking/models/*/dropped": (
        "Budget rankings (schema 1.3): the round that dropped this model; its scores are from that round."
    ),
    "Ranking/models/*/dropped/round": "The round (0 = the first, smallest sample).",
    "Ranking/models/*/dropped/num_samples": "Images of that round's sample.",
    "Ranking/models/*/dropped/ranks": _PAIRING + "the model's rank among that round's models.",
    "Ranking/models/*/dropped/aggregate_rank": "Its aggregate rank among that round's models.",
    "Ranking/budget": (
        "Budget rankings (schema 1.3): how the sample grew, round by round, and what it cost."
    ),
    "Ranking/budget/budget": "The request's budget: a fraction of `full_cost`.",
    "Ranking/budget/full_cost": "Images x models a full ranking forwards.",
    "Ranking/budget/cost": "Images x models this ranking forwarded (at most budget x full_cost).",
    "Ranking/budget/cost_ratio": "`cost / full_cost`.",
    "Ranking/budget/stopped": (
        "Why the rounds ended: `full-sample`, `one-model-left` or `budget-spent` (the last round grew "
        "the sample as far as the budget allowed)."
    ),
    "Ranking/budget/level": "Confidence level of the sets that decided the drops.",
    "Ranking/budget/rounds": "The rounds, smallest sample first.",
    "Ranking/budget/rounds/*/round": "Round number, from 0.",
    "Ranking/budget/rounds/*/num_samples": "Images of the round's sample (each holds the previous one).",
    "Ranking/budget/rounds/*/models": "The models ranked in this round.",
    "Ranking/budget/rounds/*/kept": "The models that went on (the confidence set, and any not judged).",
    "Ranking/budget/rounds/*/dropped": "The models dropped here.",
    "Ranking/budget/rounds/*/cost": "Images x models forwarded for this round (its new images only).",
    "Ranking/budget/rounds/*/note": "Why nothing could be dropped here, when that was so.",
    "Ranking/ensembles": "Teams of models, when the request asked for them.",
    "Ranking/ensembles/k": "Team size.",
    "Ranking/ensembles/mode": "`greedy` or `exhaustive`.",
    "Ranking/ensembles/results": "One per ensemble scorer, in request order.",
    "Ranking/ensembles/results/*/scorer": "The ensemble scorer.",
    "Ranking/ensembles/results/*/version": "Its version.",
    "Ranking/ensembles/results/*/params": "Its full parameter set.",
    "Ranking/ensembles/results/*/teams": "Best first (greedy: one team); empty when `error` is set.",
    "Ranking/ensembles/results/*/teams/*/members": "Model ids of the team.",
    "Ranking/ensembles/results/*/teams/*/score": "The team's score (higher is better).",
    "Ranking/ensembles/results/*/teams/*/terms": "The terms the score is made of.",
    "Ranking/ensembles/results/*/pool": "The models eligible for this scorer, in request order.",
    "Ranking/ensembles/results/*/ineligible": "Model id -> why it could not take part.",
    "Ranking/ensembles/results/*/ineligible/{}/code": "Stable reason code.",
    "Ranking/ensembles/results/*/ineligible/{}/message": "One human-readable line.",
    "Ranking/ensembles/results/*/members": "Eligible model id -> its own terms over the pool.",
    "Ranking/ensembles/results/*/steps": "Greedy rounds: the pick, its gain and every candidate's gain.",
    "Ranking/ensembles/results/*/candidates": "Teams scored (exhaustive) or gains evaluated (greedy).",
    "Ranking/ensembles/results/*/seconds": "Wall time of the search.",
    "Ranking/ensembles/results/*/error": "Why this scorer selected no team, or null.",
    "Ranking/ensembles/results/*/info": "Pool-level diagnostics.",
    "Ranking/ensembles/recommendation": (
        "The recommended team and how sure the target sample lets us be (1.3), as for a model; absent "
        "when no scorer selected a team."
    ),
    "Ranking/ensembles/recommendation/scorer": "The ensemble scorer whose teams are recommended.",
    "Ranking/ensembles/recommendation/team": "Model ids of the recommended team.",
    "Ranking/ensembles/recommendation/runner_up": "The best other candidate team, or null.",
    "Ranking/ensembles/recommendation/margin": "Score difference to the runner-up (scorer units), or null.",
    "Ranking/ensembles/recommendation/confidence_set": (
        "The teams that cannot be separated from the recommended one at `level`."
    ),
    "Ranking/ensembles/recommendation/clear": "True when the set holds the recommended team alone.",
    "Ranking/ensembles/recommendation/level": "Confidence level of the set (e.g. 0.95).",
    "Ranking/ensembles/recommendation/candidates": "Per candidate team: score, `p_best`, rank interval.",
    "Ranking/ensembles/recommendation/candidates/*/members": "Model ids of the team.",
    "Ranking/ensembles/recommendation/candidates/*/score": "Its score on the whole sample.",
    "Ranking/ensembles/recommendation/candidates/*/p_best": "Share of resamples in which this team is first.",
    "Ranking/ensembles/recommendation/candidates/*/rank_low": "Lower end of its rank interval.",
    "Ranking/ensembles/recommendation/candidates/*/rank_high": "Upper end of its rank interval.",
    "Ranking/ensembles/recommendation/method": "The method and its parameters (resamples, seed, budget).",
    # the job
    "JobView/id": "Job id (time-sortable).",
    "JobView/name": "The request's run name (a label of the job, not part of its fingerprint), or null.",
    "JobView/status": "queued, running, succeeded, failed or cancelled (the last three are final).",
    "JobView/created_at": "UTC timestamp of the submission.",
    "JobView/started_at": "UTC timestamp of the first work on it, or null.",
    "JobView/finished_at": "UTC timestamp of its end, or null.",
    "JobView/progress": "Progress per stage and per model.",
    "JobView/error": "Why the job failed or was cancelled, or null.",
    "JobView/errors": "Every error recorded: failed models, failed or dead-lettered messages.",
    "JobView/cache_hit": "The ranking came from the cache (no worker was involved).",
    "JobView/fingerprint": "The request fingerprint (the cache key): identical requests share it.",
    "JobView/ranking_id": "Where the ranking is once succeeded: GET /v1/rankings/{ranking_id}.",
    "JobView/ranking_url": "The same as a path.",
    "JobView/request": "The request as submitted.",
    "JobView/stage": "Where the job is: queued, extract, score, finalise, done.",
    "ModelProgress/status": "queued, extracting, extracted, scoring, done, cached, failed, dropped.",
}

ENUMS: dict[str, list[str]] = {
    "JobView/stage": ["queued", "extract", "score", "finalise", "done"],
    "ModelProgress/status": [
        "queued",
        "extracting",
        "extracted",
        "scoring",
        "done",
        "cached",
        "failed",
        "dropped",
    ],
}

EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "RankingRequest": [
        {
            "dataset": "data:pets/train",
            "models": ["resnet50.tv2_in1k", "vit_b_16.tv_in1k", "cnn4.*"],
            "scorers": ["logme", "leep"],
            "params": {"logme": {"tol": 0.001}},
            "sampling": {"max_per_class": 50, "seed": 0},
        }
    ],
    "InspectRequest": [{"dataset": "data:pets/train", "decode": True}],
    "Problem": [
        {
            "type": "urn:zoorank:problem:unknown-model",
            "title": "No zoo entry is registered under the requested id",
            "status": 422,
            "detail": "Unknown zoo entry 'resnet51'. Valid names: ...",
            "instance": "/v1/rankings",
            "code": "unknown-model",
            "param": "/models/0",
        }
    ],
}

_STATUS_EVENT = {
    "type": "object",
    "description": "The job's status changed (event `status`).",
    "properties": {
        "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
        "reconciled": {"type": "boolean", "description": "set by the start-up reconciliation of lost jobs"},
    },
    "required": ["status"],
}
_PROGRESS_EVENT = {
    "type": "object",
    "description": "Progress of a stage or a model (event `progress`); GET the job for the totals.",
    "properties": {
        "stage": {"type": "string", "enum": ENUMS["JobView/stage"]},
        "model": {"type": "string", "description": "the model concerned, if any"},
        "worker": {"type": "string", "description": "the worker doing the work"},
    },
}
_DONE_EVENT = {
    "type": "object",
    "description": "The job ended (event `done`, the last one); `ranking_id` is set when it succeeded.",
    "properties": {
        "status": {"type": "string", "enum": ["succeeded", "failed", "cancelled"]},
        "ranking_id": {"type": "string", "description": "GET /v1/rankings/{ranking_id}"},
    },
    "required": ["status"],
}
EVENT_PAYLOADS: dict[str, dict[str, Any]] = {
    "JobStatusEvent": _STATUS_EVENT,
    "JobProgressEvent": _PROGRESS_EVENT,
    "JobDoneEvent": _DONE_EVENT,
}

_RETRY_AFTER = {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
_HEADERS: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {
    ("/v1/rankings", "post", "202"): {
        "Location": {"description": "The job: /v1/jobs/{id}", "schema": {"type": "string"}},
        "Retry-After": {"description": "Seconds before polling the job", "schema": {"type": "integer"}},
        "Idempotent-Replayed": {
            "description": "`true` when this is the recorded answer to an earlier request with the same key",
            "schema": {"type": "string", "enum": ["true"]},
        },
    },
    ("/v1/rankings", "post", "200"): {
        "Location": {"description": "The job: /v1/jobs/{id}", "schema": {"type": "string"}},
        "Idempotent-Replayed": {
            "description": "`true` when this is the recorded answer to an earlier request with the same key",
            "schema": {"type": "string", "enum": ["true"]},
        },
    },
    ("/v1/rankings/{ranking_id}", "get", "200"): {
        "ETag": {"description": "Strong tag of the ranking (If-None-Match)", "schema": {"type": "string"}},
        "Cache-Control": {"description": "private, max-age=60", "schema": {"type": "string"}},
    },
    ("/v1/rankings/{ranking_id}", "get", "304"): {
        "ETag": {"description": "The tag that matched", "schema": {"type": "string"}},
    },
}
_EVENTS_EXAMPLE = 'event: done\nid: 1733600000000-0\ndata: {"status":"succeeded","ranking_id":"j01"}\n\n'
_EVENTS_DESCRIPTION = (
    "A `text/event-stream` body (read it as a stream): events `status`, `progress` and `done`, each with an "
    "`id` (resume after it with Last-Event-ID) and JSON `data` of the schema JobStatusEvent, "
    "JobProgressEvent or JobDoneEvent; a `:` comment line every 15 s keeps the connection open. The "
    "stream ends after `done`."
)


def _node(schemas: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The schema node at ``Schema/field/*/field/{}`` (through $ref, anyOf-with-null, items, maps)."""
    parts = path.split("/")
    node: Any = schemas.get(parts[0])
    for part in parts[1:]:
        node = _concrete(schemas, node)
        if node is None:
            return None
        if part == "*":
            node = node.get("items")
        elif part == "{}":
            node = node.get("additionalProperties")
        else:
            node = (node.get("properties") or {}).get(part)
    return node if isinstance(node, dict) else None


def _concrete(schemas: dict[str, Any], node: Any) -> dict[str, Any] | None:
    """``node`` past a ``$ref`` and past the null branch of a nullable ``anyOf``."""
    for _ in range(8):
        if not isinstance(node, dict):
            return None
        if "$ref" in node:
            node = schemas.get(node["$ref"].rsplit("/", 1)[-1])
            continue
        branches = [b for b in node.get("anyOf", []) if b.get("type") != "null"]
        if len(branches) == 1 and "properties" not in node:
            node = branches[0]
            continue
        return node
    return None


def document(schema: dict[str, Any]) -> None:
    """Add the descriptions, enums, examples, event payloads and response headers to ``schema``."""
    schemas: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    for path, text in DESCRIPTIONS.items():
        node = _node(schemas, path)
        if node is not None and not node.get("description"):
            node["description"] = text
    for path, values in ENUMS.items():
        node = _node(schemas, path)
        if node is not None and node.get("type") == "string":
            node["enum"] = list(values)
    for name, examples in EXAMPLES.items():
        if name in schemas:
            schemas[name]["examples"] = copy.deepcopy(examples)
    for name, payload in EVENT_PAYLOADS.items():
        schemas[name] = copy.deepcopy(payload)
    paths: dict[str, Any] = schema.get("paths", {})
    for (path, method, status), headers in _HEADERS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is not None:
            response.setdefault("headers", {}).update(copy.deepcopy(headers))
    for operations in paths.values():
        for operation in operations.values():
            if "requestBody" in operation:
                operation["responses"].setdefault(
                    "400",
                    {
                        "description": "The body could not be read as JSON",
                        "content": {
                            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                        },
                    },
                )
            for status, response in operation.get("responses", {}).items():
                if str(status) in ("429", "503"):
                    response.setdefault("headers", {})["Retry-After"] = dict(_RETRY_AFTER)
                if str(status) == "401":
                    response.setdefault("headers", {})["WWW-Authenticate"] = {
                        "description": 'Bearer realm="zoorank"',
                        "schema": {"type": "string"},
                    }
    events = paths.get("/v1/jobs/{job_id}/events", {}).get("get", {}).get("responses", {}).get("200")
    if events is not None:
        events["description"] = _EVENTS_DESCRIPTION
        events["content"] = {
            "text/event-stream": {
                # Each event of the stream (Open API 3.2's itemSchema; validators such as schemathesis read
                # it for 3.1 too). No `schema`: the body is a stream, which generated clients hand over raw.
                "itemSchema": {
                    "type": "object",
                    "description": _EVENTS_DESCRIPTION,
                    "required": ["data"],
                    "properties": {
                        "event": {"type": "string", "enum": ["status", "progress", "done"]},
                        "id": {"type": "string", "description": "the event's id: <milliseconds>-<sequence>"},
                        "data": {
                            "type": "string",
                            "description": "JSON of JobStatusEvent, JobProgressEvent or JobDoneEvent",
                        },
                        "retry": {"type": "integer"},
                    },
                },
                "example": _EVENTS_EXAMPLE,
            }
        }
