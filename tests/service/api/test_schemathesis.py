"""Schemathesis over every operation of the API, with every check, against the live stack: a bounded run
(``--max-time``) with a fixed seed. Every answer must match the OpenAPI document: status codes, content
types, bodies, headers; server errors and undocumented statuses fail the run.

One check is left out: ``positive_data_acceptance`` (a schema-valid request must be accepted). The
documented semantic ``422``s break it by design: a schema-valid request may name a dataset that does
not exist, a model pattern matching more models than ``ZOORANK_MAX_MODELS``, or parameters a scorer
refuses; those are ``422`` problems, which the other checks still hold to the schema.

``negative_data_rejection`` is off for one operation, ``list_models``: its ``tag`` is an array in the
query string, and a "negative" scalar tag serializes exactly as a valid one-tag array (``?tag=x``), so the
server cannot tell them apart and the check reports a schema-violating request accepted (ST201) that was
in fact valid. Invalid tags (empty, over 100 characters) are refused, as ``test_limits.py`` shows.

The key is configured as the ``HTTPBearer`` scheme (not a plain header), so that the ``ignored_auth``
check knows which header carries it and can send requests without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.service.api.conftest import LiveApi

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Seconds the fuzzing may take (the run stops generating after it and reports).
MAX_TIME_S = 60


def test_every_operation_conforms_to_the_schema(live: LiveApi, tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("schemathesis")
    junit, har = tmp_path / "schemathesis.xml", tmp_path / "schemathesis.har"
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f'[auth.openapi.HTTPBearer]\nbearer = "{live.key}"\n\n'
        "[checks.positive_data_acceptance]\nenabled = false\n\n"
        '[[operations]]\ninclude-operation-id = "list_models"\n'
        "checks.negative_data_rejection.enabled = false\n",
        encoding="utf-8",
    )
    # the schema itself is behind the key (ZOORANK_DOCS_REQUIRE_KEY): fetch it as a file
    schema = tmp_path / "openapi.json"
    with live.http() as http:
        response = http.get("/openapi.json")
        response.raise_for_status()
        schema.write_bytes(response.content)
    run = subprocess.run(
        [
            str(cli),
            "--config-file",
            str(config),
            "run",
            str(schema),
            "--url",
            live.url,
            "--max-time",
            str(MAX_TIME_S),
            "--seed",
            "0",
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--report",
            "junit,har",
            "--report-junit-path",
            str(junit),
            "--report-har-path",
            str(har),
        ],
        capture_output=True,
        text=True,
        timeout=MAX_TIME_S * 4,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    # the run was authenticated (a key it did not send would make every answer a vacuous 401)
    entries = json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]
    statuses = Counter(e["response"]["status"] for e in entries)
    assert statuses[200] > 0 and statuses[401] > 0, statuses
    assert not [s for s in statuses if s >= 500], statuses
