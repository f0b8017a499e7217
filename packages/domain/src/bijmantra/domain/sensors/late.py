"""Readings that arrive after newer ones were evaluated, judged among their neighbours in time.

``observe`` folds readings newer than a watch's last one; a batch stored or redelivered late
has readings at or before it. Those are judged here against the stored readings around them
(ADR 0380): a threshold breach fires at its reading (after ``hold`` of the run it sits in, the
run as stored now), and a rate of change is judged between a late reading and its true
neighbours in time. Alert ids derive from the reading, so judging a reading again opens
nothing twice. A judgment made earlier across a gap that a late batch then filled stands:
alerts are never taken back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import pairwise

from bijmantra.domain.sensors.alerts import (
    AlertRule,
    Firing,
    RuleKind,
    Watch,
    breach_firing,
    breached,
    change_firing,
)

TimedValue = tuple[datetime, float]  # a reading of the rule's metric: (time, value)


def late_window(rule: AlertRule, late: Sequence[TimedValue]) -> tuple[datetime, datetime]:
    """The stored readings a late batch is judged among: those in this window and the nearest
    one outside each end. A threshold reaches ``hold`` either side (the run a late reading
    joins), a rate only the neighbours."""
    reach = rule.hold if rule.kind is RuleKind.THRESHOLD else timedelta(0)
    times = [at for at, _ in late]
    return min(times) - reach, max(times) + reach


def observe_late(
    rule: AlertRule,
    watch: Watch,
    device_id: str,
    late: Sequence[TimedValue],
    stored: Sequence[TimedValue],
) -> tuple[Watch, list[Firing]]:
    """The alerts ``late`` readings raise among ``stored`` (``late_window``'s readings, the
    late ones among them), and the watch with its breach run corrected.

    The cooldown is left to where alerts are opened (``cooldown_window``, symmetric in time,
    in time order): only there is it known which alerts did open. The watch's ``last_fired``
    is the newest firing, which a late one is not."""
    merged = dict(late)
    merged.update(stored)  # the stored value wins, as the first insert did
    # Up to the watch's last reading: ``observe`` takes the newer ones from the watch.
    newest = watch.last_at or max(merged)
    timeline = sorted(reading for reading in merged.items() if reading[0] <= newest)
    lateness = {at for at, _ in late}
    if rule.kind is RuleKind.THRESHOLD:
        watch, found = _late_breaches(rule, watch, device_id, timeline, lateness)
    elif rule.kind is RuleKind.RATE_OF_CHANGE:
        found = _late_changes(rule, device_id, timeline, lateness)
    else:
        return watch, []  # a no-data rule reads only the newest reading
    return watch, found


def _late_breaches(
    rule: AlertRule,
    watch: Watch,
    device_id: str,
    timeline: list[TimedValue],
    lateness: set[datetime],
) -> tuple[Watch, list[Firing]]:
    """Runs of breaches through the timeline; a reading fires once its run held ``hold`` and
    a late reading sits in the run at or before it (the others were judged as they came)."""
    found: list[Firing] = []
    since: datetime | None = None
    touched = False
    for at, value in timeline:
        if not breached(rule, value):
            since, touched = None, False
            continue
        since = since or at
        touched = touched or at in lateness
        if touched and at - since >= rule.hold:
            found.append(breach_firing(rule, device_id, at, value, since))
    newest_at, newest_value = timeline[-1]
    if watch.breach_since is not None and newest_at >= watch.breach_since:
        # The run the watch is in reaches into the window: it starts where the window says.
        watch = replace(watch, breach_since=since if breached(rule, newest_value) else None)
    return watch, found


def _late_changes(
    rule: AlertRule, device_id: str, timeline: list[TimedValue], lateness: set[datetime]
) -> list[Firing]:
    """Each late reading against the reading before it, and the reading after it against the
    late one; the alert is about the later reading of the pair."""
    assert rule.max_change is not None
    found: list[Firing] = []
    for (then, old), (at, value) in pairwise(timeline):
        if then not in lateness and at not in lateness:
            continue  # judged when the later one came
        change = abs(value - old) / ((at - then) / rule.per)
        if change > rule.max_change:
            found.append(change_firing(rule, device_id, at, value, change))
    return found


def with_standing(watch: Watch, standing: Sequence[Firing]) -> Watch:
    """The watch once late firings were opened: its last firing is the newest alert that
    stands, so ``observe`` keeps the cooldown from an alert that exists (ADR 0380)."""
    newest = max((firing.at for firing in standing), default=None)
    if newest is None or (watch.last_fired is not None and watch.last_fired >= newest):
        return watch
    return replace(watch, last_fired=newest)
