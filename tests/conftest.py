"""Shared pytest configuration."""

from __future__ import annotations

import os

import torch

# Deterministic, contention-free numerics on small CI machines.
torch.set_num_threads(int(os.environ.get("ZOORANK_TEST_THREADS", "1")))
