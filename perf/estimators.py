"""Estimator benchmark: seconds, peak memory and cost relative to the Gram "floor kernel" for every scorer.

For two problem sizes (``N=10,000, D=2,048, C=100`` and ``N=2,000, D=512, C=10``; ``--quick``: two small
ones) it builds seeded synthetic inputs — float32 ReLU-like features with dead units and class structure,
labels, source-head probabilities (softmax of a random head over 1000 source classes at the large size),
source feature mean/std — and runs every registered ``model`` scorer, plus every ``set`` scorer on three
candidates (``D``, ``D/2``, ``D/4`` features), through the public API (the validation gate included).

Per scorer it reports:

* **median s** over ``--repeats`` timed calls after one warm-up call (a warm-up over 20 s, or over 2 s
  with ``--quick``, is itself the one timed call);
* **peak MiB**: the resident-memory high-water mark of the warm-up call above the process's resident
  memory just before it (Linux: the peak is reset through ``/proc/self/clear_refs``; elsewhere the
  ``ru_maxrss`` growth, which needs the fresh process). numpy, torch-CPU and scikit-learn allocations all
  count, unlike with ``tracemalloc``;
* **× floor**: the scorer's time over that of the floor kernel ``FᵀF`` plus one ``D×D``
  ``torch.linalg.eigh`` on the float64 features, each call paired with a floor call just before it in the
  same process, so both see the same machine load: the median of the paired ratios, and the best-of ratio
  (fastest call / fastest floor), the steadier figure on a busy shared machine. A Gram-based scorer
  (LogME, H-score, shrinkage H-score, TransRate, SFDA) should stay at or below 1.5.

**NLEEP against its baseline.** Whenever ``nleep`` is selected, the same run also measures the baseline:
the version-1 code path (kept here as :func:`nleep_v1`: scikit-learn's ``GaussianMixture``, the SFDA
reference's fit, which loops over K components with K d'×d' matrices), at every selected size and at the
extra ``mid`` size (N=4,000, D=1,024, C=40), where both finish. At the large size the baseline needs
about K·d'²·8·3 bytes (≈ 14 GB for K=500, d'=1,077; it was killed at 15 GB after 10 minutes, and the SFDA
reference took ~1,450 s on this machine), so it is skipped above ``--baseline-max-gib`` and says so. The
note column shows each score, so that the new default can be seen to equal the baseline.

Each (size, scorer) runs in a fresh subprocess (so memory figures do not mix); ``--quick`` runs each size
in one process instead, to finish in well under a minute. Run ``make bench`` or
``python -m perf.estimators --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

import estimators
from estimators.leep import expected_empirical_prediction
from estimators.nleep import _round_to_float32
from service.settings import DEFAULT_SCORERS, REPLACED_DEFAULT_SCORERS

_HERE = Path(__file__).resolve().parent


SIZES: dict[str, dict[str, int]] = {
    "large": {"n": 10_000, "d": 2_048, "c": 100, "c_s": 1_000},
    "small": {"n": 2_000, "d": 512, "c": 10, "c_s": 1_000},
}
QUICK_SIZES: dict[str, dict[str, int]] = {
    "quick-a": {"n": 600, "d": 128, "c": 8, "c_s": 100},
    "quick-b": {"n": 200, "d": 32, "c": 4, "c_s": 50},
}
#: sizes run only for NLEEP and its baseline (a size where the baseline finishes in a few minutes)
NLEEP_SIZES: dict[str, dict[str, int]] = {"mid": {"n": 4_000, "d": 1_024, "c": 40, "c_s": 1_000}}
NLEEP_BASELINE = "nleep baseline (v1: sklearn GaussianMixture)"
SLOW_CALL_S = 20.0  # a scorer whose warm-up call takes longer gets a single timed call
GRAM_BASED = {"logme", "hscore", "hscore_shrinkage", "transrate", "sfda"}
TARGET_RATIO = 1.5
FLOOR = "floor: FᵀF + eigh"
#: Scorer sets timed as one row (every member called back to back on the same inputs): the default set a
#: ranking runs on each model, and the default it replaced. Target: <= 3x floor.
SETS: dict[str, tuple[str, ...]] = {
    "default set: " + " + ".join(DEFAULT_SCORERS): DEFAULT_SCORERS,
    "replaced default set: " + " + ".join(REPLACED_DEFAULT_SCORERS): REPLACED_DEFAULT_SCORERS,
}
SET_TARGET_RATIO = 3.0


def make_inputs(n: int, d: int, c: int, c_s: int, seed: int = 0) -> dict[str, Any]:
    """Seeded synthetic inputs of one size.

    Returns:
        ``features`` ``(N, D)`` float32 (ReLU of class means + noise, ~5 % dead units, unequal classes),
        ``labels`` ``(N,)`` int64, ``source_probs`` ``(N, C_s)`` float32, ``source_mean`` / ``source_std``
        ``(D,)`` float64, and ``candidates``: three feature matrices ``(N, D)``, ``(N, D/2)``, ``(N, D/4)``.
    """
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(c, 2.0))
    labels = rng.choice(c, size=n, p=weights)
    labels[:c] = np.arange(c)  # every class present

    def relu_features(dim: int, sub: np.random.Generator) -> np.ndarray:
        means = sub.standard_normal((c, dim), dtype=np.float32) * 0.7
        x = sub.standard_normal((n, dim), dtype=np.float32)
        x += means[labels]
        np.maximum(x, 0.0, out=x)
        x[:, sub.random(dim) < 0.05] = 0.0  # dead units
        return x

    features = relu_features(d, np.random.default_rng(seed + 1))
    head = rng.standard_normal((d, c_s), dtype=np.float32) / math.sqrt(d)
    logits = features @ head
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    source = relu_features(d, np.random.default_rng(seed + 2)).astype(np.float64)
    return {
        "features": features,
        "labels": labels,
        "source_probs": probs.astype(np.float32),
        "source_mean": source.mean(axis=0),
        "source_std": source.std(axis=0),
        "candidates": {
            f"m{i}": relu_features(max(2, d >> i), np.random.default_rng(seed + 10 + i)) for i in range(3)
        },
    }


def _rss_kib() -> tuple[int, int] | None:
    """``(current, peak)`` resident KiB from /proc, or None off Linux."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    try:
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (KeyError, ValueError):
        return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _maxrss_kib() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss // 1024 if sys.platform == "darwin" else rss


