"""The local stack's ports: which each service listens on, and whether a port is taken; and
the organizations' daily quotas it raises."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from bijmantra.testkit.servers import free_port

# The local stack (``up``, end-to-end tests, benchmarks) raises the daily quotas (ADR 0340)
# far past any local load: demo data, imports and benchmarks measure the path, not the limit.
# A test of the quotas sets its own small ones in the stack's ``env``.
LOCAL_QUOTAS = {
    "QUOTA_EVENT_BYTES_PER_DAY": str(1 << 40),
    "QUOTA_TELEMETRY_READINGS_PER_DAY": str(10**12),
    "QUOTA_GENOTYPE_CALLS_PER_DAY": str(10**15),
    "QUOTA_ANALYSIS_RESULT_BYTES_PER_DAY": str(1 << 40),
    "QUOTA_UPLOAD_BYTES_PER_DAY": str(1 << 40),
}


@dataclass
class Ports:
    """The services' ports. A port picked as free can be taken before the service binds it;
    ``repick`` draws new ones for a retry, except the ``fixed`` ones (chosen by the user)."""

    gateway: int = 8000
    identity: int = field(default_factory=free_port)
    identity_grpc: int = field(default_factory=free_port)
    # Plaintext beside the mutual-TLS listeners: the probes' health and Prometheus' /metrics.
    identity_health: int = field(default_factory=free_port)
    identity_metrics: int = field(default_factory=free_port)
    domain_api: int = field(default_factory=free_port)
    domain_health: int = field(default_factory=free_port)
    domain_metrics: int = field(default_factory=free_port)
    gateway_metrics: int = field(default_factory=free_port)
    worker_health: int = field(default_factory=free_port)
    fixed: frozenset[str] = frozenset({"gateway"})

    def __post_init__(self) -> None:
        self.make_distinct()

    def repick(self) -> None:
        for name in PORT_NAMES - self.fixed:
            setattr(self, name, free_port())
        self.make_distinct()

    def make_distinct(self) -> None:
        """Each free port is drawn alone, so two services can draw the same one: redraw."""
        taken = {getattr(self, name) for name in PORT_NAMES & self.fixed}
        for name in sorted(PORT_NAMES - self.fixed):
            while getattr(self, name) in taken:
                setattr(self, name, free_port())
            taken.add(getattr(self, name))


PORT_NAMES = frozenset(
    {
        "gateway",
        "identity",
        "identity_grpc",
        "identity_health",
        "identity_metrics",
        "domain_api",
        "domain_health",
        "domain_metrics",
        "gateway_metrics",
        "worker_health",
    }
)


SERVICE_PORTS = {
    "identity": ("identity", "identity_grpc", "identity_health", "identity_metrics"),
    "domain-api": ("domain_api", "domain_metrics", "domain_health"),
    "analytics-worker": ("worker_health",),
    "gateway": ("gateway", "gateway_metrics"),
}


BIND_FAILURES = ("address already in use", "failed to bind", "errno 98", "address in use")


def listens(session: int, port: int) -> bool:
    """Whether a process of session ``session`` (a service started with
    ``start_new_session``, its workers included) holds a listening TCP socket on ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return False
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2]) != session:
                continue
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                return True
    return False


class ServiceStartError(RuntimeError):
    """One service did not come up: which, why, and the end of its log."""

    def __init__(self, service: str, reason: str, log_tail: str) -> None:
        super().__init__(f"{service} did not start: {reason}\n---- {service} log\n{log_tail}")
        self.service = service
        self.port_taken = any(f in log_tail.lower() for f in BIND_FAILURES)
