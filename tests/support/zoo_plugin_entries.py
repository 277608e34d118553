"""Extra zoo entries for the job-engine tests, built from the trained ``cnn4.fashion_mnist`` weights.

* ``slowtest.cnn4``: the real network, but every forward pass first sleeps (so a test can act while an
  extraction is running: cancel it, or SIGKILL its worker);
* ``boomtest.cnn4``: its builder raises a plain ``RuntimeError`` (an unexpected, untyped failure: the
  message is retried, then dead-lettered).
* ``corrupttest.cnn4``: the real weights file under a recorded SHA-256 it does not match (a corrupt or
  substituted file: a typed ``weights-integrity`` error of that model alone).

:func:`entries` only builds them; ``tests.support.zoo_plugin`` registers them (worker processes import it
with ``--import``), and the test process adds them to the registry only for the tests that need them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from torch import nn

import zoo
from zoo import ZooEntry

#: Seconds every forward pass of ``slowtest.cnn4`` sleeps.
SLOW_BATCH_SECONDS = 0.6


def _sleep(module: nn.Module, args: Any) -> None:
    time.sleep(SLOW_BATCH_SECONDS)


def _slow(build: Callable[[], nn.Module]) -> nn.Module:
    net = build()
    net.register_forward_pre_hook(_sleep)
    return net


def _boom() -> nn.Module:
    raise RuntimeError("boom: this network cannot be built")


def entries() -> list[ZooEntry]:
    """The test entries (not registered)."""
    base = zoo.get_entry("cnn4.fashion_mnist")
    return [
        replace(base, id="slowtest.cnn4", builder=partial(_slow, base.builder), tags=("test",)),
        replace(base, id="boomtest.cnn4", builder=_boom, tags=("test",)),
        replace(
            base,
            id="corrupttest.cnn4",
            weights=replace(base.weights, sha256="0" * 64),
            tags=("test",),
        ),
    ]
