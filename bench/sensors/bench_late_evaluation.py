"""Alert evaluation of in-order telemetry before and after ADR 0380, in the same run.

What ADR 0380 changed on the in-order path is the worker's fold of an event's readings into
each rule's watch: ``observe`` now collects the readings it skips (a list the caller passes;
a test per skipped reading), and builds its firings with helpers it shares with
``observe_late``. Everything else an event costs (its inbox row, the
rules call, the watch row read and written, the alerts call) is the same statements before
and after, so this measures the fold alone, where a difference would show undiluted.

* new: ``observe`` of this tree with a list for late readings, per rule, per batch;
* old: ``observe`` of ``alerts.py`` as it was at ``BENCH_EVAL_BASE`` (default: the commit
  before ADR 0380), loaded from git into its own module.

A year of 1-minute readings (``BENCH_SENSOR_READINGS``, 525,600, the values of
``bench_sensors``) in batches of ``BENCH_SENSOR_BATCH`` (5,000), a threshold rule with a hold
and a rate rule that the readings never trip (the usual case), ``BENCH_ROUNDS`` (7) rounds
each batch through the old fold, the new one and the old one again (a control that shows
the harness's own spread), the three taking turns going first; the ratio is new/old time
(≤ 1, or within the control's spread, is not slower). Also: one
batch judged late among the stored readings around it against the same batch in order.

    uv run python -m bench.sensors.bench_late_evaluation
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from bijmantra.domain.sensors import (
    TimedValue,
    Watch,
    late_window,
    observe,
    observe_late,
)
from bijmantra.domain.sensors import alerts as new_alerts
from bijmantra.kernel import TenantId

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "sensors_late_evaluation.json"
ALERTS = "packages/domain/src/bijmantra/domain/sensors/alerts.py"
BASE = os.environ.get("BENCH_EVAL_BASE", "8793de36^")
READINGS = int(os.environ.get("BENCH_SENSOR_READINGS", "525600"))
BATCH = int(os.environ.get("BENCH_SENSOR_BATCH", "5000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
START = datetime(2026, 1, 1, tzinfo=UTC)
TENANT = TenantId(uuid.UUID(int=1))


def value(i: int) -> float:
    return round(15.0 + 10.0 * ((i % 1440) / 1440.0) - (i % 7) * 0.3, 3)


def batches() -> list[list[TimedValue]]:
    rows = [(START + timedelta(minutes=i), value(i)) for i in range(READINGS)]
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def old_alerts() -> ModuleType:
    """``alerts.py`` at ``BASE``, as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{BASE}:{ALERTS}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "alerts_before_0380.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("alerts_before_0380", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def rules(module: Any) -> list[Any]:
    common = {"tenant_id": TENANT, "device_id": "d", "profile_id": None, "name": "r"}
    common |= {"metric": "air_temperature", "cooldown": timedelta(hours=1)}
    return [
        module.AlertRule(
            rule_id="warm",
            kind=module.RuleKind.THRESHOLD,
            comparison=module.Comparison.ABOVE,
            threshold=30.0,
            hold=timedelta(minutes=10),
            **common,
        ),
        module.AlertRule(
            rule_id="jump", kind=module.RuleKind.RATE_OF_CHANGE, max_change=5.0, **common
        ),
    ]


class OldFold:
    """The fold before ADR 0380: ``observe`` per rule."""

    def __init__(self, module: Any) -> None:
        self.module, self.rules = module, rules(module)
        self.watches = {rule.rule_id: module.Watch() for rule in self.rules}

    def __call__(self, batch: list[TimedValue]) -> None:
        for rule in self.rules:
            watch = self.watches[rule.rule_id]
            self.watches[rule.rule_id], _ = self.module.observe(rule, watch, "d", batch)


class NewFold:
    """The fold after: ``observe`` collecting the late readings (none here)."""

    def __init__(self) -> None:
        self.rules = rules(new_alerts)
        self.watches = {rule.rule_id: Watch() for rule in self.rules}

    def __call__(self, batch: list[TimedValue]) -> None:
        for rule in self.rules:
            late: list[TimedValue] = []
            self.watches[rule.rule_id], _ = observe(
                rule, self.watches[rule.rule_id], "d", batch, late
            )
            assert not late


def one_round(module: Any, data: list[list[TimedValue]], turn: int) -> dict[str, float]:
    """The year through the old fold, the new one and the old one again (the control: what
    the harness reads as a difference between identical code), batch by batch, the three
    taking turns going first so that a swing of the host's load falls on all: seconds each."""
    sides: list[tuple[str, Callable[[list[TimedValue]], None]]] = [
        ("old", OldFold(module)),
        ("new", NewFold()),
        ("control", OldFold(module)),
    ]
    spent = dict.fromkeys(("old", "new", "control"), 0.0)
    for index, batch in enumerate(data):
        first = (index + turn) % len(sides)
        for name, fold in sides[first:] + sides[:first]:
            started = time.perf_counter()
            fold(batch)
            spent[name] += time.perf_counter() - started
    return spent


def late_batch_cost(data: list[list[TimedValue]]) -> dict[str, float]:
    """One batch judged late (its window: itself and one reading each side) against the same
    batch folded in order, per rule, medians of 7."""
    batch, stored = data[1], [data[0][-1], *data[1], data[2][0]]
    after = Watch(last_at=data[2][-1][0], last_value=data[2][-1][1])
    before = Watch(last_at=data[0][-1][0], last_value=data[0][-1][1])
    figures: dict[str, float] = {}
    for rule in rules(new_alerts):
        assert late_window(rule, batch)[0] <= batch[0][0]
        late_s = _median(lambda r=rule: observe_late(r, after, "d", batch, stored), 7)
        order_s = _median(lambda r=rule: observe(r, before, "d", batch), 7)
        figures[f"{rule.kind}_late_vs_in_order"] = round(late_s / order_s, 2)
    return figures


def _median(work: Callable[[], object], times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    data = batches()
    module_old = old_alerts()
    one_round(module_old, data[:5], 0)  # warm-up
    rounds = [one_round(module_old, data, turn) for turn in range(ROUNDS)]
    ratios = [round(r["new"] / r["old"], 3) for r in rounds]
    control = [round(r["control"] / r["old"], 3) for r in rounds]
    old_s = [r["old"] for r in rounds]
    new_s = [r["new"] for r in rounds]
    report = {
        "meta": {
            "python": platform.python_version(),
            "readings": READINGS,
            "batch": BATCH,
            "rounds": ROUNDS,
            "base": BASE,
            "load_average": [round(x, 1) for x in os.getloadavg()],
        },
        "in_order_fold": {
            "old_ms_per_batch_median": round(statistics.median(old_s) / len(data) * 1000, 3),
            "new_ms_per_batch_median": round(statistics.median(new_s) / len(data) * 1000, 3),
            "round_ratios_new_vs_old": ratios,
            "median_ratio_new_vs_old": statistics.median(ratios),
            "control_round_ratios_old_vs_old": control,
            "control_median_ratio": statistics.median(control),
            "target": "<= 1.0, or within the control's spread (not slower)",
        },
        "late_batch": late_batch_cost(data),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2), flush=True)


if __name__ == "__main__":
    main()
