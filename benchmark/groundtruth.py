"""Resumable ground-truth build: ``python -m benchmark.groundtruth [--methods ...] [--budget-seconds S]``.

One **unit** is one (method, model, target) triple, method ``probe`` (linear probe) or ``finetune`` (the
full fine-tuning protocol of :mod:`benchmark.finetune`); a target is a benchmark target
(:mod:`benchmark.targets`) in its full (``digits``) or 10-shot (``digits_10shot``) variant, always
tested on the same test split. Every finished unit is appended to ``<results>/groundtruth.json`` at once,
under a file lock and by an atomic replace, with its protocol, the target's content digests, the weights
digest, the library versions, the hardware and the wall and CPU seconds it took. A rerun skips every unit
already recorded under the same protocol version, so the build can be stopped at any point (``kill``,
a budget, the end of a session) and continued by running the same command again.

Fine-tuned models also leave their per-sample test probabilities in
``<results>/probs/<target>/<model>.npz`` (float16, compressed; the test labels in ``labels.npz``), from
which the accuracy of any ensemble (average of members' probabilities) follows.

Order of work (cheap and informative first): every linear probe (small models first); then fine-tunes of
the small (28-32 px) models, 10-shot variants before full targets; then the ImageNet (64 px) models the
same way. Within a stage targets come one after another, so a partial build has complete model sets for
the first targets rather than a few models on every target.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import json
import os
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from benchmark import targets as tg
from benchmark.finetune import (
    FINETUNE_PROTOCOL,
    MEMORY_FORMAT,
    PROBE_PROTOCOL,
    extract,
    finetune,
    linear_probe,
    preprocess,
)
from zoo._api import ZooEntry, get_entry, list_entries
from zoo.atomic import atomic_path, write_text_atomic
from zoo.models import load_model

__all__ = [
    "DEFAULT_RESULTS",
    "Unit",
    "default_models",
    "load_results",
    "main",
    "plan_units",
    "run_units",
]

#: The committed results: ground truth, per-sample probabilities, the quality report (package-relative, so
#: every command finds them from any working directory).
DEFAULT_RESULTS = Path(__file__).resolve().parent / "results"
SHOT_SUFFIX = f"_{tg.SHOTS}shot"
METHODS = ("probe", "finetune")


@dataclass(frozen=True)
class Unit:
    """One unit of work: ``method`` on ``model`` for ``target`` (``<base>`` or ``<base>_10shot``)."""

    method: str
    model: str
    target: str

    @property
    def base_target(self) -> str:
        """The benchmark target the images come from."""
        return self.target.removesuffix(SHOT_SUFFIX)

    @property
    def train_split(self) -> str:
        """``train`` or ``train10``."""
        return f"train{tg.SHOTS}" if self.target.endswith(SHOT_SUFFIX) else "train"

    @property
    def key(self) -> str:
        """Identity in the results file."""
        return f"{self.method}|{self.model}|{self.target}"


def default_models() -> list[ZooEntry]:
    """The default zoo: every entry tagged ``builtin`` or ``trained``, by id."""
    return [e for e in list_entries() if {"builtin", "trained"} & set(e.tags)]


def _is_small(entry: ZooEntry) -> bool:
    return entry.preprocessing.input_size <= 32


def all_targets() -> list[str]:
    """Every target name: the full variants, then the 10-shot ones."""
    return [*tg.TARGETS, *(t + SHOT_SUFFIX for t in tg.TARGETS)]


def plan_units(
    models: Sequence[ZooEntry], targets: Sequence[str], methods: Sequence[str] = METHODS
) -> list[Unit]:
    """Every unit in the order of work (see the module docstring)."""
    small = [e.id for e in models if _is_small(e)]
    large = [e.id for e in models if not _is_small(e)]
    full = [t for t in targets if not t.endswith(SHOT_SUFFIX)]
    few = [t for t in targets if t.endswith(SHOT_SUFFIX)]
    units: list[Unit] = []
    if "probe" in methods:  # a model's full and 10-shot variants side by side: one feature extraction
        bases = list(dict.fromkeys(t.removesuffix(SHOT_SUFFIX) for t in targets))
        units += [
            Unit("probe", m, t)
            for group in (small, large)
            for base in bases
            for m in group
            for t in (base, base + SHOT_SUFFIX)
            if t in targets
        ]
    if "finetune" in methods:
        for group in (small, large):
            units += [Unit("finetune", m, t) for ts in (few, full) for t in ts for m in group]
    return units


# --------------------------------------------------------------------------- results file


def _results_file(results: Path) -> Path:
    return results / "groundtruth.json"


def load_results(results: Path = DEFAULT_RESULTS) -> dict[str, Any]:
    """The results document (``{"schema": 1, "runs": [...]}``); an empty one when there is no file."""
    path = _results_file(results)
    if not path.is_file():
        return {"schema": 1, "runs": []}
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


@contextlib.contextmanager
def _locked(results: Path) -> Iterator[None]:
    results.mkdir(parents=True, exist_ok=True)
    with open(results / ".groundtruth.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _append(results: Path, record: dict[str, Any]) -> None:
    """Add ``record`` to the results file atomically (lock, read, replace); a same-key record is replaced."""
    with _locked(results):
        doc = load_results(results)
        runs = [r for r in doc["runs"] if r["key"] != record["key"]]
        runs.append(record)
        runs.sort(key=lambda r: (r["method"], r["target"], r["model"]))
        doc["runs"] = runs
        path = _results_file(results)
        write_text_atomic(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def _done_keys(results: Path) -> set[str]:

    version = {"probe": PROBE_PROTOCOL.version, "finetune": FINETUNE_PROTOCOL.version}
    return {
        r["key"]
        for r in load_results(results)["runs"]
        if r["protocol"].get("version") == version[r["method"]]
    }


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("zoorank", "torch", "numpy", "scikit-learn", "timm"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def _hardware(threads: int) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"device": "cpu", "cpu": cpu, "logical_cpus": os.cpu_count(), "torch_threads": threads}


# --------------------------------------------------------------------------- running


class _Inputs:
    """Preprocessed target splits for one model, cached for the model's consecutive units."""

    def __init__(self) -> None:
        self._key: tuple[str, str] | None = None
        self._value: dict[str, Any] = {}

    def get(self, entry: ZooEntry, target: str, targets_root: Path | None) -> dict[str, Any]:

        if self._key != (entry.id, target):
            value: dict[str, Any] = {}
            for split in ("train", "test", f"train{tg.SHOTS}"):
                data = tg.load_split(target, split, targets_root)
                value[split] = (preprocess(data.images, entry.preprocessing), data.labels)
                value[f"{split}_digest"] = tg.content_digest(data)
            self._key, self._value = (entry.id, target), value
        return self._value


