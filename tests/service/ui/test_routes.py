"""The dashboard's HTTP behaviour without a browser: mounting, auth, CSRF, cookies, pages, downloads.

The app is the real one (``create_app``) on a real redis-server; jobs are submitted through the real job
engine (validation, sampling and fingerprinting run; no worker is needed because a finished ranking is
stored on the job with the engine's own ``succeed``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
import redis
from fastapi.testclient import TestClient

from service.app import create_app
from service.catalogue import model_rows
from service.jobs import keys
from service.pipeline.aggregate import SATURATED_LEGEND, SATURATED_MARK, sort_results
from service.pipeline.schema import Candidate, Recommendation
from service.settings import Settings
from service.ui.routes import checked_form, require_user
from tests.service.api.conftest import api_routes
from tests.service.ui.rankings import SCORERS, make_ranking
from tests.support.service import write_image_folder

if TYPE_CHECKING:
    from service.jobs.redis_server import RedisServer

KEY = "ui-routes-test-key"
DIGEST = hashlib.sha256(KEY.encode()).hexdigest()
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ui_routes") / "data"
    write_image_folder(root / "shapes", per_class=6, size=16)
    return root


def make_settings(data_root: Path, redis_server: RedisServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": data_root.parent / "home",
        "data_roots": {"data": data_root},
        "redis_url": redis_server.url,
        "api_keys": (DIGEST,),
        "session_secret": "t" * 40,
        "device": "cpu",
        **overrides,
    }
    return Settings.from_env({}, **values)


@pytest.fixture
def client(data_root: Path, redis_server: RedisServer) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(data_root, redis_server)), base_url="https://testserver") as c:
        yield c


def token(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def log_in(client: TestClient) -> str:
    """Log in; returns the session's CSRF token."""
    page = client.get("/ui/login")
    answer = client.post(
        "/ui/login", data={"csrf_token": token(page.text), "api_key": KEY}, follow_redirects=False
    )
    assert answer.status_code == 303
    return token(client.get("/ui/new").text)


def test_dashboard_is_outside_the_openapi_schema(data_root: Path, redis_server: RedisServer) -> None:
    app = create_app(make_settings(data_root, redis_server))
    assert not [p for p in app.openapi()["paths"] if p.startswith("/ui")]


def test_ui_off_means_no_dashboard(data_root: Path, redis_server: RedisServer) -> None:
    with TestClient(create_app(make_settings(data_root, redis_server, ui=False))) as c:
        assert c.get("/ui/login").status_code == 404
        assert c.get("/health/live").status_code == 200


def test_every_page_but_login_requires_a_session(data_root: Path, redis_server: RedisServer) -> None:
    from starlette.routing import Mount

    app = create_app(make_settings(data_root, redis_server))
    ui = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/ui").app
    public = {"/login", "/logout"}
    routes = list(api_routes(ui.routes))  # type: ignore[attr-defined]
    assert len(routes) > 10
    for route in routes:
        calls = {d.call for d in route.dependant.dependencies}
        if route.path in public:
            assert require_user not in calls, route.path
        else:
            assert require_user in calls, f"{route.path} is not behind the login"
        if "POST" in (route.methods or set()) and route.path != "/login":
            flat = {d.call for d in _all_dependencies(route.dependant)}
            assert checked_form in flat, f"{route.path} does not check the CSRF token"


def _all_dependencies(dependant: Any) -> Iterator[Any]:
    for d in dependant.dependencies:
        yield d
        yield from _all_dependencies(d)


