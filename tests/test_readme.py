"""The README's Python API examples run as written (documentation that cannot rot silently)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_api_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_has_python_api_examples() -> None:
    assert _python_api_blocks(), "README must document the Python API with a runnable example"


def test_estimators_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    first = _python_api_blocks()[0]
    exec(compile(first, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "True" in out and "degenerate-input" in out
