"""CPU seconds of a running stack's processes, for benchmarks that report CPU per operation."""

from __future__ import annotations

from pathlib import Path

import psutil
from bijmantra.devstack.stack import DevStack
from bijmantra.testkit.servers import LocalRedis


class CpuMeter:
    """CPU seconds (user + system) of every process of the stack, children included.

    Each live process counts its own time and that of the children it has reaped, so a
    PostgreSQL backend or a worker that exits during a run stays counted (in its parent's
    ``children_*``) instead of taking its seconds out of the total."""

    def __init__(self, stack: DevStack, workdir: Path) -> None:
        self.client = psutil.Process()  # its children are the stack: counted on their own
        self.roots: dict[str, list[psutil.Process]] = {}
        for name, process in stack.services.items():
            self.roots[name] = [psutil.Process(process.pid)]
        for pidfile in workdir.rglob("postmaster.pid"):
            pid = int(pidfile.read_text().split()[0])
            self.roots["postgresql"] = [psutil.Process(pid)]
        self.roots["nats"] = [
            p
            for p in psutil.process_iter(["cmdline"])
            if str(workdir / "nats") in " ".join(p.info["cmdline"] or ())
        ]
        redis = [s.process for s in stack._servers if isinstance(s, LocalRedis) and s.process]
        self.roots["redis"] = [psutil.Process(p.pid) for p in redis]

    def sample(self) -> dict[str, float]:
        own = self.client.cpu_times()
        totals: dict[str, float] = {"client": own.user + own.system}
        for name, roots in self.roots.items():
            seconds = 0.0
            for root in roots:
                for process in (root, *root.children(recursive=True)):
                    try:
                        times = process.cpu_times()
                    except psutil.NoSuchProcess:
                        continue
                    seconds += (
                        times.user + times.system + times.children_user + times.children_system
                    )
            totals[name] = seconds
        return totals


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    delta = {name: round(after[name] - before.get(name, 0.0), 3) for name in after}
    delta["total"] = round(sum(delta.values()), 3)
    return delta
