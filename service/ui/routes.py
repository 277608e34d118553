"""The dashboard's pages (server-rendered HTML; htmx only makes parts of them live).

Every page works without JavaScript: filters are GET forms, table sorting is links, the job page offers a
reload link while the job runs (no automatic refresh: content that changes by itself under a reader fails
WCAG 2.2.1). With JavaScript, htmx swaps fragments in place (folder browser, model filter, dataset
inspection) and the job page follows the job's events.

Every route except the login form and the static files depends on :func:`require_user` (a test walks the
routes to keep it that way); every POST checks the session's CSRF token (:func:`checked_form`) and answers
with a redirect (post/redirect/get: a refresh never posts a form again; a refused form comes back through
:mod:`service.ui.flash`). The pages call the service's own functions: :class:`~service.jobs.engine.JobEngine`
for jobs and rankings, :mod:`service.catalogue` for the model and scorer listings and dataset inspection,
and :class:`~service.jobs.request.RankingRequest` for submissions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

import zoo
from estimators.errors import ZoorankError
from service.api.auth import Principal, charge_request, match_key
from service.api.events import event_batches, event_response, off_loop
from service.api.problems import status_for
from service.api.schemas import DatasetSummary, ModelInfo, ScorerInfo
from service.api.state import ApiState, api_state
from service.catalogue import inspect_dataset, model_row, model_rows, scorer_rows
from service.errors import CsrfTokenError, LoginRequiredError, NotFoundError, UnauthorizedError
from service.jobs import keys
from service.jobs.models import JobStatus
from service.jobs.request import MAX_RUN_NAME_CHARS, RankingRequest, Sampling
from service.jobs.store import as_str
from service.pipeline.ensembles import EnsembleOptions
from service.ui import charts
from service.ui.browse import list_folder
from service.ui.context import ui_context
from service.ui.diagnostics import diagnostic_tables
from service.ui.flash import Flash, load_flash, save_flash
from service.ui.session import (
    COOKIE_NAME,
    CSRF_FIELD,
    Session,
    check_csrf,
)
from service.ui.views import AGGREGATE, JobPanel, RankingView, RateMeter, format_duration
from service.uploads import UploadSink, purge_expired, store_upload

__all__ = [
    "error_page",
    "http_error_page",
    "install_template_globals",
    "public",
    "router",
    "validation_error_page",
]


_ID = r"^[A-Za-z0-9_-]+$"
JobId = Annotated[str, Path(min_length=1, max_length=128, pattern=_ID)]
#: Statuses of errors the dashboard raises itself (the rest: :func:`service.api.problems.status_for`).
_UI_STATUS = {LoginRequiredError.code: 401, CsrfTokenError.code: 403}
#: A key's owner id is the first 16 hex characters of its digest, as in the API (``Principal.owner``), so
#: jobs submitted from the dashboard belong to the same owner as the key's API calls.
_OWNER_CHARS = 16


# --- sessions and helpers -----------------------------------------------------------------------


def current_session(request: Request) -> Session:
    """The browser's session (a new anonymous one when the cookie is missing, forged or expired)."""
    cached = getattr(request.state, "ui_session", None)
    if isinstance(cached, Session):
        return cached
    ctx = ui_context(request)
    session = ctx.codec.loads(request.cookies.get(COOKIE_NAME))
    if session is None:
        session = Session.anonymous()
        request.state.ui_set_session = session
    request.state.ui_session = session
    return session


def _set_session(request: Request, session: Session) -> None:
    request.state.ui_session = session
    request.state.ui_set_session = session


def _auth_on(state: ApiState) -> bool:
    return bool(state.api_key_digests)


def _logged_in(state: ApiState, session: Session) -> bool:
    """Whether ``session`` may use the dashboard: auth is off, or it logged in with a key still configured
    and the server still holds the session (logout and expiry delete it: a saved cookie is worth nothing).

    A session whose key is no longer configured is deleted on sight, so putting the key back does not
    revive it.
    """
    if not _auth_on(state):
        return True
    if not session.authenticated or session.owner is None:
        return False
    stored = state.redis.get(keys.ui_session(session.sid))
    if stored is None or as_str(stored) != session.owner:
        return False
    if not any(d[:_OWNER_CHARS] == session.owner for d in state.api_key_digests):
        state.redis.delete(keys.ui_session(session.sid))
        return False
    return True


