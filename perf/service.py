"""Service benchmark: latency of cached answers and the overhead of running a ranking as a job.

Against a live stack started here (a real ``redis-server``, one ``zoorank worker`` process, uvicorn on a
free port; nothing mocked), on a 1,000-image ImageFolder (10 classes x 100 PNGs, 32 px) written to a
temporary data root:

1. **cold ranking, API vs CLI**: wall time of one ranking through the API (``POST /v1/rankings``, follow
   the job's server-sent events to ``done``, ``GET /v1/rankings/{id}``) with nothing cached, against the
   same request run in-process by ``service.pipeline.run.rank`` (what ``zoorank rank`` runs, minus the
   interpreter start) with its own empty feature store; interleaved, best of ``--repeats``. The worker is
   long-lived, so from the second repeat on its models are already loaded, as in a running service.
   ``--models N`` ranks the first N of ten 32 px models that share one preprocessing config (default 3).
   Target: API overhead < 10 %.
2. **cached POST**: p50/p99 of the identical ``POST /v1/rankings`` repeated ``--posts`` times, each
   answered from the cache (``200``, job already succeeded). Target: p99 < 100 ms.
3. **cached GET**: p50/p99 of ``GET /v1/rankings/{id}`` from ``--clients`` concurrent clients (closed
   loops on asyncio streams, one keep-alive connection each) for ``--seconds`` seconds. Target:
   p99 < 50 ms.

4. **soak** (``--soak SECONDS``, off by default; ``--soak 600`` is the 10-minute one): ``--clients``
   concurrent clients, each looping over a random mix of cached ``GET /v1/rankings/{id}``, the identical
   ``POST /v1/rankings`` (answered from the cache), an SSE follow of the finished job to ``done`` and
   ``GET /v1/jobs``: errors (any non-2xx answer or failed request), p50/p99 per route, requests per
   second, the API process's CPU time per request (steadier than latencies on a shared machine), and
   the resident memory of the API and worker processes sampled every few seconds; growth is measured
   from the end of the warm-up (the first fifth) to the end. Targets: 0 errors, RSS growth < 10 %.

Latencies are measured by the client, so they include the load generator's own overhead: on a 2-core
machine the generator and the server share the CPUs. Run with ``make bench`` or
``python -m perf.service --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from service.jobs.redis_server import free_port as _free
from service.jobs.redis_server import start_redis_server
from service.pipeline.run import rank
from service.settings import Settings

_HERE = Path(__file__).resolve().parent
os.environ.setdefault("TORCH_HOME", str(_HERE.parent / ".cache" / "torch"))


REPO = _HERE.parent
MODELS = ["cnn4.glyphs", "resnet8.glyphs", "mobilenet_tiny.fashion_mnist"]
#: What ``--models N`` takes the first N of: the trained 32 px models, which share one preprocessing config.
ZOO_32PX = [
    *MODELS,
    "cnn4.fashion_mnist",
    "resnet8.fashion_mnist",
    "mobilenet_tiny.glyphs",
    "cnn4.emoji",
    "resnet8.emoji",
    "mobilenet_tiny.emoji",
    "cnn4.random_init",
]
SCORERS = ["logme", "leep", "nce", "hscore_shrinkage", "transrate", "sfda"]
API_KEY = "bench-key"


def write_dataset(root: Path, classes: int = 10, per_class: int = 100, size: int = 32) -> Path:
    """``classes`` x ``per_class`` PNGs: a class-specific blob position and colour plus noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    for c in range(classes):
        folder = root / f"class_{c:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        cy, cx = size * (0.25 + 0.5 * (c % 2)), size * (0.2 + 0.06 * c)
        colour = np.array([(37 * c) % 256, (91 * c + 60) % 256, (151 * c + 120) % 256], dtype=np.float64)
        for i in range(per_class):
            img = rng.integers(0, 80, size=(size, size, 3)).astype(np.float64)
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 < (size / 5) ** 2
            img[mask] = colour
            img += rng.normal(0, 12, size=img.shape)
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"{i:04d}.png")
    return root


def free_port() -> int:

    return _free()


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) by linear interpolation, in the values' unit."""
    return float(np.quantile(np.asarray(values), q))


