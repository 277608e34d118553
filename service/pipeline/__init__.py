"""The ranking pipeline: dataset reference -> features per model -> scores -> ranking, as stage functions.

::

    plan ──> sample ──> extract_model (one model) ──> score_model (one model) ──> finalise
                         per model, any worker         per model, any worker       set scorers + assemble

* :mod:`~service.pipeline.plan` validates everything that needs no image: scorer names and parameters,
  model ids (or patterns, or :class:`~zoo.ZooEntry` objects in-process), sampling caps against the limits.
* :mod:`~service.pipeline.sample` resolves the dataset reference under the allowed roots, reads and
  fingerprints it, draws the stratified sample and checks the class limits. Its JSON-ready
  ``SampleSummary`` is what a job stores; a worker rebuilds the identical sample from it (``resample``)
  and refuses a dataset whose content changed since submission.
* :mod:`~service.pipeline.extract` gets one model's features from the feature store or a forward pass;
  only its JSON-ready ``ExtractionRecord`` (the feature-store key, never the arrays) travels through Redis.
* :mod:`~service.pipeline.score` runs the per-model scorers on one model's features (``Cells``, JSON via
  ``cells_to_dict`` / ``cells_from_dict``) and the set-level scorers (``etran``, ``ncti``) over every model.
* :mod:`~service.pipeline.aggregate` turns cells into per-scorer and aggregate ranks;
  :mod:`~service.pipeline.ensembles` builds the ensembles section when a request asks for one;
  :mod:`~service.pipeline.assemble` builds the :class:`~service.pipeline.schema.Ranking`: the same function
  for the CLI and the HTTP API, so both emit one schema by construction.
* :mod:`~service.pipeline.run` chains the stages in one process (:func:`rank`); the job engine
  (:mod:`service.jobs`) runs the same stages as Dramatiq actors.

Nothing here touches Redis, HTTP or a terminal. Per-model scorers see that model's own rows; set-level
scorers and the dataset summary use the rows every model has (the decode policy is the same for all
models, so in practice these are the same rows).
"""

from service.pipeline.run import rank, run_in_process
from service.pipeline.schema import Ranking
from service.pipeline.types import ModelInputs, ProgressEvent

__all__ = ["ModelInputs", "ProgressEvent", "Ranking", "rank", "run_in_process"]
