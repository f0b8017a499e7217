"""Named phases of a request for ``Server-Timing`` (``session;dur=…, data;dur=…``).

A handler opens a phase with ``phase(scope, name)``; opening the next one closes it, and
the response head closes the last. ``security_headers_middleware`` writes them after the
whole request's ``app;dur=…``, so a client, a browser's devtools or the benchmark can see
where a page's server time went without a profiler.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

_KEY = "server_timing"


@dataclass
class Phase:
    name: str
    started: float
    ended: float | None = None


def begin(scope: Any) -> list[Phase]:
    """A fresh list of phases for this request, kept in the scope's state."""
    phases: list[Phase] = []
    scope.setdefault("state", {})[_KEY] = phases
    return phases


def phase(scope: Any, name: str) -> None:
    """Start phase ``name`` now, ending the one before it; outside the middleware: nothing."""
    phases: list[Phase] | None = scope.get("state", {}).get(_KEY)
    if phases is None:
        return
    now = time.perf_counter()
    if phases and phases[-1].ended is None:
        phases[-1].ended = now
    phases.append(Phase(name, now))


def header_value(total_ms: float, phases: list[Phase], now: float) -> bytes:
    """``app;dur=<total>`` first (what existing readers parse), then each phase."""
    parts = [b"app;dur=%.2f" % total_ms]
    parts += [
        b"%s;dur=%.2f" % (p.name.encode(), ((p.ended or now) - p.started) * 1000) for p in phases
    ]
    return b", ".join(parts)
