"""The synchronous client: :class:`Zoorank` and its resources (``jobs``, ``rankings``, ``models``,
``scorers``, ``datasets``)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, overload

import httpx

from ._base import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT_S,
    MAX_RETRY_AFTER_S,
    USER_AGENT,
    SSEDecoder,
    backoff_delay,
    build_ranking_request,
    idempotency_key,
    is_retryable,
    resolve_api_key,
    resolve_base_url,
    validate_inspect_request,
)
from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    JobCancelledError,
    JobFailedError,
    WaitTimeoutError,
    error_from_response,
    parse_retry_after,
)
from ._types import DataRoot, DatasetSummary, Job, JobEvent, ModelInfo, Ranking, ScorerInfo

__all__ = ["Zoorank"]


class Zoorank:
    """A zoorank API client.

    Args:
        base_url: the server (``http://host:8000``); default ``$ZOORANK_URL``.
        api_key: sent as ``Authorization: Bearer``; default ``$ZOORANK_API_KEY`` (none: no key sent).
        timeout: seconds per HTTP request (connect, read, write); also the longest silence on an event
            stream (the server pings every 15 s).
        max_retries: retries of a failed request (connection errors, timeouts, 429, 502-504); 0 disables.
        max_retry_after: the longest ``Retry-After`` waited for; a longer one raises at once.
        http_client: an ``httpx.Client`` to use (proxies, TLS); the client's ``base_url`` is set on it.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_retry_after: float = MAX_RETRY_AFTER_S,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url = resolve_base_url(base_url)
        self.api_key = resolve_api_key(api_key)
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.max_retry_after = max_retry_after
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client()
        self._http.base_url = httpx.URL(self.base_url)
        self._http.headers.update(headers)
        self._http.timeout = httpx.Timeout(timeout)
        self.jobs = Jobs(self)
        self.rankings = Rankings(self)
        self.models = Models(self)
        self.scorers = Scorers(self)
        self.datasets = Datasets(self)

    # -- lifecycle --------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool (when the client created it)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Zoorank:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def with_options(self, *, timeout: float | None = None, max_retries: int | None = None) -> Zoorank:
        """A client for the same server and key with other defaults (its own connection pool)."""
        return Zoorank(
            base_url=self.base_url,
            api_key=self.api_key,
            timeout=self.timeout if timeout is None else timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            max_retry_after=self.max_retry_after,
        )

    # -- the one use case -------------------------------------------------------------------------------

    @overload
    def rank(
        self,
        dataset: str,
        *,
        models: Sequence[str] | None = ...,
        scorers: Sequence[str] | None = ...,
        sampling: Mapping[str, Any] | None = ...,
        params: Mapping[str, Mapping[str, Any]] | None = ...,
        ensemble: Mapping[str, Any] | None = ...,
        wait: Literal[True] = ...,
        timeout: float | None = ...,
        idempotency_key: str | None = ...,
    ) -> Ranking: ...

    @overload
    def rank(
        self,
        dataset: str,
        *,
        models: Sequence[str] | None = ...,
        scorers: Sequence[str] | None = ...,
        sampling: Mapping[str, Any] | None = ...,
        params: Mapping[str, Mapping[str, Any]] | None = ...,
        ensemble: Mapping[str, Any] | None = ...,
        wait: Literal[False],
        timeout: float | None = ...,
        idempotency_key: str | None = ...,
    ) -> Job: ...

    def rank(
        self,
        dataset: str,
        *,
        models: Sequence[str] | None = None,
        scorers: Sequence[str] | None = None,
        sampling: Mapping[str, Any] | None = None,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        ensemble: Mapping[str, Any] | None = None,
        wait: bool = True,
        timeout: float | None = None,
        idempotency_key: str | None = None,
    ) -> Ranking | Job:
        """Rank ``models`` (ids or patterns; none: the server's default zoo) for ``dataset``.

        With ``wait`` (the default) it returns the finished :class:`Ranking`; else the submitted
        :class:`Job`. ``timeout`` bounds the wait (None: no bound).

        Raises:
            RequestValidationError: a misspelled field or wrong type, before anything is sent.
            UnprocessableError, PermissionDeniedError, ...: the server refused the request.
            JobFailedError, JobCancelledError: the job ended without a ranking.
            WaitTimeoutError: still running after ``timeout`` seconds.
        """
        job = self.jobs.create(
            dataset,
            models=models,
            scorers=scorers,
            sampling=sampling,
            params=params,
            ensemble=ensemble,
            idempotency_key=idempotency_key,
        )
        if not wait:
            return job
        job = self.jobs.wait(job.id, timeout=timeout)
        return self.rankings.get(job.ranking_id or job.id)

    # -- transport --------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """One API call with retries; any answer that is not 2xx/304 is raised as a typed error."""
        sent = dict(headers or {})
        if method == "POST":
            sent.setdefault("Idempotency-Key", idempotency_key())
        attempt = 0
        while True:
            request = self._http.build_request(method, path, json=json, params=params, headers=sent)
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                if attempt >= self.max_retries:
                    raise APITimeoutError(f"{method} {path}: no answer within {self.timeout} s") from exc
                delay = backoff_delay(attempt)
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise APIConnectionError(f"{method} {path}: {exc!r}") from exc
                delay = backoff_delay(attempt)
            else:
                if response.is_success or response.status_code == 304:
                    return response
                if stream:
                    response.read()
                    response.close()
                error = error_from_response(response)
                if not is_retryable(response) or attempt >= self.max_retries:
                    raise error
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                if retry_after is not None and retry_after > self.max_retry_after:
                    raise error
                delay = retry_after if retry_after is not None else backoff_delay(attempt)
            time.sleep(delay)
            attempt += 1

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()


class Jobs:
    """``/v1/jobs``: create (submit), get, list, cancel, wait, events."""

    def __init__(self, client: Zoorank) -> None:
        self._client = client

    def create(
        self,
        dataset: str,
        *,
        models: Sequence[str] | None = None,
        scorers: Sequence[str] | None = None,
        sampling: Mapping[str, Any] | None = None,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        ensemble: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Job:
        """Submit a ranking request; the job (already ``succeeded`` when the ranking was cached).

        ``extra_body`` adds request fields by name (checked like the others: an unknown one is refused).
        """
        body = build_ranking_request(
            dataset,
            models=models,
            scorers=scorers,
            sampling=sampling,
            params=params,
            ensemble=ensemble,
            extra=extra_body,
        )
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return Job(self._client._json("POST", "/v1/rankings", json=body, headers=headers))

    def get(self, job_id: str) -> Job:
        return Job(self._client._json("GET", f"/v1/jobs/{job_id}"))

    def list(self, *, status: str | None = None, page_size: int = 50) -> Iterator[Job]:
        """The caller's jobs, newest first, every page (fetched lazily as the iteration goes)."""
        cursor: str | None = None
        while True:
            query: dict[str, Any] = {"limit": page_size}
            if status is not None:
                query["status"] = status
            if cursor is not None:
                query["cursor"] = cursor
            page = self._client._json("GET", "/v1/jobs", params=query)
            for item in page.get("items") or []:
                yield Job(item)
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def cancel(self, job_id: str) -> Job:
        return Job(self._client._json("POST", f"/v1/jobs/{job_id}/cancel"))

    def events(self, job_id: str, *, last_event_id: str | None = None) -> Iterator[JobEvent]:
        """The job's server-sent events until ``done``; a dropped stream is resumed with ``Last-Event-ID``."""
        yield from self._events(job_id, last_event_id, deadline=None)

    def _events(self, job_id: str, last_event_id: str | None, deadline: float | None) -> Iterator[JobEvent]:
        decoder = SSEDecoder(last_event_id)
        failures = 0
        client = self._client
        while True:
            headers = {"Accept": "text/event-stream"}
            if decoder.last_event_id:
                headers["Last-Event-ID"] = decoder.last_event_id
            response = client._send("GET", f"/v1/jobs/{job_id}/events", headers=headers, stream=True)
            try:
                for line in response.iter_lines():
                    event = decoder.feed(line)
                    if event is not None:
                        failures = 0
                        yield event
                        if event.event == "done":
                            return
                    if deadline is not None and time.monotonic() > deadline:
                        return
            except httpx.TransportError as exc:
                failures += 1
                if failures > client.max_retries:
                    raise APIConnectionError(f"event stream of job {job_id} lost: {exc!r}") from exc
            finally:
                response.close()
            if deadline is not None and time.monotonic() > deadline:
                return
            time.sleep(backoff_delay(failures))

    def wait(self, job_id: str, *, timeout: float | None = None) -> Job:
        """Block until the job ends (following its events); the succeeded job.

        Raises:
            JobFailedError, JobCancelledError: the job ended without a ranking.
            WaitTimeoutError: still running after ``timeout`` seconds (None: no bound).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        rounds = 0
        while True:
            job = self.get(job_id)
            if job.done:
                return _finished(job)
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeoutError(f"job {job_id} is still {job.status} after {timeout} s", job_id)
            if rounds:  # the last stream ended before the job did
                time.sleep(backoff_delay(min(rounds, 4)))
            rounds += 1
            for _ in self._events(job_id, None, deadline):
                pass


def _finished(job: Job) -> Job:
    """``job`` when it succeeded; its typed error when it failed or was cancelled."""
    if job.status == "succeeded":
        return job
    reason = (job.error or {}).get("message", "")
    if job.status == "cancelled":
        raise JobCancelledError(f"job {job.id} was cancelled" + (f": {reason}" if reason else ""), job)
    raise JobFailedError(f"job {job.id} {job.status}" + (f": {reason}" if reason else ""), job)


class Rankings:
    """``/v1/rankings``: a finished ranking by id."""

    def __init__(self, client: Zoorank) -> None:
        self._client = client

    def get(self, ranking_id: str) -> Ranking:
        return Ranking(self._client._json("GET", f"/v1/rankings/{ranking_id}"))


class Models:
    """``/v1/models``: the zoo."""

    def __init__(self, client: Zoorank) -> None:
        self._client = client

    def list(self, *, pattern: str = "*", tags: Sequence[str] = ()) -> list[ModelInfo]:
        query: dict[str, Any] = {"pattern": pattern}
        if tags:
            query["tag"] = list(tags)
        return [ModelInfo(m) for m in self._client._json("GET", "/v1/models", params=query)["items"]]

    def get(self, model_id: str) -> ModelInfo:
        return ModelInfo(self._client._json("GET", f"/v1/models/{model_id}"))


class Scorers:
    """``/v1/scorers``: the registered scorers."""

    def __init__(self, client: Zoorank) -> None:
        self._client = client

    def list(self) -> list[ScorerInfo]:
        return [ScorerInfo(s) for s in self._client._json("GET", "/v1/scorers")["items"]]


class Datasets:
    """``/v1/datasets``: inspect a dataset, list the roots."""

    def __init__(self, client: Zoorank) -> None:
        self._client = client

    def inspect(self, dataset: str, *, decode: bool = True) -> DatasetSummary:
        body = validate_inspect_request(dataset, decode)
        return DatasetSummary(self._client._json("POST", "/v1/datasets/inspect", json=body))

    def roots(self) -> list[DataRoot]:
        return [DataRoot(r) for r in self._client._json("GET", "/v1/datasets/roots")["items"]]
