"""The dashboard's form submits budget mode (``sampling.budget``): a bad value comes back on the form."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.service.ui.test_routes import KEY, client, data_root, log_in  # noqa: F401 (fixtures)


def test_the_form_submits_a_budget_and_refuses_a_bad_one(client: TestClient) -> None:  # noqa: F811
    csrf = log_in(client)
    form = {"csrf_token": csrf, "root": "data", "path": "shapes", "models": "cnn4.glyphs", "submitted": "1"}
    for bad, why in (("x", "budget"), ("1.5", "budget"), ("0", "budget")):
        refused = client.post("/ui/rankings", data={**form, "budget": bad})
        assert refused.status_code == 422 and why in refused.text, bad
        assert f'name="budget" min="0" max="1" step="any" value="{bad}"' in refused.text  # the input is kept
    posted = client.post("/ui/rankings", data={**form, "budget": "0.9"}, follow_redirects=False)
    assert posted.status_code == 303, posted.text
    job_id = posted.headers["location"].rstrip("/").split("/")[-1]
    job = client.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": KEY})
    assert job.status_code == 200, job.text
    assert job.json()["request"]["sampling"]["budget"] == 0.9
