"""The deployment files cannot drift from the code: docker-compose.yml, .env.example and the Dockerfiles.

No Docker daemon is needed (none runs here): ``docker-compose config`` (the Debian ``docker-compose``
package) validates and resolves the compose file, and the resolved services are then checked against the
code itself: each zoorank service's command is a command of the ``zoorank`` CLI (typer app) with options
that command has, every environment variable it sets is a :class:`~service.settings.Settings` variable,
and the API's healthcheck URL is a route of the app. The defects a real build and run found are checked
here too: GPU workers pinned to distinct devices, a cpu profile without GPU services, Redis's privilege
drop, the constraints file in both Dockerfiles. Images are built by ``make docker-check``, not here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILES = {"cpu": REPO / "docker" / "Dockerfile", "gpu": REPO / "docker" / "Dockerfile.gpu"}
#: Variables the compose file needs from .env; the test supplies throw-away values.
REQUIRED = {"REDIS_PASSWORD": "test-redis-password", "ZOORANK_SESSION_SECRET": "t" * 40}
#: Environment variables of zoorank containers that are not settings (read by torch or Python itself).
NOT_SETTINGS = {
    "PATH",
    "PYTHONUNBUFFERED",
    "TORCH_HOME",
    "HF_HUB_OFFLINE",
    "VIRTUAL_ENV",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    "NVIDIA_VISIBLE_DEVICES",
    "NVIDIA_DRIVER_CAPABILITIES",
}


def settings_variables() -> set[str]:
    """Every environment variable :class:`Settings` reads (aliases of its fields)."""
    from pydantic import AliasChoices

    from service.settings import Settings

    names: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names.update(a for a in alias.choices if isinstance(a, str))
    return names


def cli_commands() -> dict[str, set[str]]:
    """``zoorank`` command name -> the option strings it accepts."""
    import typer

    from service.cli.commands import app

    group = typer.main.get_command(app)
    commands: dict[str, Any] = group.commands  # type: ignore[attr-defined]
    return {
        name: {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} for name, cmd in commands.items()
    }


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``docker-compose config`` of the repository's compose file with .env.example (all profiles)."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail(
            "the deployment test needs the Debian docker-compose package: apt-get install docker-compose"
        )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path_factory.mktemp("home")), **REQUIRED}
    out = subprocess.run(
        [exe, "--project-directory", str(REPO), "-f", str(COMPOSE), "--env-file", str(ENV_EXAMPLE),
         "--profile", "cpu", "config"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc: dict[str, Any] = yaml.safe_load(out.stdout)
    return doc


def zoorank_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in doc["services"].items() if str(s.get("image", "")).startswith("zoorank:")}


def test_compose_has_the_documented_services(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert {"redis", "api", "worker-gpu0", "worker-gpu1", "worker-cpu"} <= set(services)
    redis = services["redis"]
    assert "--appendonly yes" in " ".join(redis["command"]) and "noeviction" in " ".join(redis["command"])
    assert any(v.endswith(":/data:rw") or v.endswith(":/data") for v in map(str, redis["volumes"]))
    assert "ports" not in redis  # Redis is reachable only on the compose network
    assert redis["healthcheck"]["test"]
    for name, service in zoorank_services(resolved).items():
        volumes = [str(v) for v in service["volumes"]]
        assert any(v.endswith(":/data:ro") for v in volumes), f"{name}: data root not mounted read-only"
        assert any(v.startswith("features:") for v in volumes), f"{name}: no shared feature store"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"


def test_service_commands_exist_in_the_cli(resolved: dict[str, Any]) -> None:
    commands = cli_commands()
    for name, service in zoorank_services(resolved).items():
        command = [str(c) for c in service["command"]]
        assert command[0] in commands, f"{name}: `zoorank {command[0]}` is not a CLI command"
        options = [c.split("=", 1)[0] for c in command[1:] if c.startswith("-")]
        unknown = [o for o in options if o not in commands[command[0]]]
        assert not unknown, f"{name}: `zoorank {command[0]}` has no option(s) {unknown}"


def test_service_environment_names_are_settings(resolved: dict[str, Any]) -> None:
    known = settings_variables()
    for name, service in zoorank_services(resolved).items():
        unknown = sorted(set(service["environment"]) - known - NOT_SETTINGS)
        assert not unknown, f"{name}: {unknown} are not zoorank settings (service/settings.py)"
    api = resolved["services"]["api"]["environment"]
    from service.settings import Settings

    values = {k: str(v) for k, v in api.items() if k in known}
    Settings.from_env(values)  # the resolved values are valid settings, too


def test_env_example_names_are_settings_or_compose_variables() -> None:
    compose_vars = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text()))
    names = [
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert names, ".env.example is empty"
    known = settings_variables()
    for n in names:
        assert n in compose_vars, f"{n} in .env.example is not used by docker-compose.yml"
        if n.startswith("ZOORANK_"):
            assert n in known, f"{n} is not a zoorank setting"
    for n in REQUIRED:  # the secrets have no value in the repository
        assert re.search(rf"^{n}=$", ENV_EXAMPLE.read_text(), re.M), f"{n} must be empty in .env.example"


def test_api_healthcheck_is_the_readiness_route(resolved: dict[str, Any]) -> None:
    from service.app import create_app
    from service.settings import Settings

    check = " ".join(str(t) for t in resolved["services"]["api"]["healthcheck"]["test"])
    path = re.search(r"http://127\.0\.0\.1:8000(/[a-z/]+)", check)
    assert path is not None and path.group(1) == "/health/ready"
    assert path.group(1) in create_app(Settings.from_env({})).openapi()["paths"]


def test_compose_without_its_secrets_is_refused(tmp_path: Path) -> None:
    exe = shutil.which("docker-compose")
    assert exe is not None
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [exe, "--project-directory", str(REPO), "-f", str(COMPOSE), "--env-file", str(ENV_EXAMPLE), "config"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode != 0 and "REDIS_PASSWORD" in out.stderr


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_dockerfiles_are_multi_stage_pinned_and_unprivileged(kind: str) -> None:
    text = DOCKERFILES[kind].read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, re.M)
    assert len(stages) >= 2, "multi-stage build expected"
    images = dict(re.findall(r"^ARG\s+(\w+_IMAGE)=(\S+)", text, re.M))
    for image in images.values():
        name, _, tag = image.partition(":")
        assert tag and tag != "latest", f"base image {image} is not pinned by tag"
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0"), "the runtime stage must not run as root"
    for var in re.findall(r"^\s*(ZOORANK_[A-Z_]+)=", text, re.M) + re.findall(r"\s(ZOORANK_[A-Z_]+)=", text):
        assert var in settings_variables(), f"{DOCKERFILES[kind].name} sets unknown setting {var}"
    entry = re.search(r'^ENTRYPOINT \["zoorank"\]', text, re.M)
    assert entry is not None
    command = re.search(r"^CMD \[(.*)\]", text, re.M)
    assert command is not None and command.group(1).split(",")[0].strip('" ') in cli_commands()


def test_torch_wheels_match_the_bases() -> None:
    cpu, gpu = DOCKERFILES["cpu"].read_text(), DOCKERFILES["gpu"].read_text()
    assert "download.pytorch.org/whl/cpu" in cpu
    cuda = re.search(r"nvidia/cuda:(\d+)\.(\d+)", gpu)
    index = re.search(r"download\.pytorch\.org/whl/cu(\d+)", gpu)
    assert cuda is not None and index is not None
    assert index.group(1) == f"{cuda.group(1)}{cuda.group(2)}", "torch CUDA wheel and CUDA base differ"
    pins = {re.findall(r'"torch==([\d.]+)"', t)[0] for t in (cpu, gpu)}
    makefile = (REPO / "Makefile").read_text()
    assert pins == set(re.findall(r'"torch==([\d.]+)"', makefile)), "images and Makefile pin different torch"


def test_dockerignore_keeps_secrets_and_caches_out() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in (".env", ".git", ".venv", ".cache", "data"):
        assert entry in ignored


def gpu_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services that reserve a GPU or run the GPU image."""
    return {
        name: s
        for name, s in doc["services"].items()
        if s.get("image") == "zoorank:gpu"
        or "Dockerfile.gpu" in str(s.get("build", {}).get("dockerfile", ""))
        or s.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
    }