def peak_mib(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``fn`` once: (resident high-water mark above the resident memory before it in MiB, result)."""
    if _reset_peak() and (before := _rss_kib()) is not None:
        out = fn()
        after = _rss_kib()
        assert after is not None
        return max(0, after[1] - before[0]) / 1024, out
    start = _maxrss_kib()  # fresh process: ru_maxrss only grows, so this is a lower bound elsewhere
    out = fn()
    return max(0, _maxrss_kib() - start) / 1024, out


def floor_kernel(x64: torch.Tensor) -> None:
    """``FᵀF`` and one symmetric eigendecomposition: the least any Gram-based scorer must do."""
    gram = x64.T @ x64
    torch.linalg.eigh(gram)


class Skipped(Exception):
    """A measurement that is not run, with the reason (printed in the row)."""


def nleep_v1(features: np.ndarray, labels: np.ndarray, max_gib: float) -> float:
    """NLEEP as version 1 computed it: the same preprocessing, then scikit-learn's ``GaussianMixture``
    (full covariances, k-means start, ``random_state=0``) and LEEP (with log) of its posteriors.

    Raises:
        Skipped: the mixture's parameter arrays (covariances, their Cholesky factors and precisions, K×d'×d'
            float64 each, plus a temporary) would exceed ``max_gib``.
    """

    codes = np.unique(labels, return_inverse=True)[1].reshape(-1)
    k = 5 * (int(codes.max()) + 1)
    reduced = PCA(n_components=0.8).fit_transform(_round_to_float32(features.astype(np.float64)))
    reduced /= np.sqrt(np.mean(np.square(reduced)))
    need = 3 * 8 * k * reduced.shape[1] ** 2 / 2**30
    if need > max_gib:
        raise Skipped(
            f"skipped: needs ≈{need:.0f} GiB (3 arrays of K×d'×d' float64, K={k}, d'={reduced.shape[1]}) "
            f"> --baseline-max-gib {max_gib:g}"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        posteriors = GaussianMixture(n_components=k, random_state=0).fit(reduced).predict_proba(reduced)
    eep, _ = expected_empirical_prediction(torch.from_numpy(posteriors), torch.from_numpy(codes), k // 5)
    return float(torch.log(eep).mean())


def _call(name: str, inputs: dict[str, Any], baseline_max_gib: float = 6.0) -> Callable[[], Any]:
    if name in SETS:
        calls = [_call(member, inputs) for member in SETS[name]]
        return lambda: [call() for call in calls]
    if name == NLEEP_BASELINE:
        return lambda: nleep_v1(inputs["features"], inputs["labels"], baseline_max_gib)
    spec = estimators.get_scorer(name)
    if spec.kind == "set":
        cands = {k: {"features": v} for k, v in inputs["candidates"].items()}
        return lambda: estimators.score_set(name, candidates=cands, labels=inputs["labels"])
    used = set(spec.needs) | set(spec.optional) | {"labels"}
    kwargs = {k: inputs[k] for k in used}
    return lambda: estimators.score_details(name, **kwargs)


def run_one(
    name: str, inputs: dict[str, Any], repeats: int, slow_s: float, baseline_max_gib: float = 6.0
) -> dict[str, Any]:
    """Warm-up (memory) then ``repeats`` paired timings of the floor and of scorer ``name``.

    A warm-up slower than ``slow_s`` is the only timed call (paired with one floor call after it).
    """
    x64 = torch.from_numpy(inputs["features"]).to(torch.float64)
    fn: Callable[[], Any] = (
        (lambda: floor_kernel(x64)) if name == FLOOR else _call(name, inputs, baseline_max_gib)
    )
    start = time.perf_counter()
    try:
        mib, value = peak_mib(fn)
    except Skipped as exc:
        return {"name": name, "error": str(exc)}
    except estimators.ZoorankError as exc:
        return {"name": name, "error": f"{type(exc).__name__}: {exc}"}
    warm = time.perf_counter() - start
    times, floors = [], []
    if warm > slow_s:
        start = time.perf_counter()
        floor_kernel(x64)
        floors.append(time.perf_counter() - start)
        times.append(warm)
        repeats = 0
    for _ in range(repeats):
        start = time.perf_counter()
        floor_kernel(x64)
        floors.append(time.perf_counter() - start)
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    out = {
        "name": name,
        "seconds": statistics.median(times),
        "floor": statistics.median(floors),
        "ratio": statistics.median(t / f for t, f in zip(times, floors, strict=True)),
        "best_ratio": min(times) / min(floors),
        "peak_mib": mib,
    }
    if isinstance(value, estimators.ScoreResult):
        out["value"] = value.value
        if name == "nleep":  # what the fit did, and the estimate its budget check used
            keys = (
                "pca_components",
                "mixture_components",
                "iterations",
                "estimated_seconds",
                "estimated_mib",
            )
            out["info"] = {k: value.info[k] for k in keys if k in value.info}
    elif isinstance(value, float):
        out["value"] = value
    return out


def _child(payload: str) -> int:
    job = json.loads(payload)
    if job["threads"]:
        torch.set_num_threads(job["threads"])
    inputs = make_inputs(**job["size"])
    for name in job["names"]:
        result = run_one(name, inputs, job["repeats"], job["slow_s"], job["baseline_max_gib"])
        print(json.dumps(result), flush=True)
    return 0


def _spawn(names: list[str], size: dict[str, int], args: argparse.Namespace) -> list[dict[str, Any]]:
    slow_s = 2.0 if args.quick else SLOW_CALL_S
    job = json.dumps(
        {
            "names": names,
            "size": size,
            "repeats": args.repeats,
            "threads": args.threads,
            "slow_s": slow_s,
            "baseline_max_gib": args.baseline_max_gib,
        }
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "perf.estimators", "--child", job],
            capture_output=True,
            text=True,
            timeout=args.timeout,
            check=False,
            cwd=_HERE.parent,  # the repository root, where `perf` and the packages it measures import from
        )
    except subprocess.TimeoutExpired:
        return [{"name": n, "error": f"timeout after {args.timeout} s"} for n in names]
    out = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    done = {r["name"] for r in out}
    tail = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
    return out + [{"name": n, "error": f"crashed: {tail[0]}"} for n in names if n not in done]


def scorer_names(pattern: list[str] | None) -> list[str]:
    """Selected scorers (substring match), with the NLEEP baseline right after ``nleep``."""
    names = estimators.list_scorers("model") + estimators.list_scorers("set")
    picked = [n for n in names if not pattern or any(p in n for p in pattern)]
    if "nleep" in picked:
        picked.insert(picked.index("nleep") + 1, NLEEP_BASELINE)
    return picked + [name for name, members in SETS.items() if not pattern or set(members) <= set(picked)]


def _row(size: str, r: dict[str, Any], flag_targets: bool) -> str:
    name = r["name"] + (" (3 candidates)" if r["name"] in estimators.list_scorers("set") else "")
    if "error" in r:
        return f"| {size} | {name} | — | — | — | — | {r['error'][:160]} |"
    target = SET_TARGET_RATIO if r["name"] in SETS else TARGET_RATIO
    over = flag_targets and (r["name"] in GRAM_BASED or r["name"] in SETS) and r["best_ratio"] > target
    flag = "over target" if over else ""
    if "value" in r:
        flag = (flag + f" score {r['value']:.6g}").strip()
    if "info" in r:
        flag += " (" + ", ".join(f"{k} {v}" for k, v in r["info"].items()) + ")"
    return (
        f"| {size} | {name} | {r['seconds']:.3f} | {r['peak_mib']:.0f} | {r['ratio']:.2f} | "
        f"{r['best_ratio']:.2f} | {flag} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one process per size (< 1 min)")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed calls per scorer (default 3; quick 2)"
    )
    parser.add_argument("--scorers", nargs="*", help="only scorers whose name contains one of these")
    parser.add_argument("--sizes", nargs="*", help="only these sizes (large, small; quick-a, quick-b)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's default)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per scorer subprocess")
    parser.add_argument(
        "--baseline-max-gib",
        type=float,
        default=6.0,
        help="skip the NLEEP baseline where its parameter arrays would exceed this many GiB (default 6)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child)
    args.repeats = args.repeats or (2 if args.quick else 3)
    sizes = QUICK_SIZES if args.quick else SIZES
    if args.sizes:
        sizes = {k: v for k, v in sizes.items() if k in args.sizes}
    names = scorer_names(args.scorers)
    threads = args.threads or torch.get_num_threads()
    print(f"# estimator benchmark ({'quick' if args.quick else 'full'}; {threads} torch threads)\n")
    print("| size | scorer | median s | peak MiB | × floor (median) | × floor (best) | note |")
    print("|---|---|---|---|---|---|---|")
    plan = [(label, size, names) for label, size in sizes.items()]
    if NLEEP_BASELINE in names and not args.quick:
        # Always, whatever --sizes says: the size where the baseline finishes, for a side-by-side pair.
        plan += [(label, size, ["nleep", NLEEP_BASELINE]) for label, size in NLEEP_SIZES.items()]
    for label, size, picked in plan:
        desc = ", ".join(f"{k}={v}" for k, v in size.items())
        if args.quick:
            results = _spawn([FLOOR, *picked], size, args)
        else:
            results = _spawn([FLOOR], size, args)
            for name in picked:
                results += _spawn([name], size, args)
        for r in results:
            print(_row(f"{label} ({desc})" if r["name"] == FLOOR else label, r, not args.quick), flush=True)
    print(
        f"\n× floor: time over that of {FLOOR} (float64) paired in the same process; best = fastest/fastest."
    )
    print(
        f"Gram-based scorers ({', '.join(sorted(GRAM_BASED))}) target ≤ {TARGET_RATIO} (best) at full sizes;"
    )
    print(f"scorer sets ({', '.join(SETS)}): every member back to back, target ≤ {SET_TARGET_RATIO} (best).")
    print("at --quick sizes the floor takes milliseconds and fixed per-call overhead dominates the ratios.")
    if NLEEP_BASELINE in names:
        print(
            f"{NLEEP_BASELINE}: the version-1 code path (SFDA's reference fit), measured in this run "
            "beside the batched EM of `nleep`; the note column holds both scores."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
