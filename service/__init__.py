"""zoorank service: the ranking pipeline and every front end over it (layers, lowest first).

:mod:`~service.settings` and :mod:`~service.errors` (configuration, the exception tree) ->
:mod:`~service.pipeline` (dataset reference -> features -> scores -> ranking; no Redis, HTTP or
terminal) -> :mod:`~service.catalogue` (models, scorers, dataset inspection for every front end) ->
:mod:`~service.jobs` (the job engine on Redis) -> :mod:`~service.api` (HTTP, ``/v1``) ->
:mod:`~service.ui` (the dashboard) -> :mod:`~service.app`, :mod:`~service.serve`, :mod:`~service.cli`.
``docs/architecture.md`` draws the whole tree.
"""