def wait_ready(url: str, procs: list[subprocess.Popen[bytes]], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise SystemExit(f"a service process exited with {p.returncode}")
        try:
            if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit("the service did not become ready")


def follow(http: httpx.Client, job_id: str) -> dict[str, Any]:
    """Read the job's event stream until ``done``; returns the done event's data."""
    with http.stream("GET", f"/v1/jobs/{job_id}/events", timeout=3600) as r:
        event = ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "done":
                data: dict[str, Any] = json.loads(line.split(":", 1)[1])
                return data
    raise SystemExit("event stream ended without done")


async def _one_client(host: str, port: int, request: bytes, stop: float, latencies: list[float]) -> None:
    """A keep-alive HTTP/1.1 client on one connection: send, read the full response, repeat until ``stop``.

    Written on asyncio streams instead of httpx so that the load generator's own CPU cost (it shares the
    machine with the server) stays far below the server's: the latencies are the server's, not httpx's.
    """
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                raise SystemExit(f"GET -> {status}")
    finally:
        writer.close()


async def hammer(url: str, path: str, clients: int, seconds: float) -> list[float]:
    """``clients`` concurrent closed loops of GET ``path`` for ``seconds``; every latency in seconds."""
    parsed = httpx.URL(url)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parsed.host}:{parsed.port}\r\nX-API-Key: {API_KEY}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    host, port = str(parsed.host), int(parsed.port or 80)
    await asyncio.gather(*(_one_client(host, port, request, stop, latencies) for _ in range(clients)))
    return latencies


