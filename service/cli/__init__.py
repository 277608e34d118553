"""The ``zoorank`` command line: commands (:mod:`~service.cli.commands`) and terminal rendering."""

from service.cli.commands import app

__all__ = ["app"]
