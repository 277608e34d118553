"""Timing benchmarks, run as modules: ``python -m perf.<name>`` (``make bench`` runs them all)."""
