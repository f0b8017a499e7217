"""Late readings (ADR 0380): batches delivered out of time order, or again, fire what their
readings call for among their true neighbours, and never the same reading's alert twice."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bijmantra.domain.sensors import (
    AlertRule,
    Comparison,
    Firing,
    RuleKind,
    TimedValue,
    Watch,
    cooldown_window,
    late_window,
    observe,
    observe_late,
    with_standing,
)
from bijmantra.kernel import TenantId
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
THRESHOLD = AlertRule(
    rule_id="hot",
    tenant_id=TenantId(uuid.UUID(int=7)),
    name="hot",
    metric="air_temperature",
    kind=RuleKind.THRESHOLD,
    device_id="logger",
    profile_id=None,
    cooldown=timedelta(0),
    comparison=Comparison.ABOVE,
    threshold=0.0,
)
RATE = replace(THRESHOLD, rule_id="jump", kind=RuleKind.RATE_OF_CHANGE, max_change=2.0)


@dataclass
class Pipeline:
    """One rule on one device as the platform runs it: a batch is stored (the first value of
    a time wins), then evaluated (newer readings folded, late ones judged among the stored
    readings of their window), and its firings opened as domain-api opens them (an id once,
    none within the cooldown of another)."""

    rule: AlertRule
    stored: dict[datetime, float] = field(default_factory=dict)
    watch: Watch = field(default_factory=Watch)
    opened: dict[datetime, Firing] = field(default_factory=dict)

    def deliver(self, batch: list[TimedValue]) -> None:
        for at, value in batch:
            self.stored.setdefault(at, value)
        self.evaluate(batch)

    def evaluate(self, batch: list[TimedValue]) -> None:
        late: list[TimedValue] = []
        folded, fired = observe(self.rule, self.watch, "logger", batch, late)
        if late:  # judged first, then the newer readings folded again from the watch
            window = self.around(*late_window(self.rule, late))
            self.watch, judged = observe_late(self.rule, self.watch, "logger", late, window)
            self.watch = with_standing(self.watch, self.open(judged))
            folded, fired = observe(self.rule, self.watch, "logger", batch)
        self.watch = folded
        self.open(fired)

    def open(self, fired: list[Firing]) -> list[Firing]:
        """The firings whose alert stands, as domain-api answers: opened now or before."""
        standing = []
        for firing in sorted(fired, key=lambda f: f.at):
            start, end = cooldown_window(self.rule, firing.at)
            if firing.at not in self.opened and not any(start < at < end for at in self.opened):
                self.opened[firing.at] = firing
            if firing.at in self.opened:
                standing.append(firing)
        return standing

    def around(self, start: datetime, end: datetime) -> list[TimedValue]:
        """What the store answers: the readings in [start, end] and the nearest on each side."""
        times = sorted(self.stored)
        inside = [at for at in times if start <= at <= end]
        before = [at for at in times if at < start][-1:]
        after = [at for at in times if at > end][:1]
        return [(at, self.stored[at]) for at in before + inside + after]


def minutes(values: list[float], first: int = 0) -> list[TimedValue]:
    return [(T0 + (first + i) * MINUTE, value) for i, value in enumerate(values)]


@st.composite
def batches_and_order(draw: st.DrawFn) -> tuple[list[list[TimedValue]], list[int]]:
    """A device's readings a minute apart cut into batches, and an order of delivery."""
    values = draw(st.lists(st.sampled_from([-3.0, -1.0, 0.5, 1.0, 4.0]), min_size=2, max_size=30))
    cuts = sorted(draw(st.sets(st.integers(1, len(values) - 1), max_size=6)))
    edges = [0, *cuts, len(values)]
    batches = [minutes(values[a:b], a) for a, b in itertools.pairwise(edges)]
    return batches, draw(st.permutations(range(len(batches))))


def opened(rule: AlertRule, batches: list[list[TimedValue]], order: list[int]) -> set[datetime]:
    pipeline = Pipeline(rule)
    for index in order:
        pipeline.deliver(batches[index])
    return set(pipeline.opened)


def test_a_late_batch_fires_its_breach_once_where_it_fired_nothing() -> None:
    pipeline = Pipeline(THRESHOLD)
    early, late_batch, newer = minutes([-1, -1]), minutes([-1, 5, -1], 2), minutes([-1, -1], 5)
    pipeline.deliver(early)
    pipeline.deliver(newer)
    pipeline.deliver(late_batch)
    pipeline.evaluate(late_batch)  # delivered again: the same reading, the same alert
    assert list(pipeline.opened) == [T0 + 3 * MINUTE]


