"""A real S3-compatible HTTP server for the tests: moto in server mode on a free 127.0.0.1 port."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from service.jobs.redis_server import free_port

#: Credentials the moto server accepts (it accepts any); set as the standard AWS_* variables.
TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Server:
    """A running ``moto.server`` process and its endpoint URL."""

    endpoint: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Terminate the server and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_s3_server(*, startup_s: float = 60.0) -> S3Server:
    """Start ``python -m moto.server`` and wait until it answers HTTP."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_s
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                return S3Server(endpoint, process)
        except (urllib.error.URLError, OSError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the moto S3 server did not start") from None
            time.sleep(0.1)


@dataclass
class S3Bucket:
    """A fresh bucket on the test server, with a boto3 client to fill it."""

    name: str
    client: Any
    endpoint: str

    def upload_folder(self, folder: Path, prefix: str) -> list[str]:
        """Upload every file under ``folder`` to ``prefix/<relative path>``; return the keys."""
        keys = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = f"{prefix}/{path.relative_to(folder).as_posix()}"
            self.client.put_object(Bucket=self.name, Key=key, Body=path.read_bytes())
            keys.append(key)
        return keys


def new_bucket(server: S3Server) -> S3Bucket:
    """Create a uniquely named bucket on ``server``."""
    client = boto3.client("s3", endpoint_url=server.endpoint, **_credentials())
    name = f"zoorank-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return S3Bucket(name, client, server.endpoint)


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": TEST_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": TEST_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": TEST_ENV["AWS_DEFAULT_REGION"],
    }
