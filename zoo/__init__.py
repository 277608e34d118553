"""zoorank model zoo: registry of pre-trained models, target-dataset readers, feature extraction, store."""

from zoo import entries  # noqa: F401  (registers the built-in entries)
from zoo._api import (
    ENTRIES,
    Preprocessing,
    WeightsSource,
    ZooEntry,
    get_entry,
    list_entries,
    register_entry,
)

__all__ = [
    "ENTRIES",
    "Preprocessing",
    "WeightsSource",
    "ZooEntry",
    "get_entry",
    "list_entries",
    "register_entry",
]
