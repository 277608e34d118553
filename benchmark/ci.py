"""The CI-size benchmark: 3 small targets, 6 small models, linear-probe truth in about a minute.

``python -m benchmark.ci --write benchmark/results/ci_truth.json`` recomputes the committed numbers that
``tests/benchmark/test_benchmark.py`` compares with. The CI targets are fixed, seeded subsets of the full
targets (:data:`CI_TRAIN_PER_CLASS` train images per class, :data:`CI_TEST` test images), so the CI check runs
exactly the code of the full benchmark (targets -> preprocessing -> features -> probe; then scorers ->
tau_w) on a few hundred images.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from benchmark import targets as tg
from benchmark.finetune import PROBE_PROTOCOL, extract, linear_probe, preprocess
from zoo._api import get_entry
from zoo.models import load_model

__all__ = ["CI_MODELS", "CI_TARGETS", "CI_TEST", "CI_TRAIN_PER_CLASS", "ci_splits", "ci_truth", "main"]

CI_TARGETS = ("digits", "animal_mnist", "fashion_mnist")
#: Small default-zoo models (28-32 px inputs), from several sources and architectures plus the control.
CI_MODELS = (
    "cnn4.fashion_mnist",
    "cnn4.glyphs",
    "cnn4.random_init",
    "digit_cnn.mnist",
    "mobilenet_tiny.glyphs",
    "resnet8.emoji",
)
CI_TRAIN_PER_CLASS = 30
CI_TEST = 300
CI_SEED = 7


def ci_splits(name: str, root: Path | None = None) -> tuple[tg.Split, tg.Split]:
    """The CI (train, test) subsets of target ``name`` (prepared under ``root`` when missing)."""
    tg.prepare_target(name, root)
    train = tg.load_split(name, "train", root)
    test = tg.load_split(name, "test", root)
    rng = np.random.default_rng([CI_SEED, len(name)])
    k = len(train.classes)
    tr = tg.stratified_take(train.labels, CI_TRAIN_PER_CLASS * k, rng)
    te = tg.stratified_take(test.labels, CI_TEST, rng)
    return (
        tg.Split(train.images[tr], train.labels[tr], train.classes),
        tg.Split(test.images[te], test.labels[te], test.classes),
    )


def ci_truth(root: Path | None = None) -> dict[str, dict[str, float]]:
    """Linear-probe test accuracy ``{target: {model: accuracy}}`` of the CI configuration."""

    out: dict[str, dict[str, float]] = {}
    with threadpool_limits(limits=1):
        prev = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for name in CI_TARGETS:
                train, test = ci_splits(name, root)
                out[name] = {}
                for model_id in CI_MODELS:
                    entry = get_entry(model_id)
                    model = load_model(entry, "cpu")
                    f_tr = extract(model, preprocess(train.images, entry.preprocessing))
                    f_te = extract(model, preprocess(test.images, entry.preprocessing))
                    res = linear_probe(f_tr, train.labels, f_te, test.labels, PROBE_PROTOCOL)
                    out[name][model_id] = res.accuracy
        finally:
            torch.set_num_threads(prev)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Print (or ``--write``) the CI linear-probe truth."""
    parser = argparse.ArgumentParser(prog="python -m benchmark.ci")
    parser.add_argument("--write", type=Path, default=None, help="JSON file to write")
    args = parser.parse_args(argv)
    doc = {"protocol": PROBE_PROTOCOL.to_dict(), "truth": ci_truth()}
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    if args.write is None:
        sys.stdout.write(text)
    else:
        args.write.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