def started_by(doc: dict[str, Any], profiles: set[str]) -> set[str]:
    """Services `compose [--profile P ...] up` starts: no profile or an active one, and their deps."""
    services = doc["services"]
    started = {n for n, s in services.items() if not s.get("profiles") or profiles & set(s["profiles"])}
    todo = list(started)
    while todo:
        for dep in services[todo.pop()].get("depends_on", {}):
            if dep not in started:
                started.add(dep)
                todo.append(dep)
    return started


def test_gpu_workers_are_pinned_to_distinct_devices(resolved: dict[str, Any]) -> None:
    gpu = gpu_services(resolved)
    assert len(gpu) >= 2, "the compose file ships a worker service per GPU (at least GPUs 0 and 1)"
    ids: list[str] = []
    for name, service in gpu.items():
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert len(devices) == 1 and devices[0]["capabilities"] == ["gpu"], name
        assert "count" not in devices[0], f"{name}: `count` lands every replica on GPU 0; pin device_ids"
        assert len(devices[0]["device_ids"]) == 1, f"{name}: one GPU per worker"
        ids.append(str(devices[0]["device_ids"][0]))
        assert name == f"worker-gpu{ids[-1]}", f"{name} is pinned to GPU {ids[-1]}"
        assert service["command"][:3] == ["worker", "--device", "cuda"], name
        assert "deploy" in service and "replicas" not in service["deploy"], name
    assert len(set(ids)) == len(ids), f"GPU workers share a device: {ids}"
    # one YAML anchor: the GPU workers differ only in their device
    shapes = [{k: v for k, v in s.items() if k != "deploy"} for s in gpu.values()]
    assert all(shape == shapes[0] for shape in shapes), "GPU workers differ in more than their device"
    raw = COMPOSE.read_text()
    assert raw.count("<<: *gpu-worker") == len(gpu)