#: The soak's routes, each picked with equal probability by every client in every round.
SOAK_ROUTES = ("GET /v1/rankings/{id}", "POST /v1/rankings", "GET /v1/jobs/{id}/events", "GET /v1/jobs")


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children (uvicorn's workers), from ``/proc``."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(c) for c in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and its children (uvicorn's workers) have used, from ``/proc``.

    Per request, it measures what the server spends on the mix whatever else runs on the machine: the
    latencies of a shared machine move with its other load, this does much less.
    """
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(c) for c in children.read_text().split()]
    ticks = os.sysconf("SC_CLK_TCK")
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15 of stat(5))
    return total


async def _soak_client(
    http: httpx.AsyncClient,
    seed: int,
    stop: float,
    request: dict[str, Any],
    job_id: str,
    latencies: dict[str, list[float]],
    errors: dict[str, int],
    kinds: dict[str, int],
) -> None:
    """One client's loop; a failure counts in ``errors`` (per route) and ``kinds`` (``<route>: <status
    or exception>``, so that a failed soak says what failed)."""
    rng = np.random.default_rng(seed)
    while time.perf_counter() < stop:
        route = SOAK_ROUTES[int(rng.integers(len(SOAK_ROUTES)))]
        t0 = time.perf_counter()
        failure: str | None = None
        try:
            if route == "GET /v1/rankings/{id}":
                status = (await http.get(f"/v1/rankings/{job_id}")).status_code
            elif route == "POST /v1/rankings":
                status = (await http.post("/v1/rankings", json=request)).status_code
            elif route == "GET /v1/jobs":
                status = (await http.get("/v1/jobs", params={"limit": 20})).status_code
            else:
                async with http.stream("GET", f"/v1/jobs/{job_id}/events") as r:
                    status = r.status_code
                    if status == 200 and "event: done" not in (await r.aread()).decode():
                        failure = "stream ended without done"
            if status != 200:
                failure = f"status {status}"
        except httpx.HTTPError as exc:
            failure = type(exc).__name__
        latencies[route].append(time.perf_counter() - t0)
        if failure is not None:
            errors[route] += 1
            kinds[f"{route}: {failure}"] = kinds.get(f"{route}: {failure}", 0) + 1


async def soak(
    url: str, clients: int, seconds: float, request: dict[str, Any], job_id: str, pids: dict[str, int]
) -> dict[str, Any]:
    """``clients`` concurrent clients on the route mix for ``seconds``; latencies, errors and RSS."""
    latencies: dict[str, list[float]] = {r: [] for r in SOAK_ROUTES}
    errors = dict.fromkeys(SOAK_ROUTES, 0)
    kinds: dict[str, int] = {}
    samples: list[tuple[float, dict[str, int]]] = []
    start = time.perf_counter()
    stop = start + seconds

    async def sample() -> None:
        while time.perf_counter() < stop:
            samples.append((time.perf_counter() - start, {n: rss_bytes(p) for n, p in pids.items()}))
            await asyncio.sleep(min(5.0, seconds / 20))
        samples.append((time.perf_counter() - start, {n: rss_bytes(p) for n, p in pids.items()}))

    cpu_before = cpu_seconds(pids["api"]) if "api" in pids else 0.0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, headers={"X-API-Key": API_KEY}, timeout=120, limits=limits
    ) as http:
        await asyncio.gather(
            sample(),
            *(_soak_client(http, i, stop, request, job_id, latencies, errors, kinds) for i in range(clients)),
        )
    elapsed = time.perf_counter() - start
    api_cpu = cpu_seconds(pids["api"]) - cpu_before if "api" in pids else 0.0
    requests = sum(len(v) for v in latencies.values())
    warm = next((rss for t, rss in samples if t >= seconds / 5), samples[0][1])
    end = samples[-1][1]
    return {
        "seconds": seconds,
        "clients": clients,
        "errors": errors,
        "error_kinds": kinds,
        "requests": requests,
        "rps": requests / elapsed,
        "api_cpu_ms_per_request": 1000 * api_cpu / max(requests, 1),
        "routes": {
            r: {
                "n": len(v),
                "p50_ms": 1000 * percentile(v, 0.5) if v else None,
                "p99_ms": 1000 * percentile(v, 0.99) if v else None,
            }
            for r, v in latencies.items()
        },
        "rss_mb": {
            n: {"after_warmup": warm[n] / 2**20, "end": end[n] / 2**20, "growth": end[n] / warm[n] - 1}
            for n in pids
            if warm.get(n)
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--per-class", type=int, default=100, help="images per class (10 classes)")
    parser.add_argument("--api-workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--repeats", type=int, default=2, help="cold rankings per side (best is reported)")
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of the mixed soak (0: none)")
    parser.add_argument(
        "--models",
        type=int,
        default=len(MODELS),
        choices=range(1, len(ZOO_32PX) + 1),
        metavar=f"1..{len(ZOO_32PX)}",
        help=f"models in the cold ranking (the first N of {', '.join(ZOO_32PX)})",
    )
    args = parser.parse_args()
    models = ZOO_32PX[: args.models]

    tmp = Path(tempfile.mkdtemp(prefix="zoorank-bench-service-"))
    data = write_dataset(tmp / "data" / "bench", per_class=args.per_class).parent
    num_images = 10 * args.per_class
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOORANK_") and k != "REDIS_URL"}
    env.update(
        {
            "ZOORANK_HOME": str(tmp / "api_home"),
            "ZOORANK_DATA_ROOTS": f"data={data}",
            "ZOORANK_DEVICE": "cpu",
            "ZOORANK_API_KEYS": hashlib.sha256(API_KEY.encode()).hexdigest(),
            "ZOORANK_REQUESTS_PER_MINUTE": "1000000",
            "ZOORANK_MAX_PER_CLASS": "0",
            "ZOORANK_UI": "false",
        }
    )
    redis = start_redis_server(directory=tmp / "redis", port=free_port(), persistent=False)
    env["REDIS_URL"] = redis.url
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    logs = open(tmp / "service.log", "wb")  # noqa: SIM115 - closed in finally
    procs = [
        # this checkout's code (the ``zoorank`` script would import the installed copy's)
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from service.cli import app; app()",
                "worker",
                "--device",
                "cpu",
                "--queues",
                "extract,score",
            ],
            env=env,
            cwd=REPO,
            stdout=logs,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "service.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--workers",
                str(args.api_workers),
            ],
            env=env,
            cwd=REPO,
            stdout=logs,
            stderr=subprocess.STDOUT,
        ),
    ]
    request = {
        "dataset": "data:bench",
        "models": models,
        "scorers": SCORERS,
        "sampling": {"max_per_class": 0},
    }
    results: dict[str, Any] = {"images": num_images, "models": models, "scorers": SCORERS}
    try:
        wait_ready(url, procs)
        with httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=600) as http:
            # 1. cold rankings, interleaved: through the API, then the same work in-process. Each repeat
            # uses another seed (a new request fingerprint and new feature keys: nothing is cached) and
            # the in-process run its own empty home; the best of the repeats is the least disturbed.
            api_runs, cli_runs = [], []
            for repeat in range(args.repeats):
                body = {**request, "sampling": {"max_per_class": 0, "seed": repeat + 1}}
                t0 = time.perf_counter()
                submitted = http.post("/v1/rankings", json=body)
                if submitted.status_code != 202:
                    raise SystemExit(f"submit -> {submitted.status_code}: {submitted.text}")
                done = follow(http, submitted.json()["id"])
                ranking = http.get(f"/v1/rankings/{done['ranking_id']}")
                api_runs.append(time.perf_counter() - t0)
                if ranking.status_code != 200:
                    raise SystemExit(f"ranking -> {ranking.status_code}: {ranking.text}")
                settings = Settings.from_env(
                    {
                        "ZOORANK_HOME": str(tmp / f"cli_home_{repeat}"),
                        "ZOORANK_DATA_ROOTS": f"data={data}",
                        "ZOORANK_DEVICE": "cpu",
                    }
                )
                t0 = time.perf_counter()
                rank(
                    str(data / "bench"),
                    models=models,
                    scorers=SCORERS,
                    max_per_class=0,
                    seed=repeat + 1,
                    settings=settings,
                    base=None,
                )
                cli_runs.append(time.perf_counter() - t0)
            api_s, cli_s = min(api_runs), min(cli_runs)
            results["cold"] = {
                "api_s": api_s,
                "cli_s": cli_s,
                "overhead": api_s / cli_s - 1,
                "api_runs": api_runs,
                "cli_runs": cli_runs,
            }
            # parts 2 and 3 ask for the last cold ranking again: now it is cached
            request, ranking_id = body, done["ranking_id"]

            # 2. identical POST answered from the cache
            post_lat = []
            for _ in range(args.posts):
                t0 = time.perf_counter()
                r = http.post("/v1/rankings", json=request)
                post_lat.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise SystemExit(f"cached POST -> {r.status_code}: {r.text}")
            results["cached_post_ms"] = {
                "p50": 1000 * percentile(post_lat, 0.5),
                "p99": 1000 * percentile(post_lat, 0.99),
                "n": len(post_lat),
            }

        # 3. cached GET under concurrency
        get_lat = asyncio.run(hammer(url, f"/v1/rankings/{ranking_id}", args.clients, args.seconds))
        results["cached_get_ms"] = {
            "p50": 1000 * percentile(get_lat, 0.5),
            "p99": 1000 * percentile(get_lat, 0.99),
            "n": len(get_lat),
            "rps": len(get_lat) / args.seconds,
            "clients": args.clients,
        }
        if args.soak > 0:
            pids = {"api": procs[1].pid, "worker": procs[0].pid}
            results["soak"] = asyncio.run(soak(url, args.clients, args.soak, request, ranking_id, pids))
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        redis.stop()
        logs.close()

    cold, post, get = results["cold"], results["cached_post_ms"], results["cached_get_ms"]
    print(f"service benchmark ({num_images} images, {len(models)} models, {len(SCORERS)} scorers, CPU)")
    print(
        f"  cold ranking: API {cold['api_s']:.2f} s vs in-process {cold['cli_s']:.2f} s -> overhead "
        f"{100 * cold['overhead']:+.1f} % (target < 10 %)"
    )
    print(
        f"  cached POST /v1/rankings: p50 {post['p50']:.1f} ms, p99 {post['p99']:.1f} ms over {post['n']} "
        "(target p99 < 100 ms)"
    )
    print(
        f"  cached GET /v1/rankings/{{id}}, {get['clients']} clients: p50 {get['p50']:.1f} ms, p99 "
        f"{get['p99']:.1f} ms, {get['rps']:.0f} req/s (target p99 < 50 ms)"
    )
    if "soak" in results:
        sk = results["soak"]
        print(
            f"  soak {sk['seconds']:.0f} s, {sk['clients']} clients: errors {sum(sk['errors'].values())}, "
            f"{sk['requests']} requests, {sk['rps']:.1f} req/s, API CPU "
            f"{sk['api_cpu_ms_per_request']:.1f} ms per request"
        )
        for kind, count in sk["error_kinds"].items():
            print(f"    error {kind}: {count}")
        for route, st in sk["routes"].items():
            print(f"    {route}: n {st['n']}, p50 {st['p50_ms']:.1f} ms, p99 {st['p99_ms']:.1f} ms")
        for name, mem in sk["rss_mb"].items():
            print(
                f"    {name} RSS {mem['after_warmup']:.0f} -> {mem['end']:.0f} MB "
                f"({100 * mem['growth']:+.1f} % after warm-up; target < 10 %)"
            )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
