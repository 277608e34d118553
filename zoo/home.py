"""The zoorank home: where features, prepared data, fingerprints and the embedded Redis live.

One function for every layer: :class:`service.settings.Settings` takes its ``home`` default from it, and
the zoo's own tools (``make zoo``, the benchmark targets) use it directly, so all of them agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["default_home", "zoorank_home"]


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/zoorank`` when that is set, else ``~/.cache/zoorank``."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "zoorank"


def zoorank_home(env: Mapping[str, str] | None = None) -> Path:
    """``$ZOORANK_HOME`` (absolute) when set, else :func:`default_home`."""
    env = os.environ if env is None else env
    value = env.get("ZOORANK_HOME")
    return Path(value).expanduser().absolute() if value else default_home(env)
