"""Ensemble-selection benchmark: OSBORN greedy and exhaustive on the trained zoo, per OT solver.

The pool is the ten trained zoo models (``cnn4``, ``resnet8``, ``mobilenet_tiny`` on three source tasks,
plus the untrained ``cnn4.random_init`` control), each with its committed source profile (5,000 source
rows). The target is Animal-MNIST with ``--per-class`` images per class (default 500, i.e. 5,000 target
samples); features come from the feature store, extracted on first use.

For each OSBORN solver (``emd``, ``sinkhorn``, ``gaussian``) it reports, for k = ``--k``:

* **prepare s**: per-member terms over the pool (the ten transports, W_T, cohesion), and of that the
  **transport s** (cost matrices + solver) and its **share**;
* **greedy s** / **exhaustive s**: the searches on top (C(10, 3) = 120 teams exhaustive);
* the greedy team, the exhaustive best team, and whether each equals the EMD selection.

``ens_eep`` and ``mean_leep`` run side by side in the same process as the baseline. Run ``make bench``
or ``python -m perf.ensembles --help`` (``--quick``: 50 images per class, 1,000 source rows).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from estimators import teams
from service.pipeline.assemble import common_inputs
from service.pipeline.ensembles import member_arrays
from service.pipeline.extract import extract_model
from service.pipeline.plan import plan
from service.pipeline.sample import sample
from service.settings import Settings
from zoo.datasets.prepare import prepare
from zoo.home import zoorank_home
from zoo.store import FeatureStore

_HERE = Path(__file__).resolve().parent


POOL = (
    "cnn4.fashion_mnist",
    "cnn4.glyphs",
    "cnn4.emoji",
    "cnn4.random_init",
    "resnet8.fashion_mnist",
    "resnet8.glyphs",
    "resnet8.emoji",
    "mobilenet_tiny.fashion_mnist",
    "mobilenet_tiny.glyphs",
    "mobilenet_tiny.emoji",
)
SOLVERS = ("emd", "sinkhorn", "gaussian")


def _dataset() -> Path:
    home = zoorank_home()
    dest = (home / "data" / "animal-mnist").resolve()
    if not (dest / ".complete").is_file():
        print(f"preparing Animal-MNIST in {dest} ...")
        prepare("animal-mnist", dest)
    return dest


def _pool(per_class: int) -> tuple[dict[str, dict[str, Any]], Any, float]:
    """The ten members' arrays (target features, head, source profile) and the target labels."""

    settings = Settings.from_env()
    start = time.perf_counter()
    request = plan(
        str(_dataset()), models=list(POOL), scorers=["leep"], max_per_class=per_class, settings=settings
    )
    smp = sample(request.dataset_ref, request.spec, settings, base=None)
    store = FeatureStore(settings.store_dir)
    device = settings.resolve_device()
    runs = [extract_model(e, smp, settings, device=device, store=store) for e in request.entries]
    _, labels, inputs = common_inputs(runs)
    members, notes = member_arrays(inputs, {e.id: e for e in request.entries}, need_profiles=True)
    if notes:
        print("profile notes:", notes)
    return members, labels, time.perf_counter() - start


def _run(name: str, members: dict[str, dict[str, Any]], labels: Any, k: int, **params: Any) -> dict[str, Any]:
    start = time.perf_counter()
    objective, ineligible, _ = teams.prepare_pool(name, members=members, labels=labels, **params)
    prepare = time.perf_counter() - start
    start = time.perf_counter()
    greedy, _, _ = teams.search(objective, k=k, mode="greedy")
    greedy_s = time.perf_counter() - start
    start = time.perf_counter()
    full, _, count = teams.search(objective, k=k, mode="exhaustive", top=1)
    exhaustive_s = time.perf_counter() - start
    info = objective.info()
    transport = float(info.get("transport_seconds", 0.0))
    return {
        "scorer": name,
        "params": params,
        "pool": len(objective.names),
        "ineligible": sorted(ineligible),
        "prepare_s": prepare,
        "transport_s": transport,
        "transport_share": transport / (prepare + greedy_s) if prepare + greedy_s > 0 else 0.0,
        "greedy_s": greedy_s,
        "exhaustive_s": exhaustive_s,
        "teams_scored": count,
        "greedy_team": list(greedy[0].members),
        "greedy_score": greedy[0].score,
        "exhaustive_team": list(full[0].members),
        "exhaustive_score": full[0].score,
        "n_target": info.get("n_target"),
        "n_source": info.get("n_source"),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per (scorer, solver); exit status 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=500, help="target images per class (default 500)")
    parser.add_argument("--max-source", type=int, default=5000, help="source rows per member (default 5000)")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--solvers", default=",".join(SOLVERS), help="comma-separated OSBORN solvers")
    parser.add_argument("--quick", action="store_true", help="50 images per class, 1,000 source rows")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.per_class, args.max_source = 50, 1000

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    members, labels, setup = _pool(args.per_class)
    print(
        f"ensemble benchmark: pool of {len(members)} trained models, {len(labels)} target samples, "
        f"k={args.k}, up to {args.max_source} source rows per member (features ready in {setup:.1f} s; "
        f"load average {os.getloadavg()[0]:.2f})"
    )
    results = []
    for solver in [s for s in args.solvers.split(",") if s]:
        results.append(_run("osborn", members, labels, args.k, solver=solver, max_source=args.max_source))
    for name in ("ens_eep", "mean_leep"):
        results.append(_run(name, members, labels, args.k))
    emd = next((r for r in results if r["params"].get("solver") == "emd"), None)
    header = (
        f"{'scorer':<18} {'prepare s':>9} {'transport s':>11} {'share':>6} {'greedy s':>9} "
        f"{'exhaust. s':>10}  greedy team = exhaustive?  same team as EMD?"
    )
    print(header)
    for r in results:
        label = r["scorer"] + (f"/{r['params']['solver']}" if "solver" in r["params"] else "")
        same = set(r["greedy_team"]) == set(r["exhaustive_team"])
        vs_emd = (
            "-"
            if emd is None or r["scorer"] != "osborn"
            else str(set(r["greedy_team"]) == set(emd["greedy_team"]))
        )
        print(
            f"{label:<18} {r['prepare_s']:9.2f} {r['transport_s']:11.2f} {r['transport_share']:6.1%} "
            f"{r['greedy_s']:9.4f} {r['exhaustive_s']:10.4f}  {str(same):<25} {vs_emd}"
        )
        print(f"{'':<18} greedy: {', '.join(r['greedy_team'])} ({r['greedy_score']:.4g})")
        if not same:
            print(f"{'':<18} exhaustive: {', '.join(r['exhaustive_team'])} ({r['exhaustive_score']:.4g})")
    if args.json is not None:
        args.json.write_text(json.dumps({"setup_s": setup, "results": results}, indent=2) + "\n")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
