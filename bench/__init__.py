"""Benchmarks, each run as a module from the repository root (``python -m bench.run``).

A load generator is one client flooding on purpose, so every benchmark lifts the gateway's
rate limits (ADR 0140) unless it measures them itself; importing any ``bench`` module sets
this before a stack starts, and sub-benchmarks inherit the environment.
"""

import os

UNLIMITED = ",".join(f"{c}=1000000000/1000000000" for c in ("read", "write", "search", "upload"))
os.environ.setdefault("GATEWAY_RATE_LIMITS", UNLIMITED)
