"""The one use-case layer that the CLI, the HTTP API and the dashboard share for everything but rankings.

Each front end only renders what these functions return, so the three never disagree:

* :func:`model_rows` / :func:`model_row`: the zoo's entries as JSON-ready documents (``zoorank models -f
  json``, ``GET /v1/models``, the dashboard's model pages), with where each weights file comes from and
  whether it is present here;
* :func:`scorer_rows`: the registered scorers, each flagged ``default`` when the settings run it;
* :func:`describe_dataset` / :func:`inspect_dataset`: what a dataset reference holds (``zoorank
  inspect``, ``POST /v1/datasets/inspect``, the dashboard's inspect button);
* :func:`dataset_roots`: the named roots a reference may point into.

Rankings themselves come from :func:`service.pipeline.run.rank` (in process) or the job engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import estimators
import zoo
from estimators._registry import ScorerKind
from service.errors import LimitExceededError, NotFoundError
from service.pipeline.sample import DecodeFailure, find_corrupt, open_target
from service.settings import Settings
from zoo.errors import UnknownModelError
from zoo.weights import obtainable, origin, present

__all__ = [
    "dataset_roots",
    "describe_dataset",
    "inspect_dataset",
    "model_row",
    "model_rows",
    "scorer_rows",
]


def _model_document(entry: zoo.ZooEntry) -> dict[str, Any]:
    row = entry.to_dict()
    row["weights"] = {
        **row["weights"],
        "origin": origin(entry.weights, entry.meta),
        "present": present(entry.weights),
        "available": obtainable(entry.weights),
    }
    row["meta"] = {str(k): v for k, v in row["meta"].items()}
    return row


def model_rows(pattern: str = "*", tags: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every zoo entry whose id matches ``pattern`` (fnmatch) and that carries every tag in ``tags``.

    Returns:
        One JSON-ready document per entry, in registry order: the entry's fields, and under ``weights``
        also ``origin`` (one phrase saying where the file comes from) and ``present`` (whether the file
        exists here; None for a random initialisation) and ``available`` (present, or downloadable here:
        what a ranking request is checked against).
    """
    return [_model_document(e) for e in zoo.list_entries(pattern, tags=tags)]


def model_row(model_id: str) -> dict[str, Any]:
    """The document of one zoo entry (see :func:`model_rows`).

    Raises:
        NotFoundError: no entry has this id.
    """
    try:
        entry = zoo.get_entry(model_id)
    except UnknownModelError as exc:
        raise NotFoundError(exc.message, param="model_id") from None
    return _model_document(entry)


def scorer_rows(settings: Settings, kind: ScorerKind | None = None) -> list[dict[str, Any]]:
    """Every registered scorer (of ``kind``, when given) as a JSON-ready document.

    Returns:
        The registry's description of each scorer plus ``default``: whether a ranking that names no
        scorer runs it (``settings.default_scorers``).
    """
    defaults = set(settings.default_scorers)
    rows = []
    for name in estimators.list_scorers(kind):
        row = estimators.get_scorer(name).to_dict()
        row["default"] = name in defaults
        rows.append(row)
    return rows


def dataset_roots(settings: Settings) -> list[dict[str, str]]:
    """The named roots (``name`` and an example reference ``name:path/to/dataset``), in settings order.

    Directory roots come first, then object-storage roots (their URLs are not shown).
    """
    names = [*settings.named_roots, *settings.remote_roots]
    return [{"name": name, "example": f"{name}:path/to/dataset"} for name in names]


def describe_dataset(
    dataset_ref: str,
    settings: Settings,
    *,
    base: Path | None,
    decode: bool = True,
    examples: int = 10,
) -> dict[str, Any]:
    """What ``zoorank inspect`` shows: reader, location, classes and counts, fingerprint, corrupt images.

    Args:
        decode: decode every image to count the corrupt ones (reads the whole dataset once).
        examples: how many corrupt images to list by key.

    Returns:
        A JSON-ready dict (``corrupt`` is None when ``decode`` is False).
    """
    ds, digest = open_target(dataset_ref, settings, base=base)
    corrupt: int | None = None
    listed: list[DecodeFailure] = []
    if decode:
        corrupt, listed = find_corrupt(ds, examples=examples)
    counts = ds.class_counts()
    return {
        "reference": dataset_ref,
        "location": str(ds.location),
        "reader": ds.format,
        "num_samples": len(ds),
        "num_classes": ds.num_classes,
        "classes": list(ds.classes),
        "class_counts": counts,
        "min_per_class": min(counts.values()) if counts else 0,
        "fingerprint": digest,
        "corrupt": corrupt,
        "corrupt_examples": [{"key": c.key, "code": c.code, "reason": c.reason} for c in listed],
        "corrupt_threshold": settings.corrupt_image_threshold,
        "over_threshold": None if corrupt is None else corrupt > settings.corrupt_image_threshold * len(ds),
    }


#: Each scorer's benchmark reliability (mean tau_w against the fine-tune truth), copied here by
#: ``python -m benchmark quality`` (``benchmark.quality.write_reliability``) so the service need not
#: import the benchmark.
RELIABILITY_FILE = Path(__file__).resolve().parent / "scorer_reliability.json"


def scorer_reliability() -> dict[str, float]:
    """Scorer name -> its benchmark mean tau_w (empty when the file is absent or unreadable)."""
    try:
        data = json.loads(RELIABILITY_FILE.read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in data["tau_w"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def inspect_dataset(dataset_ref: str, settings: Settings, *, decode: bool) -> dict[str, Any]:
    """What the HTTP API and the dashboard show of a dataset: :func:`describe_dataset` for a remote caller.

    References resolve under the configured roots only (``base=None``); decoding every image is refused
    above ``max_images_per_job`` images; the server-side location is left out.

    Raises:
        LimitExceededError: ``decode`` on a dataset larger than the per-job image limit.
        PathNotAllowedError, DatasetNotFoundError, DatasetFormatError: the reference cannot be used.
    """
    summary = describe_dataset(dataset_ref, settings, base=None, decode=False)
    if decode:
        if summary["num_samples"] > settings.max_images_per_job:
            raise LimitExceededError(
                f"decoding {summary['num_samples']} images exceeds the {settings.max_images_per_job}-image "
                "limit (ZOORANK_MAX_IMAGES); inspect with decode=false",
                param="max_images_per_job",
            )
        summary = describe_dataset(dataset_ref, settings, base=None, decode=True)
    summary.pop("location", None)  # the server-side path is not the caller's business
    return summary