def _run_unit(
    unit: Unit, inputs: dict[str, Any], results: Path, log: Any, feats_cache: dict[str, Any]
) -> dict[str, Any]:

    entry = get_entry(unit.model)
    x_train, y_train = inputs[unit.train_split]
    x_test, y_test = inputs["test"]
    details: dict[str, Any]
    if unit.method == "probe":
        cache_key = f"{unit.model}|{unit.base_target}"
        if cache_key not in feats_cache:
            feats_cache.clear()
            model = load_model(entry, "cpu")
            feats_cache[cache_key] = {s: extract(model, inputs[s][0]) for s in ("train", "test", "train10")}
        feats = feats_cache[cache_key]
        res = linear_probe(feats[unit.train_split], y_train, feats["test"], y_test, PROBE_PROTOCOL)
        accuracy, protocol = res.accuracy, PROBE_PROTOCOL.to_dict()
        details = {"c": res.c, "cv_accuracy": res.cv_accuracy}
    else:
        res_ft = finetune(entry, x_train, y_train, x_test, y_test, FINETUNE_PROTOCOL, log=log)
        accuracy, protocol = res_ft.accuracy, FINETUNE_PROTOCOL.to_dict()
        details = {
            "lr": res_ft.lr,
            "val_accuracy": res_ft.val_accuracy,
            "steps": res_ft.steps,
            "memory_format": MEMORY_FORMAT,
        }
        probs_dir = results / "probs" / unit.target
        probs_dir.mkdir(parents=True, exist_ok=True)
        labels_path = probs_dir / "labels.npz"
        if not labels_path.is_file():
            np.savez_compressed(labels_path, labels=y_test.astype(np.int64))
        with atomic_path(probs_dir / f"{unit.model}.npz") as tmp:
            np.savez_compressed(tmp, probs=res_ft.test_probs.astype(np.float16))
        details["probs"] = str((probs_dir / f"{unit.model}.npz").relative_to(results))
    return {
        "accuracy": accuracy,
        "details": details,
        "protocol": protocol,
        "target_digests": {
            "train": inputs[f"{unit.train_split}_digest"],
            "test": inputs["test_digest"],
        },
    }


