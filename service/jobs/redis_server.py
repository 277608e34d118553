"""A private ``redis-server`` child process: the embedded mode of ``zoorank serve``, and the test fixtures.

Embedded mode (no ``REDIS_URL``): a unix socket and an append-only file (``appendfsync everysec``: about
one second of writes lost on a crash) under ``$ZOORANK_HOME/redis``, no TCP port, so
nothing else on the machine can reach it. Tests start one on a free TCP port of 127.0.0.1 in a temporary
directory, without persistence.

Eviction: ``volatile-lru`` only ever evicts keys that carry a TTL. Cache keys (rankings, cells) carry
one; the broker's queues never do, so a full memory refuses writes instead of silently losing messages.

The child is stopped with SIGTERM (Redis flushes its append-only file and exits) and reaped; SIGKILL
after ``timeout``. It is also killed if this process dies: ``PR_SET_PDEATHSIG`` on Linux.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import redis

from service.errors import RedisServerError, RedisServerNotFoundError
from service.settings import Settings

__all__ = ["RedisServer", "RedisServerError", "RedisServerNotFoundError", "free_port", "start_redis_server"]

#: Longest unix socket path the kernel accepts is 107 bytes; stay clear of it.
_MAX_SOCKET_PATH = 100


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _death_signal() -> Callable[[], None] | None:
    """A function for the child (between fork and exec) that makes the kernel SIGKILL it when this
    process dies (``PR_SET_PDEATHSIG``, Linux). libc is loaded here, in the parent: the child must not
    import anything (another thread may hold the import lock at fork time)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not glibc Linux: the child then outlives a crashed parent, as any daemon would
        return None
    prctl = libc.prctl

    def child() -> None:  # pragma: no cover - runs in the child
        prctl(1, signal.SIGKILL)

    return child


@dataclass
class RedisServer:
    """A running private ``redis-server``.

    Attributes:
        process: the child.
        url: ``unix:///.../redis.sock`` or ``redis://127.0.0.1:<port>/0``.
        directory: its working directory (append-only file, log).
    """

    process: subprocess.Popen[bytes]
    url: str
    directory: Path
    _cleanup: list[Path] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the child is still running."""
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM (flushes the append-only file), wait, SIGKILL after ``timeout``; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        for path in self._cleanup:
            shutil.rmtree(path, ignore_errors=True)
        return int(self.process.returncode)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _executable() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise RedisServerNotFoundError(
            "redis-server is not installed: run `sudo apt-get install redis-server` (or `make system`), "
            "or set REDIS_URL to a running Redis",
            param="redis_url",
        )
    return found


def start_redis_server(
    settings: Settings | None = None,
    *,
    directory: Path | None = None,
    port: int | None = None,
    persistent: bool = True,
    timeout: float = 15.0,
) -> RedisServer:
    """Start a private ``redis-server`` and wait until it answers PING.

    Args:
        settings: its directory defaults to ``settings.redis_dir`` (``$ZOORANK_HOME/redis``).
        directory: working directory (append-only file, log); overrides ``settings``.
        port: listen on this TCP port of 127.0.0.1 (tests) instead of a unix socket.
        persistent: append-only file with ``appendfsync everysec`` (embedded mode); False keeps
            everything in memory (tests).
        timeout: seconds to wait for the first PONG.

    Raises:
        RedisServerNotFoundError: ``redis-server`` is not on PATH.
        RedisServerError: it exited or did not answer in time (the message ends with its log).
    """

    exe = _executable()
    if directory is None:
        directory = (settings if settings is not None else Settings.from_env()).redis_dir
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cleanup: list[Path] = []
    args = [exe, "--daemonize", "no", "--dir", str(directory), "--logfile", "redis.log"]
    args += ["--save", "", "--maxmemory-policy", "volatile-lru", "--protected-mode", "yes"]
    if persistent:
        args += ["--appendonly", "yes", "--appendfsync", "everysec"]
    else:
        args += ["--appendonly", "no"]
    if port is not None:
        args += ["--port", str(port), "--bind", "127.0.0.1"]
        url = f"redis://127.0.0.1:{port}/0"
    else:
        sock = directory / "redis.sock"
        if len(str(sock)) > _MAX_SOCKET_PATH:
            short = Path(tempfile.mkdtemp(prefix="zoorank-redis-"))
            cleanup.append(short)
            sock = short / "redis.sock"
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()  # left over by a crashed run
        args += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
        url = f"unix://{sock}"
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_death_signal(),  # one prctl call in the child, nothing imported or locked
        process_group=0,  # a Ctrl-C in the terminal goes to the server, not to its private Redis
    )
    server = RedisServer(process=process, url=url, directory=directory, _cleanup=cleanup)
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise RedisServerError(
                    f"redis-server exited with {process.returncode}: {_log_tail(directory)}"
                )
            try:
                if client.ping():
                    return server
            except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
                pass
            if time.monotonic() > deadline:
                server.stop()
                raise RedisServerError(
                    f"redis-server did not answer within {timeout} s: {_log_tail(directory)}"
                )
            time.sleep(0.05)
    finally:
        client.close()


def _log_tail(directory: Path, lines: int = 5) -> str:
    try:
        text = (directory / "redis.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
