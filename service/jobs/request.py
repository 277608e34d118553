"""A ranking request as the HTTP API receives it, and its fingerprint (the key of single flight and cache).

:class:`RankingRequest` is the body of ``POST /v1/rankings`` (pydantic v2, ``extra="forbid"``, every field
bounded). :func:`to_plan` validates it against the zoo, the scorer registry and the limits
(:func:`service.pipeline.plan`), and :func:`request_fingerprint` identifies exactly what would be computed:

``sha256(canonical JSON of {dataset reference and content fingerprint, sorted (model id, model digest),
scorers in order with version and full parameters, effective sampling, decode policy, extractor and schema
versions, ensemble options, the budget when one is given})``

so that an identical request (whatever the spelling: defaults written out or left out, models in another
order) maps to the same job and cached ranking, and any change that can change a number (a weights file,
a scorer version, one image of the dataset) maps to a new one. The model digest is
``zoo.store.entry_digest`` (id, architecture, weights digest, feature layer and head).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from estimators.errors import InvalidParameterError
from service.pipeline.ensembles import EnsembleOptions
from service.pipeline.plan import plan
from service.pipeline.schema import SCHEMA_VERSION
from service.settings import SEED_LIMIT, Settings
from zoo.features import EXTRACTOR_VERSION
from zoo.store import canonical_json, entry_digest

if TYPE_CHECKING:
    from service.pipeline.plan import RankPlan
    from service.pipeline.sample import SampleSummary

__all__ = [
    "MAX_RUN_NAME_CHARS",
    "MAX_REQUEST_MODELS",
    "MAX_REQUEST_SCORERS",
    "FINGERPRINT_VERSION",
    "ParamValue",
    "RankingRequest",
    "Sampling",
    "request_fingerprint",
    "to_plan",
]

#: Bumped when the fingerprint's inputs change meaning (invalidates every cached ranking).
FINGERPRINT_VERSION = "zoorank-request-v1"
#: Longest lists a request may carry (the per-job model limit ``max_models_per_job`` applies after
#: patterns are expanded).
MAX_REQUEST_MODELS = 256
MAX_REQUEST_SCORERS = 32
_MAX_PARAMS_PER_SCORER = 32
#: Longest run name (characters).
MAX_RUN_NAME_CHARS = 120

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.*?\[\]!-]+$")]
ParamValue = Annotated[str, StringConstraints(max_length=200)] | int | float | bool | None


def _printable_name(value: str) -> str:
    """A run name is printable text on one line (``str.isprintable``: no control, format, private-use or
    separator characters except the plain space), without leading or trailing spaces."""
    if not value.isprintable():
        raise ValueError("a run name must be printable text on one line (no control characters)")
    if value != value.strip():
        raise ValueError("a run name must not start or end with a space")
    return value


#: A run name: 1 to ``MAX_RUN_NAME_CHARS`` printable characters of any script.
RunName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_RUN_NAME_CHARS), AfterValidator(_printable_name)
]


class Sampling(BaseModel):
    """How the dataset is sampled; a missing field takes the server's default (``ZOORANK_MAX_PER_CLASS``...).

    Attributes:
        max_per_class: per-class cap, 0 = no cap.
        max_samples: overall cap (at most ``ZOORANK_MAX_IMAGES``).
        seed: sampling seed, 0 <= seed < 2**32.
        budget: rank in budget mode (``service.pipeline.budget``): forward at most this fraction, in
            (0, 1], of the images x models a full ranking forwards; omitted: a full ranking.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # strict: JSON ``true`` or ``2.0`` is not an integer here (lax pydantic would read them as 1 and 2)
    max_per_class: int | None = Field(default=None, ge=0, le=10_000_000, strict=True)
    max_samples: int | None = Field(default=None, ge=1, le=10_000_000, strict=True)
    seed: int | None = Field(default=None, ge=0, lt=SEED_LIMIT, strict=True)
    budget: float | None = Field(default=None, gt=0.0, le=1.0, allow_inf_nan=False)

    @field_validator("budget", mode="before")
    @classmethod
    def _budget_is_a_number(cls, value: Any) -> Any:
        """JSON ``true`` or ``"0.5"`` is not a fraction here (lax pydantic would read them as numbers)."""
        if isinstance(value, bool | str):
            raise ValueError("budget must be a number in (0, 1]")
        return value


