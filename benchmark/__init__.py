"""The offline transfer benchmark: targets from packages, fine-tune / linear-probe ground truth, quality.

* :mod:`benchmark.targets` writes the fixed, seeded target splits (``python -m benchmark.targets``).
* :mod:`benchmark.finetune` holds the one fine-tuning protocol and the linear probe.
* :mod:`benchmark.groundtruth` runs them per (model, target) pair, resumably, into
  ``benchmark/results/groundtruth.json`` (``python -m benchmark.groundtruth``).
"""
