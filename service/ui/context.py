"""What every dashboard request needs besides the API state: settings, the session codec, the templates.

The app (:mod:`service.ui.app`) builds one :class:`UiContext`; the routes read it with :func:`ui_context`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.templating import Jinja2Templates
from starlette.requests import Request

from service.settings import Settings
from service.ui.session import SessionCodec

__all__ = ["UiContext", "ui_context"]


@dataclass(frozen=True)
class UiContext:
    """What every dashboard request needs besides the API state.

    Attributes:
        settings: the process's settings.
        codec: signs and reads session cookies.
        templates: the Jinja2 environment (autoescaping on).
    """

    settings: Settings
    codec: SessionCodec
    templates: Jinja2Templates


def ui_context(request: Request) -> UiContext:
    """The :class:`UiContext` of the app serving ``request``."""
    ctx: UiContext = request.app.state.zoorank_ui
    return ctx