def test_cpu_profile_involves_no_gpu_service(resolved: dict[str, Any]) -> None:
    cpu = started_by(resolved, {"cpu"})
    assert {"redis", "api", "worker-cpu"} <= cpu
    assert not cpu & set(gpu_services(resolved)), "`--profile cpu up` would build or start a GPU worker"
    assert not started_by(resolved, set()) & set(gpu_services(resolved)), "GPU workers need --profile gpu"
    assert set(gpu_services(resolved)) <= started_by(resolved, {"gpu"})
    for name in cpu:  # a service with a zoorank image is built here, never pulled
        service = resolved["services"][name]
        if str(service.get("image", "")).startswith("zoorank:"):
            assert service.get("build", {}).get("dockerfile") == "docker/Dockerfile", name


def test_redis_keeps_the_entrypoints_privilege_drop(resolved: dict[str, Any]) -> None:
    # The official entrypoint runs Redis as the `redis` user only when its first argument is redis-server
    # (or an option); a `sh -c` wrapper would keep it root.
    redis = resolved["services"]["redis"]
    assert redis["command"][0] == "redis-server"
    assert "entrypoint" not in redis and "user" not in redis
    assert "--requirepass" in redis["command"]


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_dockerfiles_install_with_the_constraints_and_without_extras(kind: str) -> None:
    text = DOCKERFILES[kind].read_text()
    assert re.search(r"^COPY constraints\.txt ", text, re.M)
    installs = re.findall(r"\bpip install\b[^\n]*", text)
    assert len(installs) >= 2
    for line in installs:
        assert "-c constraints.txt" in line, f"{DOCKERFILES[kind].name}: `{line}` ignores constraints.txt"
        assert "[" not in line.split("-c constraints.txt")[1].replace('"torch', ""), "no extras in the image"
    assert re.search(r"pip install -c constraints\.txt \.(\s|$)", text), "the package itself, no extras"
    assert not re.search(r"^VOLUME\b", text, re.M), "VOLUME leaves an anonymous volume behind per container"
    # the weights are checked in the runtime stage, as the image runs (not in /src, the source tree)
    runtime = text[text.rindex("\nFROM ") :]
    assert "python -m zoo.assets status" in runtime
    assert "zoo.assets status" not in text[: text.rindex("\nFROM ")]


def test_gpu_base_is_cuda_base_not_cudnn_runtime() -> None:
    # the cu130 torch wheel brings CUDA and cuDNN as pip packages; a runtime/cudnn base ships them twice
    base = re.search(r"^ARG CUDA_IMAGE=(\S+)", DOCKERFILES["gpu"].read_text(), re.M)
    assert base is not None and re.fullmatch(r"nvidia/cuda:[\d.]+-base-\S+", base.group(1))


def test_dockerignore_keeps_development_trees_out() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in ("benchmark", "perf", "bench", "tests", "clients", "docs", "examples"):
        assert entry in ignored, f"{entry}/ would be sent to the Docker build"