def _start_session(state: ApiState, session: Session) -> None:
    """Record a logged-in ``session`` server-side for ``session_max_age_s`` (the cookie's own limit)."""
    assert session.owner is not None
    state.redis.set(keys.ui_session(session.sid), session.owner, ex=state.settings.session_max_age_s)


def principal(request: Request, session: Session) -> Principal:
    """The API's view of this browser: its key's owner id (None with auth off), quotas counted under it."""
    owner = session.owner if _auth_on(api_state(request)) else None
    client = request.client.host if request.client else "unknown"
    return Principal(owner=owner, quota_id=owner or "ip:" + client)


def require_user(request: Request, session: Annotated[Session, Depends(current_session)]) -> Session:
    """The dependency of every dashboard page: a logged-in session (when keys are configured), charged
    one request against the key's per-minute quota like an API call."""
    state = api_state(request)
    if not _logged_in(state, session):
        raise LoginRequiredError("log in with an API key to use the dashboard")
    charge_request(request, principal(request, session))
    return session


User = Annotated[Session, Depends(require_user)]

#: The login routes: the only pages a visitor without a session may see.
public = APIRouter(include_in_schema=False)
#: Everything else: each route depends on :func:`require_user`.
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_user)])


async def checked_form(request: Request, session: Annotated[Session, Depends(current_session)]) -> FormData:
    """The POSTed form, after checking its CSRF token (form field, or the ``X-CSRF-Token`` header)."""
    form = await request.form()
    token = form.get(CSRF_FIELD)
    submitted = token if isinstance(token, str) else request.headers.get("x-csrf-token")
    check_csrf(session, submitted)
    return form


Form = Annotated[FormData, Depends(checked_form)]


def url(request: Request, name: str, /, query: Mapping[str, Any] | None = None, **params: Any) -> str:
    """Path of a dashboard route (mount prefix included), with an optional query string."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    path = root + str(request.app.router.url_path_for(name, **params))
    items = {k: v for k, v in (query or {}).items() if v is not None and v != ""}
    return path + ("?" + urlencode(items, doseq=True) if items else "")


def install_template_globals(templates: Jinja2Templates) -> None:
    """Helpers the templates use: ``url``, ``fmt_score``, ``fmt_rank``, ``duration``."""
    env = templates.env
    env.globals["url"] = url
    env.globals["duration"] = format_duration
    env.globals["CSRF_FIELD"] = CSRF_FIELD
    env.filters["score"] = lambda v: "—" if v is None else f"{v:.4g}"
    env.filters["rank"] = lambda v: (
        "—" if v is None else (f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}")
    )
    env.filters["rate"] = lambda v: "—" if v is None else (f"{v:.0f}" if v >= 100 else f"{v:.1f}")
    env.filters["short"] = lambda v, n=12: "" if v is None else str(v)[:n]


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """A page or fragment with the common context (session, CSRF token, auth mode, nav)."""
    ctx = ui_context(request)
    session = current_session(request)
    state = api_state(request)
    base = {
        "session": session,
        "csrf": session.csrf,
        "auth_on": _auth_on(state),
        "logged_in": _logged_in(state, session),
    }
    return ctx.templates.TemplateResponse(request, template, {**base, **context}, status_code=status_code)


def redirect(target: str) -> RedirectResponse:
    """``303 See Other`` (a POST answered with a page to GET)."""
    return RedirectResponse(target, status_code=303)


def _status(exc: ZoorankError) -> int:
    if exc.code in _UI_STATUS:
        return _UI_STATUS[exc.code]

    return status_for(exc)


async def error_page(request: Request, exc: Exception) -> Response:
    """A typed error as an HTML page (a login redirect when the session is not logged in)."""
    assert isinstance(exc, ZoorankError)
    if isinstance(exc, LoginRequiredError) and request.method == "GET" and not _is_htmx(request):
        target = url(request, "login_form", query={"next": request.url.path})
        return redirect(target)
    return render(request, "error.html", _status(exc), code=exc.code, message=exc.message)


async def http_error_page(request: Request, exc: Exception) -> Response:
    """Unknown route or wrong method as an HTML page."""
    assert isinstance(exc, StarletteHTTPException)
    code = "not-found" if exc.status_code == 404 else f"http-{exc.status_code}"
    return render(request, "error.html", exc.status_code, code=code, message=str(exc.detail))


async def validation_error_page(request: Request, exc: Exception) -> Response:
    """A malformed URL parameter as an HTML page."""
    assert isinstance(exc, RequestValidationError)
    message = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
    return render(request, "error.html", 422, code="validation-error", message=message)


def _safe_next(request: Request, target: str | None) -> str:
    """Where to go after login: a dashboard path only (never another site)."""
    home = url(request, "new_ranking")
    prefix = url(request, "home").rstrip("/")
    if not target or not target.startswith(prefix + "/") or target.startswith("//") or "\\" in target:
        return home
    return target


# --- login --------------------------------------------------------------------------------------


@router.get("/", name="home")
def home(request: Request) -> Response:
    """The dashboard's entry: the new-ranking page."""
    return redirect(url(request, "new_ranking"))


