"""Worker-side parts: the private redis-server, the in-process worker (embedded mode), the fan-in guard,
the model LRU, and the ``zoorank worker`` command's errors."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, cast

import pytest
from redis import Redis
from typer.testing import CliRunner

from service.errors import RedisServerNotFoundError
from service.jobs import keys
from service.jobs.engine import JobEngine
from service.jobs.models import JobStatus
from service.jobs.redis_server import start_redis_server
from service.jobs.request import RankingRequest, Sampling
from service.jobs.store import JobStore
from service.settings import Settings


def test_missing_redis_server_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server anywhere
    with pytest.raises(RedisServerNotFoundError) as info:
        start_redis_server(directory=tmp_path / "r")
    message = str(info.value)
    assert info.value.code == "redis-server-not-found"
    assert "apt-get install redis-server" in message and "REDIS_URL" in message and "\n" not in message


def test_embedded_redis_uses_a_unix_socket_and_an_append_only_file(tmp_path: Path) -> None:
    home = tmp_path / ("deep" * 20) / "home"  # longer than a unix socket path may be
    settings = Settings(home=home)
    server = start_redis_server(settings)
    try:
        assert server.url.startswith("unix://") and server.alive()
        client = Redis.from_url(server.url)
        client.set("k", "v")
        config = cast(dict[str, str], client.config_get("*"))
        assert config["appendonly"] == "yes"
        assert config["port"] == "0"  # no TCP listener at all
        assert config["maxmemory-policy"] == "volatile-lru"
        client.close()
    finally:
        assert server.stop() == 0
    assert not server.alive()
    assert any(settings.redis_dir.rglob("*.aof*")) or (settings.redis_dir / "appendonlydir").exists()
    # restarted on the same directory, the data is still there (append-only file replayed)
    again = start_redis_server(settings)
    try:
        assert Redis.from_url(again.url).get("k") == b"v"
    finally:
        again.stop()


def test_fan_in_enqueues_finalise_exactly_once(service_settings: Settings, redis_client: Redis) -> None:
    store = JobStore(service_settings, redis_client)
    redis_client.hset(keys.job("jfan"), mapping={"status": "running", "total": "3"})
    wins: list[bool] = []
    lock = threading.Lock()

    def deliver(model: str) -> None:
        won = JobStore(service_settings, Redis.from_url(str(service_settings.redis_url))).complete_part(
            "jfan", model
        )
        with lock:
            wins.append(won)

    # every part delivered 4 times, concurrently (at-least-once delivery with duplicates)
    threads = [threading.Thread(target=deliver, args=(m,)) for m in ("a", "b", "c") * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1 and len(wins) == 12
    assert store.complete_part("jfan", "c") is False  # a late redelivery changes nothing


def test_terminal_states_never_change(service_settings: Settings, redis_client: Redis) -> None:
    from service.jobs.models import JobError

    store = JobStore(service_settings, redis_client)
    redis_client.hset(keys.job("jt"), mapping={"status": "running", "fingerprint": "f" * 64})
    assert store.fail("jt", JobError(code="x", message="first"))
    assert not store.succeed("jt", "{}")
    assert not store.mark_cancelled("jt")
    state = store.state("jt")
    assert state is not None and state["status"] == "failed" and json.loads(state["error"])["code"] == "x"
    assert redis_client.get(keys.ranking("f" * 64)) is None  # a failed job caches nothing
    names = [e[1] for e in JobEngine(service_settings, redis_client).events("jt", None, 0)]
    assert names == ["status", "done"]
    assert cast(int, redis_client.ttl(keys.job("jt"))) > 0  # finished jobs expire (job_ttl_s)


def test_model_cache_keeps_the_most_recently_used(tiny_entry: Any) -> None:
    from service.jobs.handlers import ModelCache

    cache = ModelCache(2)
    a, b, c = (tiny_entry(f"tiny.m{i}", seed=i) for i in range(3))
    first = cache.load(a, "cpu")
    assert cache.load(a, "cpu") is first and (cache.hits, cache.misses) == (1, 1)
    cache.load(b, "cpu")
    cache.load(a, "cpu")  # a is now the most recent
    cache.load(c, "cpu")  # evicts b
    assert len(cache) == 2
    assert cache.load(a, "cpu") is first
    cache.load(b, "cpu")
    assert cache.misses == 4


def test_in_process_worker_runs_jobs_and_stops_cleanly(
    service_settings: Settings, redis_client: Redis, service_root: Path
) -> None:
    from service.jobs.worker import start_in_process_worker

    engine = JobEngine(service_settings, redis_client)
    handle = start_in_process_worker(service_settings)
    try:
        deadline = time.monotonic() + 10
        while engine.workers_alive() == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        view, _ = engine.submit(
            RankingRequest(
                dataset="data:shapes",
                models=["cnn4.emoji", "resnet8.emoji"],
                scorers=["logme", "ncti"],
                sampling=Sampling(max_per_class=4, seed=30),
            )
        )
        deadline = time.monotonic() + 90
        while not (done := engine.get(view.id)).status.terminal:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert done.status == JobStatus.succeeded, done.errors
        ranking = json.loads(engine.ranking_json(view.id))
        assert {m["id"] for m in ranking["models"]} == {"cnn4.emoji", "resnet8.emoji"}
        assert all({"logme", "ncti"} <= set(m["scores"]) | set(m["errors"]) for m in ranking["models"])
        assert handle.actors.runtime.models.misses == 2  # both models loaded once, kept warm
    finally:
        handle.stop()
    assert engine.workers_alive() == 0


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["worker", "--queues", "bogus"], {"REDIS_URL": "redis://127.0.0.1:1/0"}, "bogus"),
        (["worker"], {}, "REDIS_URL"),
        (["worker", "--device", "tpu"], {"REDIS_URL": "redis://127.0.0.1:1/0"}, "device"),
        # no machine has 1000 GPUs: refused before the broker connects, on CPU and GPU hosts alike
        (["worker", "--device", "cuda:999"], {"REDIS_URL": "redis://127.0.0.1:1/0"}, "[device-unavailable]"),
    ],
)
def test_worker_command_errors_are_one_line(
    args: list[str], env: dict[str, str], needle: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from service.cli.commands import app

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("ZOORANK_REDIS_URL", raising=False)
    monkeypatch.setenv("ZOORANK_HOME", str(tmp_path))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]


def test_every_redis_key_comes_from_the_keys_module() -> None:
    import ast
    import inspect

    from service.jobs import keys as k

    made = [
        fn(*(["x"] * len(inspect.signature(fn).parameters)))
        for name, fn in vars(k).items()
        if inspect.isfunction(fn) and fn.__module__ == k.__name__ and name != "broker_queue"
    ]
    assert made and all(key.startswith(k.PREFIX) for key in made) and len(set(made)) == len(made)
    assert k.broker_queue("extract").startswith(k.BROKER_NAMESPACE)
    # no other module spells a key: no string literal starting with the prefix outside service/keys.py
    service = Path(k.__file__).parent
    for path in service.rglob("*.py"):
        if path.name == "keys.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not node.value.startswith("zoorank:v"), f"{path}: Redis key spelled outside keys.py"


def test_the_private_redis_dies_with_its_parent(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    # a parent that starts a private Redis, prints its pid, then waits to be killed
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from service.jobs.redis_server import start_redis_server, free_port\n"
        f"s = start_redis_server(directory=Path({str(tmp_path)!r}), port=free_port(), persistent=False)\n"
        "print(s.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    repo = Path(__file__).resolve().parents[3]
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=repo, stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    os.kill(child, 0)  # running
    parent.send_signal(signal.SIGKILL)  # no cleanup code runs in the parent
    parent.wait(10)
    deadline = time.monotonic() + 10
    while True:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # a zombie re-parented to init disappears once reaped; /proc says whether it still runs
        state = Path(f"/proc/{child}/stat")
        if state.exists() and state.read_text().split(")")[-1].split()[0] == "Z":
            break
        assert time.monotonic() < deadline, "the private redis-server outlived its parent"
        time.sleep(0.05)


def test_duplicate_deliveries_of_every_part_leave_one_result(
    service_settings: Settings, redis_client: Redis, service_root: Path
) -> None:
    """reliability.md §B1 Q2: each part delivered twice, concurrently (the actor functions called
    directly, as two workers would after a redelivery): one record, one forward pass, one cell set, one
    finalise message, one ranking."""
    from service.jobs.broker import make_broker
    from service.jobs.handlers import Runtime, declare_actors

    url = str(service_settings.redis_url).rsplit("/", 1)[0] + "/6"  # no worker listens here
    settings = service_settings.with_overrides(redis_url=url)
    client = Redis.from_url(url)
    client.flushdb()
    engine = JobEngine(settings, client)
    model = "cnn4.fashion_mnist"
    view, _ = engine.submit(
        RankingRequest(
            dataset="data:shapes",
            models=[model],
            scorers=["logme"],
            sampling=Sampling(max_per_class=3, seed=90),
        )
    )
    runtime = Runtime(settings)
    actors = declare_actors(make_broker(settings), settings, runtime_factory=lambda: runtime)

    def twice(fn: Any, *args: str) -> None:
        threads = [threading.Thread(target=fn, args=args) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def queued(actor: str) -> int:
        raw = client.hvals(keys.broker_queue("score") + ".msgs")
        return sum(json.loads(m)["actor_name"] == actor for m in cast(list[Any], raw))

    twice(actors.extract.fn, view.id, model)
    assert engine.stats()["extractions"] == 1  # the second delivery found the features in the store
    assert client.hlen(keys.job_records(view.id)) == 1
    twice(actors.score.fn, view.id, model)
    assert client.hlen(keys.job_cells(view.id)) == 1 and queued("finalise") == 1
    twice(actors.finalise.fn, view.id)
    done = engine.get(view.id)
    assert done.status == JobStatus.succeeded and engine.stats()["jobs_succeeded"] == 1
    assert [name for _, name, _ in engine.events(view.id, None, 0)].count("done") == 1
    client.close()
