"""The one exception tree: every code defined once, every service error in service/errors.py, drawn."""

from __future__ import annotations

import importlib
import pkgutil

import estimators
import service
import zoo
from estimators.errors import ZoorankError
from service import errors
from service.api.problems import STATUS, status_for


def _import_everything() -> None:
    for package in (estimators, zoo, service):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(info.name)


def _tree() -> list[type[ZoorankError]]:
    _import_everything()
    out: list[type[ZoorankError]] = []
    todo: list[type[ZoorankError]] = [ZoorankError]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


def test_each_code_is_defined_once() -> None:
    owners: dict[str, list[str]] = {}
    for cls in _tree():
        if "code" in vars(cls):
            owners.setdefault(cls.code, []).append(f"{cls.__module__}.{cls.__qualname__}")
    assert {code: names for code, names in owners.items() if len(names) > 1} == {}


def test_service_errors_live_in_service_errors() -> None:
    strays = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _tree()
        if cls.__module__.startswith("service.") and cls.__module__ != "service.errors"
    ]
    assert strays == []


def test_the_docstring_draws_every_service_error() -> None:
    drawn = errors.__doc__ or ""
    for cls in _tree():
        if cls.__module__ == "service.errors":
            assert cls.__name__ in drawn and cls.code in drawn, cls.__name__


def test_every_code_has_an_http_status_along_its_class() -> None:
    """No error falls through to the generic 500 by accident: its own code or an ancestor's is listed."""
    unlisted = []
    for cls in _tree():
        if not any(c.__dict__.get("code") in STATUS for c in cls.__mro__ if issubclass(c, ZoorankError)):
            unlisted.append(cls.__name__)
    assert unlisted == []


def test_statuses_of_the_unified_codes() -> None:
    assert status_for(errors.NotFoundError("x")) == 404
    assert status_for(errors.NotReadyError("x")) == 409
    assert status_for(errors.UnavailableError("x")) == 503
    assert status_for(errors.TooManyJobsError("x")) == 429