#: The one message of a refused login (``?failed=1`` after the redirect; nothing else reaches the page).
_LOGIN_FAILED = UnauthorizedError("the API key is not valid")


@public.get("/login", name="login_form")
def login_form(
    request: Request,
    next: Annotated[str | None, Query(max_length=2048)] = None,
    failed: Annotated[bool, Query()] = False,
) -> Response:
    """The login form (an API key); with authentication off there is nothing to log in to. After a refused
    key (``failed``) it says so, with the status of the refusal."""
    state = api_state(request)
    if not _auth_on(state):
        return redirect(url(request, "new_ranking"))
    error = _LOGIN_FAILED.message if failed else None
    return render(request, "login.html", 401 if failed else 200, next=_safe_next(request, next), error=error)


@public.post("/login", name="login")
def login(request: Request, form: Form) -> Response:
    """Check the key (constant-time digest comparison) and start a logged-in session."""
    state = api_state(request)
    target = _safe_next(request, str(form.get("next") or ""))
    if not _auth_on(state):
        return redirect(target)
    # login attempts count against the client address's request quota: no unthrottled key guessing
    client = request.client.host if request.client else "unknown"
    charge_request(request, Principal(owner=None, quota_id="ip:" + client))
    key = form.get("api_key")
    matched = match_key(key, state.api_key_digests) if isinstance(key, str) and key else None
    if matched is None:  # post/redirect/get: a refresh of the answer must not post the key again
        return redirect(url(request, "login_form", query={"next": target, "failed": "1"}))
    session = current_session(request).logged_in(matched[:_OWNER_CHARS])
    _start_session(state, session)
    _set_session(request, session)
    return redirect(target)


@public.post("/logout", name="logout", dependencies=[Depends(checked_form)])
def logout(request: Request) -> Response:
    """End the session server-side (its cookie no longer logs anyone in); a new anonymous one replaces it."""
    api_state(request).redis.delete(keys.ui_session(current_session(request).sid))
    _set_session(request, Session.anonymous())
    return redirect(url(request, "login_form"))


# --- new ranking --------------------------------------------------------------------------------


def _list_models(tag: str | None, pattern: str | None) -> list[ModelInfo]:
    rows = model_rows(pattern or "*", tags=(tag,) if tag else ())
    return [ModelInfo.model_validate(row) for row in rows]


def _list_scorers(request: Request) -> list[ScorerInfo]:
    rows = scorer_rows(api_state(request).settings)
    return [ScorerInfo.model_validate(row) for row in rows if row["kind"] in ("model", "set")]


def _all_tags() -> list[str]:

    return sorted({t for e in zoo.list_entries() for t in e.tags})


