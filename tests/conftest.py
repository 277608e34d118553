"""Shared pytest configuration."""

from __future__ import annotations

import os
from pathlib import Path

# Same torch hub cache as the Makefile (TORCH_HOME=.cache/torch), so `pytest` run by hand finds the weights
# that `python -m zoo.assets install` put there. Set before torch is imported.
os.environ.setdefault("TORCH_HOME", str(Path(__file__).resolve().parents[1] / ".cache" / "torch"))

import torch

# Deterministic, contention-free numerics on small CI machines.
torch.set_num_threads(int(os.environ.get("ZOORANK_TEST_THREADS", "1")))
