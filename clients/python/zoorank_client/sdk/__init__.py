"""The zoorank SDK: a hand-written client over the generated one (``zoorank_client.api``/``models``).

>>> from zoorank_client.sdk import Zoorank
>>> client = Zoorank()  # ZOORANK_URL, ZOORANK_API_KEY                              # doctest: +SKIP
>>> ranking = client.rank("data:pets", models=["resnet*"], scorers=["logme"])     # doctest: +SKIP
>>> ranking.best.id                                                                  # doctest: +SKIP

Conventions of openai-python and stripe-python: one client object with resources (``jobs``, ``rankings``,
``models``, ``scorers``, ``datasets``), typed exceptions built from the server's problem documents,
retries with backoff that honour ``Retry-After``, an automatic ``Idempotency-Key`` on every POST, a
default timeout, requests checked before sending and responses read forward-compatibly.
"""

from ._async_client import AsyncZoorank
from ._client import Zoorank
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FieldIssue,
    InternalServerError,
    JobCancelledError,
    JobError,
    JobFailedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ServiceUnavailableError,
    UnprocessableError,
    UnsupportedSchemaError,
    WaitTimeoutError,
    ZoorankError,
)
from ._types import DataRoot, DatasetSummary, Job, JobEvent, ModelInfo, RankedModel, Ranking, Record, ScorerInfo

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncZoorank",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "DataRoot",
    "DatasetSummary",
    "FieldIssue",
    "InternalServerError",
    "Job",
    "JobCancelledError",
    "JobError",
    "JobEvent",
    "JobFailedError",
    "ModelInfo",
    "NotFoundError",
    "PermissionDeniedError",
    "RankedModel",
    "Ranking",
    "RateLimitError",
    "Record",
    "RequestValidationError",
    "ScorerInfo",
    "ServiceUnavailableError",
    "UnprocessableError",
    "UnsupportedSchemaError",
    "WaitTimeoutError",
    "Zoorank",
    "ZoorankError",
]