def _form_values(source: Mapping[str, Any] | FormData | None, settings: Any) -> dict[str, Any]:
    """The new-ranking form's values (defaults from the settings when a field is absent)."""

    def get(name: str) -> str:
        if source is None:
            return ""
        value = source.get(name)
        return value if isinstance(value, str) else ""

    def get_list(name: str) -> list[str]:
        if source is None:
            return []
        if isinstance(source, FormData):
            return [v for v in source.getlist(name) if isinstance(v, str) and v]
        value = source.get(name)
        if isinstance(value, list):
            return [str(v) for v in value]
        return [value] if isinstance(value, str) and value else []

    roots = list(settings.named_roots)
    checked = get_list("scorers")
    # the defaults keep their configured order (the ranking's column order), then the others as ticked
    scorers = [s for s in settings.default_scorers if s in checked]
    scorers += [s for s in checked if s not in scorers]
    submitted = bool(get("submitted"))
    return {
        "root": get("root") or (roots[0] if roots else ""),
        "path": get("path"),
        "tag": get("tag"),
        "pattern": get("pattern"),
        "models": get_list("models"),
        "scorers": scorers if scorers or submitted else list(settings.default_scorers),
        "max_per_class": get("max_per_class")
        or ("" if submitted else str(settings.default_max_per_class or 0)),
        "max_samples": get("max_samples"),
        "seed": get("seed") or ("" if submitted else str(settings.seed)),
        "budget": get("budget"),
        "ensemble": get("ensemble") == "on",
        "ensemble_k": get("ensemble_k") or "3",
        "name": get("name"),
    }


def _browse(request: Request, root: str, path: str) -> tuple[Any, str | None]:

    if not root:
        return None, None
    try:
        return list_folder(api_state(request).settings, root, path), None
    except ZoorankError as exc:
        return None, exc.message


def _new_page(
    request: Request,
    values: dict[str, Any],
    *,
    status_code: int = 200,
    inspection: dict[str, Any] | None = None,
    inspect_error: str | None = None,
    error: str | None = None,
) -> Response:
    state = api_state(request)
    listing, browse_error = _browse(request, values["root"], values["path"])
    try:
        models = _list_models(values["tag"] or None, values["pattern"] or None)
        model_error = None
    except ZoorankError as exc:
        models, model_error = [], exc.message
    return render(
        request,
        "new.html",
        status_code,
        v=values,
        roots=list(state.settings.dataset_roots),
        listing=listing,
        browse_error=browse_error,
        models=models,
        model_error=model_error,
        tags=_all_tags(),
        scorers=_list_scorers(request),
        inspection=inspection,
        inspect_error=inspect_error,
        bars=None if inspection is None else charts.bar_chart(inspection["class_counts"]),
        error=error,
        max_name=MAX_RUN_NAME_CHARS,
    )


