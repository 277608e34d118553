"""Registers :mod:`tests.support.zoo_plugin_entries` (imported by worker processes: ``--import``)."""

from __future__ import annotations

from tests.support.zoo_plugin_entries import entries
from zoo import register_entry

for _entry in entries():
    register_entry(_entry)
