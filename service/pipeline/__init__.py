"""The ranking pipeline as stage functions, shared by the CLI (in-process) and the job workers (actors).

::

    plan ──> sample ──> extract_model (one model) ──> score_model (one model) ──> finalise
                         per model, any worker         per model, any worker       set scorers + assemble

* :func:`plan` validates everything that needs no image: scorer names and parameters, model ids (or
  patterns, or :class:`~zoo.ZooEntry` objects in-process), sampling caps against the limits.
* :func:`sample` resolves the dataset reference under the allowed roots, reads and fingerprints it, draws
  the stratified sample and checks the class limits. Its JSON-ready :class:`SampleSummary` is what a job
  stores; a worker rebuilds the identical sample from it (:func:`resample`), and refuses a dataset whose
  content changed since submission (the fingerprint is part of every key).
* :func:`extract_model` gets one model's features from the feature store or a forward pass and returns an
  :class:`Extraction`; only its JSON-ready :class:`ExtractionRecord` (the feature-store key, never the
  arrays) travels through Redis.
* :func:`score_model` runs the per-model scorers on one model's features: a :class:`~service.ranking.Cells`
  that :func:`cells_to_dict` / :func:`cells_from_dict` turn into JSON (the ``score`` actor stores them in
  Redis, and the per-(model, dataset, sampling, scorer) cell cache reuses them across requests).
* :func:`score_sets` runs the set-level scorers (``etran``, ``ncti``) over every model at once, and
  :func:`assemble` builds the :class:`~service.schema.Ranking`: the same function for the CLI and the HTTP
  API, so both emit one schema by construction.

:func:`run_in_process` chains the stages in one process; ``service.ranking.rank`` is that function with
the historical signature. The job engine (:mod:`service.jobs`, :mod:`service.actors`) runs the same stages
as Dramatiq actors.

Per-model scorers see that model's own rows. Set-level scorers and the dataset summary use the rows
every model has (the decode policy is the same for all models, so in practice these are the same rows).

Ensembles: when a request carries ``ensemble`` options and :mod:`service.ensembles` provides
``attach_section(ranking, inputs, labels, options) -> Ranking`` (``inputs``: model id ->
:class:`~service.ranking.ModelInputs` on the common rows, ``labels``: ``(N,)``), :func:`finalise` calls it
last; without that function the options are ignored.
"""
