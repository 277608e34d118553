"""The offline transfer benchmark: targets from packages, fine-tune / linear-probe ground truth, quality.

* :mod:`zoo.benchmark.targets` writes the fixed, seeded target splits (``python -m zoo.benchmark.targets``).
* :mod:`zoo.benchmark.finetune` holds the one fine-tuning protocol and the linear probe.
* :mod:`zoo.benchmark.groundtruth` runs them per (model, target) pair, resumably, into
  ``bench/results/groundtruth.json`` (``python -m zoo.benchmark.groundtruth``).
"""