class RankingRequest(BaseModel):
    """Rank zoo models for a dataset (the body of ``POST /v1/rankings``).

    Attributes:
        dataset: a reference under an allowed root: ``name:relative/path``, or an absolute path or
            ``file://`` URL inside a root (``GET /v1/datasets/roots`` lists the names).
        models: zoo ids or fnmatch patterns; none ranks the default zoo (``builtin`` and ``trained``).
        scorers: ``model``/``set`` scorers; none uses the server's defaults.
        params: scorer name -> parameter overrides.
        sampling: sample caps and seed.
        ensemble: also select teams of models (the ranking's ``ensembles`` section).
        name: an optional label for the run (the job lists show it). It is not part of the request
            fingerprint: an identical request under another name joins the running job, or is answered
            from the cache by the job that computed it, which keeps the name it was created with.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field(min_length=1, max_length=1024)
    models: list[Name] | None = Field(default=None, min_length=1, max_length=MAX_REQUEST_MODELS)
    scorers: list[Name] | None = Field(default=None, min_length=1, max_length=MAX_REQUEST_SCORERS)
    params: dict[Name, dict[Name, ParamValue]] | None = Field(default=None, max_length=MAX_REQUEST_SCORERS)
    sampling: Sampling | None = None
    ensemble: EnsembleOptions | None = None
    name: RunName | None = Field(
        default=None,
        description="a label for the run, shown in job lists (not part of the request fingerprint: an "
        "identical request under another name shares the job that computed it, which keeps its own name)",
    )

    def scorer_params(self) -> dict[str, dict[str, Any]]:
        """``params`` with the per-scorer size bound checked (typed error naming the scorer)."""

        out: dict[str, dict[str, Any]] = {}
        for name, values in (self.params or {}).items():
            if len(values) > _MAX_PARAMS_PER_SCORER:
                raise InvalidParameterError(
                    f"too many parameters for {name!r} (at most {_MAX_PARAMS_PER_SCORER})", param="params"
                )
            out[name] = dict(values)
        return out


def to_plan(request: RankingRequest, settings: Settings, *, models: list[str] | None = None) -> RankPlan:
    """Validate ``request`` (no image read): scorers and parameters, models, sampling against the limits.

    Args:
        models: resolved model ids to use instead of the request's ids/patterns (a worker rebuilding a
            job's plan uses the ids fixed at submission).

    Raises:
        UnknownScorerError, InvalidParameterError, UnknownModelError, LimitExceededError.
    """

    sampling = request.sampling or Sampling()
    return plan(
        request.dataset,
        models=models if models is not None else request.models,
        scorers=request.scorers,
        max_per_class=sampling.max_per_class,
        max_samples=sampling.max_samples,
        seed=sampling.seed,
        settings=settings,
        scorer_params=request.scorer_params(),
        base=None,
        ensemble=request.ensemble,
        budget=sampling.budget,
    )


def request_fingerprint(plan: RankPlan, summary: SampleSummary, settings: Settings) -> str:
    """Hex SHA-256 identifying everything that determines the ranking of ``plan`` on ``summary``."""

    doc: dict[str, Any] = {
        "version": FINGERPRINT_VERSION,
        "schema": SCHEMA_VERSION,
        "extractor": EXTRACTOR_VERSION,
        "dataset": {"reference": summary.reference, "fingerprint": summary.fingerprint},
        "models": sorted([e.id, entry_digest(e)] for e in plan.entries),
        "scorers": plan.scorers_dict(),
        "sampling": dict(summary.sampling),
        "decode": decode_policy(settings),
        "ensemble": None
        if plan.ensemble is None
        else {**_dump(plan.ensemble), "recommend_by": settings.default_ensemble_scorer},
    }
    if plan.budget is not None:  # absent from full rankings, so their fingerprints stay as they were
        doc["budget"] = plan.budget
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def decode_policy(settings: Settings) -> dict[str, Any]:
    """The settings that decide which images are decoded or refused (part of every fingerprint)."""
    return {
        "max_image_pixels": settings.max_image_pixels,
        "corrupt_image_threshold": settings.corrupt_image_threshold,
    }


def _dump(options: Any) -> Any:
    dump = getattr(options, "model_dump", None)
    return dump(mode="json") if callable(dump) else options
