"""The internal dashboard: server-rendered pages under ``/ui`` of the API app (Jinja2 + vendored htmx).

:func:`mount_ui` is called by :func:`service.app.create_app`; ``ZOORANK_UI=0`` leaves it out. See
:mod:`service.ui.app` for how it shares the API's state, :mod:`service.ui.session` for login and CSRF,
and :mod:`service.ui.routes` for the pages.
"""

from service.ui.app import create_ui_app, mount_ui

__all__ = ["create_ui_app", "mount_ui"]
