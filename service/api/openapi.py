"""Dump the API's OpenAPI schema from the app object, without a server or Redis.

``python -m service.api.openapi [FILE]`` writes the schema (sorted keys, two-space indent, trailing
newline) to FILE or stdout; ``make client`` feeds it to ``openapi-python-client``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from service.api.app import create_api
from service.settings import Settings


def schema() -> dict[str, Any]:
    """The OpenAPI document of :func:`service.api.create_api` under default settings (no Redis)."""
    app = create_api(Settings.from_env({}))
    return app.openapi()


def dump(path: Path | None = None) -> str:
    """The schema as deterministic JSON text; also written to ``path`` when given."""
    text = json.dumps(schema(), indent=2, sort_keys=True) + "\n"
    if path is not None:
        path.write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    if len(sys.argv) > 1:
        dump(Path(sys.argv[1]))
    else:
        sys.stdout.write(dump())