def test_a_late_reading_is_judged_against_its_neighbours_in_time() -> None:
    pipeline = Pipeline(RATE)
    pipeline.deliver(minutes([10, 10]))
    pipeline.deliver(minutes([10], 3))  # beside minute 1 it changed nothing: no alert
    assert pipeline.opened == {}
    pipeline.deliver(minutes([30], 2))  # up 20 from minute 1, down 20 to minute 3
    assert sorted(pipeline.opened) == [T0 + 2 * MINUTE, T0 + 3 * MINUTE]


def test_a_late_breach_lengthens_the_run_the_watch_is_in() -> None:
    pipeline = Pipeline(replace(THRESHOLD, hold=3 * MINUTE))
    pipeline.deliver(minutes([-1]))
    pipeline.deliver(minutes([1, 1], 2))  # the run starts at minute 2 so far
    pipeline.deliver(minutes([1], 1))  # it started at minute 1: held 2 minutes at minute 3
    assert pipeline.opened == {}
    assert pipeline.watch.breach_since == T0 + MINUTE
    pipeline.deliver(minutes([1], 4))  # in order again, from the corrected run: held 3
    assert list(pipeline.opened) == [T0 + 4 * MINUTE]


def test_the_cooldown_runs_from_the_alert_that_stands() -> None:
    """A late alert at minute 0 refuses the in-order firing at 3 (cooldown 4); the watch's
    last firing is the alert at 0, not the refused one, so minute 5 still fires."""
    pipeline = Pipeline(replace(THRESHOLD, cooldown=4 * MINUTE))
    for batch in (minutes([-3], 1), minutes([0.5]), minutes([-3, 0.5, -3, 0.5], 2)):
        pipeline.deliver(batch)
    assert sorted(pipeline.opened) == [T0, T0 + 5 * MINUTE]


def test_a_no_data_rule_reads_no_late_reading() -> None:
    silent = replace(THRESHOLD, kind=RuleKind.NO_DATA)
    watch = Watch(last_at=T0 + 5 * MINUTE, last_value=1.0)
    assert observe_late(silent, watch, "logger", minutes([9]), minutes([9])) == (watch, [])


@settings(max_examples=300, deadline=None)
@given(batches_and_order())
def test_a_threshold_fires_the_same_alerts_in_any_order_of_delivery(
    case: tuple[list[list[TimedValue]], list[int]],
) -> None:
    batches, order = case
    in_order = opened(THRESHOLD, batches, list(range(len(batches))))
    assert opened(THRESHOLD, batches, order) == in_order
    assert in_order == {at for batch in batches for at, value in batch if value > 0}


@settings(max_examples=300, deadline=None)
@given(batches_and_order(), st.integers(0, 4))
def test_delivered_again_in_any_order_nothing_fires_twice_and_nothing_is_missed(
    case: tuple[list[list[TimedValue]], list[int]], hold: int
) -> None:
    """Held thresholds and rates judged late miss nothing in-order delivery fires. A
    judgment made across a gap that a late batch later filled stands (alerts are not taken
    back), so out of order may open more; every delivery after the first opens nothing."""
    batches, order = case
    for rule in (replace(THRESHOLD, hold=hold * MINUTE), RATE):
        in_order = opened(rule, batches, list(range(len(batches))))
        pipeline = Pipeline(rule)
        for index in order:
            pipeline.deliver(batches[index])
        assert set(pipeline.opened) >= in_order
        before = dict(pipeline.opened)
        for index in order:
            pipeline.evaluate(batches[index])
        assert pipeline.opened == before


@settings(max_examples=300, deadline=None)
@given(batches_and_order(), st.integers(1, 5))
def test_with_a_cooldown_every_breach_is_covered_and_alerts_keep_their_distance(
    case: tuple[list[list[TimedValue]], list[int]], cooldown: int
) -> None:
    """Which reading of an episode opens its alert depends on what came first; that every
    breach has an alert within the cooldown, and no two alerts are nearer, does not."""
    batches, order = case
    rule = replace(THRESHOLD, cooldown=cooldown * MINUTE)
    alerts = sorted(opened(rule, batches, order))
    breaches = [at for batch in batches for at, value in batch if value > 0]
    assert all(any(abs(at - alert) < rule.cooldown for alert in alerts) for at in breaches)
    assert all(later - earlier >= rule.cooldown for earlier, later in itertools.pairwise(alerts))