def test_not_logged_in_redirects_to_login_with_next(client: TestClient) -> None:
    answer = client.get("/ui/jobs", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=%2Fui%2Fjobs"


def test_session_cookie_flags(client: TestClient) -> None:
    cookie = client.get("/ui/login").headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "Secure" in cookie  # the test client speaks https here
    assert KEY not in cookie and DIGEST not in cookie


def test_wrong_key_is_refused_and_right_key_logs_in(client: TestClient) -> None:
    page = client.get("/ui/login?next=/ui/jobs")
    refused = client.post(
        "/ui/login",
        data={"csrf_token": token(page.text), "api_key": "nope", "next": "/ui/jobs"},
        follow_redirects=False,
    )
    # post/redirect/get: the refusal is a page to GET, so a refresh does not post the key again
    assert (
        refused.status_code == 303 and refused.headers["location"] == "/ui/login?next=%2Fui%2Fjobs&failed=1"
    )
    wrong = client.get(refused.headers["location"])
    assert wrong.status_code == 401 and "not valid" in wrong.text
    assert "not valid" not in client.get("/ui/login?next=/ui/jobs").text
    right = client.post(
        "/ui/login",
        data={"csrf_token": token(wrong.text), "api_key": KEY, "next": "/ui/jobs"},
        follow_redirects=False,
    )
    assert right.status_code == 303 and right.headers["location"] == "/ui/jobs"
    assert client.get("/ui/jobs").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/v1/jobs", "/ui\\..\\x"])
def test_login_never_redirects_off_the_dashboard(client: TestClient, target: str) -> None:
    page = client.get("/ui/login")
    answer = client.post(
        "/ui/login",
        data={"csrf_token": token(page.text), "api_key": KEY, "next": target},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/ui/new"


def test_posts_without_the_csrf_token_are_refused(client: TestClient) -> None:
    assert client.post("/ui/login", data={"api_key": KEY}).status_code == 403
    good = log_in(client)
    form = {"root": "data", "path": "shapes", "models": "cnn4.glyphs", "submitted": "1"}
    assert client.post("/ui/rankings", data=form).status_code == 403
    assert client.post("/ui/rankings", data={**form, "csrf_token": "x" + good}).status_code == 403
    assert client.post("/ui/logout", data={}).status_code == 403
    assert client.get("/ui/jobs").status_code == 200  # the refused logout did not log out


def test_logout_ends_the_session(client: TestClient) -> None:
    csrf = log_in(client)
    assert client.post("/ui/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/ui/jobs", follow_redirects=False).status_code == 303


def test_a_saved_cookie_is_worth_nothing_after_logout(client: TestClient) -> None:
    csrf = log_in(client)
    saved = client.cookies.get("zoorank_session")
    assert saved and client.get("/ui/jobs", follow_redirects=False).status_code == 200
    assert client.post("/ui/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set("zoorank_session", saved, path="/ui")  # the cookie from before the logout, replayed
    assert client.get("/ui/jobs", follow_redirects=False).status_code == 303


def test_a_session_the_server_no_longer_holds_is_logged_out(
    client: TestClient, redis_server: RedisServer
) -> None:
    """Expired (or deleted) in Redis while the signed cookie is still within its max age."""
    log_in(client)
    r = redis.Redis.from_url(redis_server.url)
    sessions = list(r.scan_iter(keys.ui_session("*")))
    assert sessions and all(0 < int(cast(int, r.ttl(k))) <= 8 * 3600 for k in sessions)
    r.delete(*sessions)
    r.close()
    assert client.get("/ui/jobs", follow_redirects=False).status_code == 303


def test_auth_off_means_an_open_dashboard(data_root: Path, redis_server: RedisServer) -> None:
    settings = make_settings(data_root, redis_server, api_keys=())
    with TestClient(create_app(settings)) as c:
        assert c.get("/ui/jobs").status_code == 200
        assert c.get("/ui/login", follow_redirects=False).status_code == 303


def test_inspect_shows_counts_chart(client: TestClient) -> None:
    csrf = log_in(client)
    answer = client.post(
        "/ui/inspect",
        data={"csrf_token": csrf, "root": "data", "path": "shapes"},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    assert answer.text.count("<rect") == 3 and "No corrupt image" in answer.text
    refused = client.post(
        "/ui/inspect",
        data={"csrf_token": csrf, "root": "data", "path": "../.."},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 403 and "path-not-allowed" in refused.text


def test_submit_errors_come_back_on_the_form(
    client: TestClient, data_root: Path, redis_server: RedisServer
) -> None:
    csrf = log_in(client)
    form = {"csrf_token": csrf, "root": "data", "path": "shapes", "models": "no_such_model", "submitted": "1",
            "name": "my run"}  # fmt: skip
    posted = client.post("/ui/rankings", data=form, follow_redirects=False)
    # post/redirect/get: the refusal is a redirect to the form, which a refresh only reloads
    assert posted.status_code == 303 and posted.headers["location"].startswith("/ui/new?flash=")
    for _ in range(2):  # the page and its refresh: the same form, the same error
        answer = client.get(posted.headers["location"])
        assert answer.status_code == 422 and "unknown-model" in answer.text
        assert 'value="shapes"' in answer.text and 'value="my run"' in answer.text  # the input is kept
    bad_seed = client.post("/ui/rankings", data={**form, "models": "cnn4.glyphs", "seed": "x"})
    assert bad_seed.status_code == 422 and "seed" in bad_seed.text
    bad_name = client.post("/ui/rankings", data={**form, "models": "cnn4.glyphs", "name": "a\u0007b"})
    assert bad_name.status_code == 422 and "printable" in bad_name.text
    # another browser session cannot read the flash (its values and error stay with the session that posted)
    with TestClient(
        create_app(make_settings(data_root, redis_server)), base_url="https://testserver"
    ) as other:
        log_in(other)
        stranger = other.get(posted.headers["location"])
        assert stranger.status_code == 200 and "unknown-model" not in stranger.text
        assert 'value="my run"' not in stranger.text
    for token_text in ("not-a-token!", "x" * 40):  # malformed, or unknown (expired): a blank form
        blank = client.get("/ui/new?flash=" + token_text)
        assert blank.status_code == 200 and 'id="form-error"' not in blank.text
    assert client.get("/ui/new?flash=" + "x" * 65).status_code == 422  # over the bound of a token


def test_inspect_without_htmx_redirects_to_the_form_showing_the_inspection(client: TestClient) -> None:
    csrf = log_in(client)
    form = {"csrf_token": csrf, "root": "data", "path": "shapes", "models": "cnn4.glyphs", "submitted": "1"}
    posted = client.post("/ui/inspect", data=form, follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"].startswith("/ui/new?flash=")
    page = client.get(posted.headers["location"])
    assert page.status_code == 200 and page.text.count("<rect") == 3 and "No corrupt image" in page.text
    assert re.search(r'value="cnn4\.glyphs"[^>]*checked', page.text)  # the ticked model stays ticked
    refused = client.post("/ui/inspect", data={**form, "path": "../.."})
    assert refused.status_code == 403 and "path-not-allowed" in refused.text


def submit(client: TestClient, csrf: str, **extra: str) -> str:
    form = {"csrf_token": csrf, "root": "data", "path": "shapes", "models": "cnn4.glyphs", "scorers": "logme",
            "submitted": "1", **extra}  # fmt: skip
    answer = client.post("/ui/rankings", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    job_id = answer.headers["location"].rsplit("/", 1)[1]
    assert client.get(f"/ui/jobs/{job_id}").status_code == 200
    return job_id


def test_job_ranking_model_and_downloads(client: TestClient) -> None:
    csrf = log_in(client)
    job_id = submit(client, csrf, seed="11")
    page = client.get(f"/ui/jobs/{job_id}").text
    assert "queued" in page and 'sse-connect="/ui/jobs/' in page and "cancel-button" in page
    assert client.get(f"/ui/rankings/{job_id}").status_code == 409  # not ready yet

    engine = client.app.state.zoorank.engine  # type: ignore[attr-defined]
    ranking = make_ranking({"m1": {"a": 3.0, "b": 1.0, "c": 2.0}, "m2": {"a": 1.0, "b": 2.0, "c": 1.0}})
    assert engine.succeed(job_id, ranking.to_json())

    finished = client.get(f"/ui/jobs/{job_id}").text
    assert "100 %" in finished and "sse-connect" not in finished and f"/ui/rankings/{job_id}" in finished
    assert [m.id for m in ranking.models] == ["m1", "m2"]  # by aggregate rank
    table = client.get(f"/ui/rankings/{job_id}?sort=b&dir=asc")
    assert table.status_code == 200
    assert table.text.index('data-model="m2"') < table.text.index('data-model="m1"')  # b ranks m2 first
    assert "<svg" in table.text and "Kendall" in table.text and ranking.dataset.fingerprint in table.text
    assert client.get(f"/ui/rankings/{job_id}?dir=sideways").status_code == 422
    model = client.get(f"/ui/rankings/{job_id}/models/m1")
    assert model.status_code == 200 and "Aggregate rank" in model.text
    assert 'id="download-csv"' in table.text and 'class="button"' in table.text
    assert client.get(f"/ui/rankings/{job_id}/models/zz").status_code == 404
    as_json = client.get(f"/ui/rankings/{job_id}/download.json")
    assert as_json.json() == ranking.to_dict() and "attachment" in as_json.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(client.get(f"/ui/rankings/{job_id}/download.csv").text)))
    assert [r[1] for r in rows[1:]] == [m.id for m in ranking.models]


def test_cancel_and_jobs_list(client: TestClient) -> None:
    csrf = log_in(client)
    job_id = submit(client, csrf, seed="12")
    answer = client.post(f"/ui/jobs/{job_id}/cancel", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert "cancelled" in client.get(f"/ui/jobs/{job_id}").text
    assert job_id in client.get("/ui/jobs?status=cancelled").text
    assert job_id not in client.get("/ui/jobs?status=succeeded").text
    assert client.get("/ui/jobs?status=bogus").status_code == 422
    assert client.get("/ui/jobs/unknown_job").status_code == 404


def test_models_page_and_filters(client: TestClient) -> None:
    log_in(client)
    page = client.get("/ui/models?tag=trained&pattern=cnn4.*").text
    assert 'data-model="cnn4.glyphs"' in page and 'data-model="resnet8.glyphs"' not in page
    fragment = client.get("/ui/model-picker?pattern=resnet8.*", headers={"HX-Request": "true"}).text
    assert "resnet8.glyphs" in fragment and "cnn4.glyphs" not in fragment


def test_security_headers(client: TestClient) -> None:
    page = client.get("/ui/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"  # the page carries a CSRF token
    assert "no-store" not in client.get("/ui/static/htmx.min.js").headers.get("cache-control", "")


def test_login_attempts_are_rate_limited(data_root: Path, redis_server: RedisServer) -> None:
    import time

    import redis

    from service.jobs import keys

    settings = make_settings(data_root, redis_server, requests_per_minute=3)
    with TestClient(create_app(settings)) as c:
        csrf = token(c.get("/ui/login").text)
        if time.time() % 60 > 55:  # keep the four attempts inside one per-minute window
            time.sleep(6)
        window = int(time.time() // 60)
        redis.Redis.from_url(redis_server.url).delete(keys.ratelimit("ip:testclient", window))  # other tests
        codes = [
            c.post("/ui/login", data={"csrf_token": csrf, "api_key": f"guess{i}"}).status_code
            for i in range(4)
        ]
    assert codes[:3] == [401, 401, 401] and codes[3] == 429


def test_event_stream_of_a_finished_job_sends_the_panel_then_done(client: TestClient) -> None:
    csrf = log_in(client)
    job_id = submit(client, csrf, seed="13")
    client.post(f"/ui/jobs/{job_id}/cancel", data={"csrf_token": csrf})
    with client.stream("GET", f"/ui/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        body = "".join(stream.iter_text())
    assert body.index("event: panel") < body.index("event: done")
    assert 'data-status="cancelled"' in body


def test_jobs_list_pages(client: TestClient) -> None:
    from service.jobs.models import JobStatus
    from service.jobs.request import RankingRequest, Sampling

    log_in(client)
    engine = client.app.state.zoorank.engine  # type: ignore[attr-defined]
    for seed in range(100, 100 + 22):  # more than a page (20), all owned by the logged-in key
        body = RankingRequest(dataset="data:shapes", models=["cnn4.glyphs"], sampling=Sampling(seed=seed))
        view, _ = engine.submit(body, owner=DIGEST[:16])
        engine.cancel(view.id)
    first = client.get("/ui/jobs?status=cancelled").text
    match = re.search(r'href="(/ui/jobs\?status=cancelled&amp;cursor=[^"]+)" id="next-page"', first)
    assert match is not None
    second = client.get(match.group(1).replace("&amp;", "&")).text

    def ids(html: str) -> set[str]:
        return set(re.findall(r'href="/ui/jobs/([A-Za-z0-9_-]+)"', html))

    assert len(ids(first)) == 20 and ids(second) and not ids(first) & ids(second)
    assert len(engine.list(JobStatus.cancelled, None, 200, DIGEST[:16])[0]) >= 22


def test_ensembles_section_is_shown(client: TestClient) -> None:
    from dataclasses import replace

    from service.pipeline.schema import EnsembleResult, EnsembleSection, ErrorInfo, TeamResult

    csrf = log_in(client)
    job_id = submit(client, csrf, seed="14")
    ranking = make_ranking({"m1": {"a": 3.0, "b": 1.0, "c": 2.0}, "m2": {"a": 1.0, "b": 2.0, "c": 1.0}})
    team = TeamResult(members=("m1", "m2"), score=0.75, terms={"cohesion": {"m1": 0.1}})
    section = EnsembleSection(k=2, mode="greedy", results=(
        EnsembleResult("osborn", "1", {}, (team,), ("m1", "m2"), {}, {}),
        EnsembleResult("ens_eep", "1", {}, (), (), {"m1": ErrorInfo("not-applicable", "no head")}, {},
                       error=ErrorInfo("team-size", "fewer eligible models than k")),
    ))  # fmt: skip
    engine = client.app.state.zoorank.engine  # type: ignore[attr-defined]
    assert engine.succeed(job_id, replace(ranking, ensembles=section).to_json())
    page = client.get(f"/ui/rankings/{job_id}").text
    ensembles = page[page.index('id="ensembles"') : page.index('id="provenance"')]
    assert "osborn" in ensembles and "<code>m1</code>, <code>m2</code>" in ensembles
    assert "fewer eligible models than k" in ensembles and "not-applicable" in ensembles


def test_the_recommended_team_opens_the_ensembles_section(client: TestClient) -> None:
    from dataclasses import replace

    from service.pipeline.schema import (
        EnsembleResult,
        EnsembleSection,
        TeamCandidate,
        TeamRecommendation,
        TeamResult,
    )

    csrf = log_in(client)
    job_id = submit(client, csrf, seed="15")
    ranking = make_ranking({"m1": {"a": 3.0, "b": 1.0, "c": 2.0}, "m2": {"a": 1.0, "b": 2.0, "c": 1.0}})
    team = TeamResult(members=("m1", "m2"), score=-0.5)
    rec = TeamRecommendation(
        scorer="mean_leep", team=("m1", "m2"), runner_up=("m1", "m3"), margin=0.01,
        confidence_set=(("m1", "m2"), ("m1", "m3")), clear=False, level=0.95,
        candidates=(TeamCandidate(("m1", "m2"), -0.5, 0.62, 1, 2),
                    TeamCandidate(("m1", "m3"), -0.51, 0.38, 1, 2)),
        method={"name": "stratified-paired-bootstrap", "resamples": 200, "seed": 0,
                "resampled": {"mean_leep": "refit"}, "fixed": {}},
    )  # fmt: skip
    section = EnsembleSection(
        k=2,
        mode="greedy",
        results=(EnsembleResult("mean_leep", "1", {}, (team,), ("m1", "m2", "m3"), {}, {}),),
        recommendation=rec,
    )
    engine = client.app.state.zoorank.engine  # type: ignore[attr-defined]
    assert engine.succeed(job_id, replace(ranking, ensembles=section).to_json())
    page = client.get(f"/ui/rankings/{job_id}").text
    box = page[page.index('id="team-recommendation"') : page.index('id="provenance"')]
    assert "Recommended team <strong><code>m1</code> + <code>m2</code></strong>" in box
    assert "by mean_leep" in box and "p_best 0.62" in box
    assert "<strong>No clear winner</strong> at 95%: it cannot be separated from" in box
    assert 'id="team-runner-up">Runner-up <code>m1</code> + <code>m3</code> (p_best 0.38)' in box


def test_a_revoked_key_ends_its_sessions(
    client: TestClient, data_root: Path, redis_server: RedisServer
) -> None:
    log_in(client)
    cookie = client.cookies.get("zoorank_session")
    assert cookie
    other = hashlib.sha256(b"another key").hexdigest()  # same session secret, the logged-in key removed
    with TestClient(
        create_app(make_settings(data_root, redis_server, api_keys=(other,))), base_url="https://testserver"
    ) as c:
        c.cookies.set("zoorank_session", cookie, path="/ui")
        assert c.get("/ui/jobs", follow_redirects=False).status_code == 303
    # the key put back: the session was ended server-side when seen with its key removed, it stays ended
    client.cookies.set("zoorank_session", cookie, path="/ui")
    assert client.get("/ui/jobs", follow_redirects=False).status_code == 303


def test_only_the_key_that_created_a_job_may_cancel_it(client: TestClient) -> None:
    from service.jobs.request import RankingRequest, Sampling

    csrf = log_in(client)
    engine = client.app.state.zoorank.engine  # type: ignore[attr-defined]
    body = RankingRequest(dataset="data:shapes", models=["cnn4.glyphs"], sampling=Sampling(seed=15))
    view, _ = engine.submit(body, owner="0123456789abcdef")  # another key's job
    page = client.get(f"/ui/jobs/{view.id}").text
    assert 'id="job-status"' in page and "cancel-button" not in page
    refused = client.post(f"/ui/jobs/{view.id}/cancel", data={"csrf_token": csrf})
    assert refused.status_code == 403 and "not-owner" in refused.text
    assert engine.get(view.id).status.value == "queued"
    own = submit(client, csrf, seed="16")
    assert "cancel-button" in client.get(f"/ui/jobs/{own}").text
    engine.cancel(view.id)


def test_jobs_list_shows_run_name_top_model_and_error(client: TestClient) -> None:
    from service.jobs.request import RankingRequest, Sampling

    csrf = log_in(client)
    done = submit(client, csrf, seed="17", name="flowers · baseline")
    engine = client.app.state.zoorank.engine  # type: ignore[attr-defined]
    ranking = make_ranking({"m1": {"a": 3.0, "b": 1.0, "c": 2.0}, "m2": {"a": 1.0, "b": 2.0, "c": 1.0}})
    assert engine.succeed(done, ranking.to_json())
    body = RankingRequest(dataset="data:shapes", models=["cnn4.glyphs"], sampling=Sampling(seed=18))
    failed, _ = engine.submit(body, owner=DIGEST[:16])
    engine.cancel(failed.id)
    page = client.get("/ui/jobs").text

    def row(job_id: str) -> str:
        start = page.index(f'data-job="{job_id}"')
        return page[start : page.index("</tr>", start)]

    assert "flowers · baseline" in row(done) and "<code>m1</code>" in row(done)  # m1: best aggregate
    assert engine.get(done).name == "flowers · baseline"
    cancelled = engine.get(failed.id)
    assert cancelled.error is not None and cancelled.error.message in row(failed.id)
    assert 'class="top-model"></td>' in row(failed.id)  # no ranking, no top model
    assert "flowers · baseline" in client.get(f"/ui/jobs/{done}").text


def test_model_page_shows_diagnostics_as_labelled_tables(client: TestClient) -> None:
    from dataclasses import replace

    csrf = log_in(client)
    job_id = submit(client, csrf, seed="19")
    ranking = make_ranking({"m1": {"a": 3.0, "b": 1.0, "c": 2.0}, "m2": {"a": 1.0, "b": 2.0, "c": 1.0}})
    info: dict[str, dict[str, Any]] = {
        "hscore": {"rank": 154},
        "logme": {"converged": 0.5},
        "a": {"new_thing": [1, 2]},
    }
    models = tuple(replace(m, info=info) if m.id == "m1" else m for m in ranking.models)
    engine = client.app.state.zoorank.engine  # type: ignore[attr-defined]
    assert engine.succeed(job_id, replace(ranking, models=models).to_json())
    page = client.get(f"/ui/rankings/{job_id}/models/m1").text
    diagnostics = page[page.index('id="diagnostics"') :]
    assert '<pre class="json">' not in page  # no raw JSON dump
    assert "Covariance directions kept" in diagnostics and "154 directions" in diagnostics
    assert "not the model&#39;s position in the ranking" in diagnostics
    assert "50 %" in diagnostics and "Converged label columns" in diagnostics
    assert "New thing" in diagnostics and "1, 2" in diagnostics  # an unknown key is shown, labelled
    assert 'id="diagnostics"' not in client.get(f"/ui/rankings/{job_id}/models/m2").text


@pytest.mark.parametrize(("keys", "warned"), [((), False), ((DIGEST,), True)])
def test_the_session_secret_warning_only_with_authentication_on(
    data_root: Path,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    keys: tuple[str, ...],
    warned: bool,
) -> None:
    settings = make_settings(data_root, redis_server, api_keys=keys, session_secret=None)
    with caplog.at_level("WARNING", logger="zoorank.ui"):
        create_app(settings)
    assert any("ZOORANK_SESSION_SECRET" in r.getMessage() for r in caplog.records) is warned


def test_the_ranking_page_opens_with_the_recommendation(client: TestClient) -> None:
    """The box shows what the document says (model, margin, the set); ties get the CLI's legend."""
    csrf = log_in(client)
    job_id = submit(client, csrf, seed="21")
    # m1 and m2 tie at scorer a's best score: a saturated tie, marked as the CLI marks it
    ranking = make_ranking({"m1": {"a": 3.0, "b": 2.0, "c": 2.0}, "m2": {"a": 3.0, "b": 1.0, "c": 1.0}})
    rec = Recommendation(
        model="m1", runner_up="m2", margin=0.5, confidence_set=("m1", "m2"), clear=False, level=0.95,
        candidates=(Candidate("m1", 0.6, 1, 2), Candidate("m2", 0.4, 1, 2)),
        method={"name": "stratified-paired-bootstrap", "resamples": 200, "seed": 0,
                "resampled": {"a": "refit"}, "fixed": {"b": "over budget"}},
    )  # fmt: skip
    engine = client.app.state.zoorank.engine  # type: ignore[attr-defined]
    marked = sort_results(ranking.models, orientation=dict.fromkeys(SCORERS, True))
    assert engine.succeed(job_id, replace(ranking, models=marked, recommendation=rec).to_json())
    page = client.get(f"/ui/rankings/{job_id}").text
    box = page[
        page.index('id="recommendation"') : page.index("</section>", page.index('id="recommendation"'))
    ]
    assert page.index('id="recommendation"') < page.index('id="table"')  # the page opens with it
    assert "<code>m1</code>" in box and "No clear winner" in box and "p_best 0.60" in box
    assert re.search(r"cannot be separated from\s*<code>m2</code>", box), box
    assert "0.50 aggregate ranks behind" in box and "held at the full-sample value" in box
    assert f"{SATURATED_MARK} = {SATURATED_LEGEND}" in page  # the legend, in the CLI's words
    assert f"(1.50{SATURATED_MARK})" in page


def test_a_ranking_before_schema_1_2_says_it_has_no_recommendation(client: TestClient) -> None:
    csrf = log_in(client)
    job_id = submit(client, csrf, seed="22")
    engine = client.app.state.zoorank.engine  # type: ignore[attr-defined]
    assert engine.succeed(job_id, make_ranking({"m1": {"a": 1.0}, "m2": {"a": 2.0}}).to_json())
    assert "has no recommendation" in client.get(f"/ui/rankings/{job_id}").text


def test_models_without_weights_cannot_be_ticked(client: TestClient) -> None:
    log_in(client)
    absent = [m["id"] for m in model_rows() if m["weights"]["available"] is False]
    usable = [m["id"] for m in model_rows() if m["weights"]["available"]]
    assert absent and usable, "the test machine has models with and without weights"
    fragment = client.get("/ui/model-picker?pattern=*", headers={"HX-Request": "true"}).text
    for model_id in absent:
        tag = re.search(rf'<input[^>]*value="{re.escape(model_id)}"[^>]*>', fragment)
        assert tag and " disabled" in tag.group(0), model_id
    for model_id in usable:
        tag = re.search(rf'<input[^>]*value="{re.escape(model_id)}"[^>]*>', fragment)
        assert tag and " disabled" not in tag.group(0), model_id