def run_units(
    units: Sequence[Unit],
    *,
    results: Path = DEFAULT_RESULTS,
    targets_root: Path | None = None,
    threads: int = 1,
    budget_seconds: float | None = None,
    max_units: int | None = None,
    log: Any = None,
) -> int:
    """Run the units not yet recorded, in order; start none after the budget. Returns how many ran.

    Each unit is checked against the results file again just before it starts, so several runs over
    overlapping units (two processes, or a GPU machine finishing what a CPU run started) skip what the
    others have recorded meanwhile.
    """

    emit = log or (lambda line: sys.stdout.write(line + "\n") and sys.stdout.flush())
    torch.set_num_threads(threads)
    done = _done_keys(results)
    pending = [u for u in units if u.key not in done]
    emit(f"{len(units) - len(pending)} of {len(units)} units already recorded; {len(pending)} to run")
    for t in sorted({u.base_target for u in pending}):
        tg.prepare_target(t, targets_root)
    start = time.monotonic()
    cache = _Inputs()
    feats_cache: dict[str, Any] = {}
    ran = 0
    for unit in pending:
        if budget_seconds is not None and time.monotonic() - start > budget_seconds:
            emit(f"budget of {budget_seconds:.0f} s used; stopping (rerun to continue)")
            break
        if max_units is not None and ran >= max_units:
            break
        if unit.key in _done_keys(results):  # another run (other units, other machine) recorded it
            emit(f"skip {unit.key}: recorded meanwhile by another run")
            continue
        emit(f"[{ran + 1}/{len(pending)}] {unit.key}")
        wall0, cpu0 = time.perf_counter(), time.process_time()
        entry = get_entry(unit.model)
        with threadpool_limits(limits=threads):
            inputs = cache.get(entry, unit.base_target, targets_root)
            out = _run_unit(unit, inputs, results, emit, feats_cache)
        record = {
            "key": unit.key,
            "method": unit.method,
            "model": unit.model,
            "target": unit.target,
            "base_target": unit.base_target,
            "train_split": unit.train_split,
            **out,
            "weights_sha256": entry.weights.sha256,
            "versions": _versions(),
            "hardware": _hardware(threads),
            "seconds": round(time.perf_counter() - wall0, 2),
            "cpu_seconds": round(time.process_time() - cpu0, 2),
            "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        _append(results, record)
        ran += 1
        emit(f"    accuracy {out['accuracy']:.4f} ({record['seconds']:.0f} s)")
    return ran


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.groundtruth", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--models", nargs="+", default=["*"], help="fnmatch patterns of default-zoo ids")
    parser.add_argument("--targets", nargs="+", default=None, help="target names (default: all)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--targets-root", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch / BLAS threads (default 1)")
    parser.add_argument("--budget-seconds", type=float, default=None, help="start no unit after this")
    parser.add_argument("--max-units", type=int, default=None)
    parser.add_argument("--list", action="store_true", help="print the pending units and exit")
    args = parser.parse_args(argv)
    models = [e for e in default_models() if any(fnmatch.fnmatchcase(e.id, p) for p in args.models)]
    targets = args.targets or all_targets()
    unknown = [t for t in targets if t.removesuffix(SHOT_SUFFIX) not in tg.TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; valid: {', '.join(all_targets())}")
    units = plan_units(models, targets, args.methods)
    if args.list:
        done = _done_keys(args.results)
        for u in units:
            sys.stdout.write(f"{'done ' if u.key in done else 'todo '}{u.key}\n")
        return 0
    run_units(
        units,
        results=args.results,
        targets_root=args.targets_root,
        threads=args.threads,
        budget_seconds=args.budget_seconds,
        max_units=args.max_units,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
