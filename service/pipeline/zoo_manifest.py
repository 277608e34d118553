"""The one place a process loads the zoo manifest its settings name (CLI, API, workers, ``rank()``).

Every front end and every worker calls :func:`load_zoo` with its :class:`~service.settings.Settings`, so
they all register the same entries from the same file; repeated calls with an unchanged file cost one
``stat``.
"""

from __future__ import annotations

from service.settings import Settings
from zoo._api import ZooEntry
from zoo.manifest import load_manifest

__all__ = ["load_zoo"]


def load_zoo(settings: Settings) -> tuple[ZooEntry, ...]:
    """Register the entries of ``settings.zoo_manifest`` (none when unset); returns them.

    Raises:
        ManifestError: the manifest is unreadable, malformed (one line per bad entry, with its manifest
            line) or reuses an id of the zoo.
    """
    if settings.zoo_manifest is None:
        return ()
    return load_manifest(settings.zoo_manifest, settings.models_root)