@router.get("/new", name="new_ranking")
def new_ranking(request: Request, flash: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    """The new-ranking form: data root and folder browser, models, scorers, sampling.

    With ``flash`` (the redirect after a refused submission or an inspection without htmx), the form comes
    back with the posted values, and the error or the dataset inspection (:mod:`service.ui.flash`).
    """
    state = api_state(request)
    settings = state.settings
    kept = load_flash(state.redis, current_session(request).csrf, flash) if flash else None
    if kept is not None:
        values = _form_values(kept.values, settings)
        if kept.inspect:
            inspection, error, status_code = _inspection(values, settings)
            return _new_page(
                request, values, status_code=status_code, inspection=inspection, inspect_error=error
            )
        return _new_page(request, values, status_code=kept.status, error=kept.error or None)
    query = {
        k: (request.query_params.getlist(k) if k in ("models", "scorers") else v)
        for k, v in request.query_params.items()
        if k != "flash"
    }
    return _new_page(request, _form_values(query or None, settings))


def _redirect_to_form(request: Request, flash: Flash) -> Response:
    """Post/redirect/get: keep ``flash`` for this session and send the browser to the form showing it."""
    state = api_state(request)
    token = save_flash(state.redis, state.settings.ui_flash_ttl_s, current_session(request).csrf, flash)
    return redirect(url(request, "new_ranking", query={"flash": token}))


@router.get("/browse", name="browse")
def browse(
    request: Request,
    root: Annotated[str, Query(max_length=200)] = "",
    path: Annotated[str, Query(max_length=1024)] = "",
) -> Response:
    """The folder browser fragment (htmx); without htmx, the whole form at that folder."""
    if not _is_htmx(request):
        return redirect(url(request, "new_ranking", query={"root": root, "path": path}))
    listing, error = _browse(request, root, path)
    return render(request, "_browse.html", listing=listing, browse_error=error, fragment=True)


@router.get("/model-picker", name="model_picker")
def model_picker(
    request: Request,
    tag: Annotated[str, Query(max_length=200)] = "",
    pattern: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The model checkboxes filtered by tag and id pattern (htmx fragment)."""
    if not _is_htmx(request):
        return redirect(url(request, "new_ranking", query={"tag": tag, "pattern": pattern}))
    try:
        models, error = _list_models(tag or None, pattern or None), None
    except ZoorankError as exc:
        models, error = [], exc.message
    return render(request, "_models.html", models=models, model_error=error, v={"models": []})


def _reference(values: Mapping[str, Any]) -> str:
    return f"{values['root']}:{values['path'].strip().strip('/')}"


def _inspection(values: Mapping[str, Any], settings: Any) -> tuple[dict[str, Any] | None, str | None, int]:
    """The dataset inspection of the form's dataset: ``(summary, error, HTTP status)``."""
    try:
        summary = inspect_dataset(_reference(values), settings, decode=True)
        return DatasetSummary.model_validate(summary).model_dump(mode="json"), None, 200
    except ZoorankError as exc:
        return None, f"{exc.message} [{exc.code}]", _status(exc)
    except ValidationError as exc:
        return None, "; ".join(e["msg"] for e in exc.errors()), 422


@router.post("/inspect", name="inspect")
def inspect(request: Request, form: Form) -> Response:
    """Inspect the chosen dataset (classes, counts, corrupt images) through the API's own inspection.

    With htmx, the inspection fragment; without, a redirect to the form, which shows the inspection
    (post/redirect/get: a refresh does not post the form again)."""
    settings = api_state(request).settings
    values = _form_values(form, settings)
    if not _is_htmx(request):
        return _redirect_to_form(request, Flash(values=values, error="", status=200, inspect=True))
    inspection, error, status_code = _inspection(values, settings)
    bars = None if inspection is None else charts.bar_chart(inspection["class_counts"])
    return render(
        request, "_inspect.html", status_code, inspection=inspection, inspect_error=error, bars=bars
    )


@router.post("/datasets/upload", name="upload_dataset")
async def upload_dataset(request: Request, form: Form) -> Response:
    """Store an uploaded zip or tar (the API's own upload path), then show the form with that dataset."""
    settings = api_state(request).settings
    archive = form.get("archive")
    if not isinstance(archive, UploadFile) or not archive.filename:
        return _new_page(request, _form_values(None, settings), status_code=422, error="choose an archive")
    await run_in_threadpool(purge_expired, settings)
    sink = await run_in_threadpool(UploadSink, settings)
    try:
        while chunk := await archive.read(1 << 20):
            sink.write(chunk)
        stored = await run_in_threadpool(store_upload, sink)
    except ZoorankError as exc:
        sink.discard()
        values = _form_values(None, settings)
        return _new_page(request, values, status_code=_status(exc), error=f"{exc.message} [{exc.code}]")
    root, _, path = str(stored["reference"]).partition(":")
    return redirect(url(request, "new_ranking", query={"root": root, "path": path}))


def _int_field(values: Mapping[str, Any], name: str) -> int | None:
    text = str(values.get(name) or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationError.from_exception_data(
            "form", [{"type": "int_parsing", "loc": (name,), "input": text}]
        ) from None


def _float_field(values: Mapping[str, Any], name: str) -> float | None:
    text = str(values.get(name) or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValidationError.from_exception_data(
            "form", [{"type": "float_parsing", "loc": (name,), "input": text}]
        ) from None


@router.post("/rankings", name="submit_ranking")
def submit_ranking(request: Request, user: User, form: Form) -> Response:
    """Submit the form as a :class:`~service.jobs.request.RankingRequest`; on success, go to the job page,
    else back to the form with its values and the error (post/redirect/get, :mod:`service.ui.flash`)."""

    state = api_state(request)
    values = _form_values(form, state.settings)
    try:
        sampling = Sampling(
            max_per_class=_int_field(values, "max_per_class"),
            max_samples=_int_field(values, "max_samples"),
            seed=_int_field(values, "seed"),
            budget=_float_field(values, "budget"),
        )
        ensemble = EnsembleOptions(k=_int_field(values, "ensemble_k") or 3) if values["ensemble"] else None
        body = RankingRequest(
            dataset=_reference(values),
            models=values["models"] or None,
            scorers=values["scorers"] or None,
            sampling=sampling,
            ensemble=ensemble,
            name=values["name"].strip() or None,
        )
        view, _cached = state.engine.submit(body, owner=user.owner if _auth_on(state) else None)
    except ZoorankError as exc:
        error = f"{exc.message} [{exc.code}]"
        return _redirect_to_form(request, Flash(values=values, error=error, status=_status(exc)))
    except ValidationError as exc:
        message = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return _redirect_to_form(request, Flash(values=values, error=message, status=422))
    state.metrics.submissions.labels("cached" if _cached else "accepted").inc()
    return redirect(url(request, "job_page", job_id=view.id))


# --- jobs ---------------------------------------------------------------------------------------


@router.get("/jobs", name="jobs")
def jobs(
    request: Request,
    user: User,
    status: Annotated[JobStatus | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """The caller's jobs, newest first, with a status filter and "next page" links."""
    state = api_state(request)
    owner = user.owner if _auth_on(state) else None
    items, next_cursor = state.engine.list(status, cursor or None, state.settings.ui_page_size, owner)
    return render(
        request,
        "jobs.html",
        jobs=items,
        status=status.value if status else "",
        statuses=[s.value for s in JobStatus],
        cursor=cursor,
        next_cursor=next_cursor,
    )


def _panel(request: Request, meter: RateMeter, job_id: str) -> JobPanel:
    return JobPanel(api_state(request).engine.get(job_id), meter.rates())


def _may_cancel(request: Request, session: Session, job_id: str) -> bool:
    """Whether the cancel button is offered: the API lets only the key that created a job cancel it."""
    owner = principal(request, session).owner
    state = api_state(request).engine.state(job_id) or {}
    return owner is None or not state.get("owner") or state.get("owner") == owner


@router.get("/jobs/{job_id}", name="job_page")
def job_page(request: Request, user: User, job_id: JobId) -> Response:
    """A job: overall and per-stage progress, per-model speed and ETA, errors, cancel; live via SSE."""
    engine = api_state(request).engine
    engine.get(job_id)  # not-found before reading the stream
    meter = RateMeter()
    meter.feed(engine.events(job_id, None, 0))
    panel = _panel(request, meter, job_id)
    may_cancel = _may_cancel(request, user, job_id)
    return render(request, "job.html", panel=panel, job=panel.job, may_cancel=may_cancel)


@router.get("/jobs/{job_id}/events", name="job_events")
async def job_events(request: Request, user: User, job_id: JobId) -> EventSourceResponse:
    """The job panel re-rendered at each batch of the job's events (``panel``), then ``done``.

    The events come from the job's Redis stream (:meth:`JobEngine.events`), read from the start on each
    connection so the speeds are measured over the whole extraction, and a reconnect loses nothing.
    """
    engine = api_state(request).engine
    templates = ui_context(request).templates
    await off_loop(engine.get, job_id)  # not-found before the stream starts
    may_cancel = await off_loop(_may_cancel, request, user, job_id)

    def fragment(panel: JobPanel) -> str:
        context = {
            "request": request,
            "panel": panel,
            "job": panel.job,
            "csrf": user.csrf,
            "may_cancel": may_cancel,
        }
        return templates.get_template("_job_panel.html").render(context)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        meter = RateMeter()
        last_id: str | None = None
        async for events in event_batches(request, engine, job_id, None):
            meter.feed(events)
            if events:
                last_id = events[-1][0]
            panel = await off_loop(_panel, request, meter, job_id)
            if events or panel.finished:
                yield ServerSentEvent(data=fragment(panel), event="panel", id=last_id)
            if panel.finished:
                yield ServerSentEvent(data=panel.job.status.value, event="done")
                return

    return event_response(stream())


@router.post("/jobs/{job_id}/cancel", name="cancel_job", dependencies=[Depends(checked_form)])
def cancel_job(request: Request, user: User, job_id: JobId) -> Response:
    """Ask the job to stop (cooperative), with the API's own rule (only the key that created the job may
    cancel it: identical requests of several keys share one job); back to the job page."""
    api_state(request).engine.cancel(job_id, owner=principal(request, user).owner)
    return redirect(url(request, "job_page", job_id=job_id))


# --- rankings -----------------------------------------------------------------------------------


def _ranking(
    request: Request, ranking_id: str, sort: str = AGGREGATE, descending: bool = False
) -> RankingView:
    text = api_state(request).engine.ranking_json(ranking_id)
    return RankingView.from_json(ranking_id, text, sort=sort, descending=descending)


@router.get("/rankings/{ranking_id}", name="ranking_page")
def ranking_page(
    request: Request,
    ranking_id: JobId,
    sort: Annotated[str, Query(max_length=200)] = AGGREGATE,
    dir: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
) -> Response:
    """The ranking: sortable table, colour per scorer column, rank chart, agreement, ensembles, provenance."""
    view = _ranking(request, ranking_id, sort, dir == "desc")
    return render(request, "ranking.html", view=view, r=view.ranking, sort=view.sort, dir=dir)


@router.get("/rankings/{ranking_id}/models/{model_id}", name="ranking_model")
def ranking_model(
    request: Request,
    ranking_id: JobId,
    model_id: Annotated[str, Path(min_length=1, max_length=200)],
) -> Response:
    """One model's row in detail: every score, rank and error, diagnostics, weights, zoo metadata."""

    view = _ranking(request, ranking_id)
    found = view.model(model_id)
    if found is None:
        raise NotFoundError(f"model {model_id!r} is not in ranking {ranking_id}", param="model_id")
    position, model = found
    entry = None
    try:
        entry = ModelInfo.model_validate(model_row(model_id))
    except ZoorankError:
        entry = None  # ranked as an unregistered entry object: no zoo metadata to show
    return render(
        request,
        "model.html",
        view=view,
        r=view.ranking,
        m=model,
        position=position,
        entry=entry,
        diagnostics=diagnostic_tables(model.info),
    )


@router.get("/rankings/{ranking_id}/download.json", name="download_json")
def download_json(request: Request, ranking_id: JobId) -> Response:
    """The ranking document exactly as ``GET /v1/rankings/{id}`` serves it, as a file."""
    text = api_state(request).engine.ranking_json(ranking_id)
    return Response(
        text,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="ranking-{ranking_id}.json"'},
    )


@router.get("/rankings/{ranking_id}/download.csv", name="download_csv")
def download_csv(request: Request, ranking_id: JobId) -> Response:
    """The ranking as CSV (:meth:`~service.pipeline.schema.Ranking.to_csv`, as ``zoorank rank -f csv``)."""
    view = _ranking(request, ranking_id)
    return Response(
        view.ranking.to_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="ranking-{ranking_id}.csv"'},
    )


# --- models -------------------------------------------------------------------------------------


@router.get("/models", name="models")
def models(
    request: Request,
    tag: Annotated[str, Query(max_length=200)] = "",
    pattern: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The zoo: ids, tags, source, licence, whether the weights file is here."""
    items = _list_models(tag or None, pattern or None)
    return render(request, "models.html", models=items, tags=_all_tags(), tag=tag, pattern=pattern)
