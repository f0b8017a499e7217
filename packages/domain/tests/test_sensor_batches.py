"""``sort_batch`` against a plain oracle of the rules, over random batches: the whole-batch
check a column at a time (most batches) and the item-by-item walk must agree with it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from bijmantra.domain.sensors import (
    DeviceProfile,
    MetricSpec,
    MetricSummary,
    Reading,
    ReadingLike,
    columns,
    sort_batch,
    summarize,
)
from bijmantra.domain.sensors.readings import MAX_CLOCK_SKEW, RETENTION
from hypothesis import given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PROFILE = DeviceProfile(
    "p",
    "station",
    (MetricSpec("air_temperature", "degC", -50, 70), MetricSpec("rainfall", "mm", 0, 500)),
    NOW,
)
SPECS = {m.name: m for m in PROFILE.metrics}


def oracle(items: list[Reading | str]) -> tuple[list[Reading], list[int]]:
    """The rules stated once more, item by item: (stored readings, refused indices)."""
    good: list[Reading] = []
    bad: list[int] = []
    seen: set[tuple[str, datetime]] = set()
    for i, item in enumerate(items):
        if isinstance(item, str):
            bad.append(i)
            continue
        spec = SPECS.get(item.metric)
        aware = item.at.tzinfo is not None
        ok = (
            spec is not None
            and aware
            and NOW - RETENTION <= item.at <= NOW + MAX_CLOCK_SKEW
            and math.isfinite(item.value)
            and spec.minimum <= item.value <= spec.maximum
        )
        if not ok:
            bad.append(i)
        elif (item.metric, item.at) not in seen:
            seen.add((item.metric, item.at))
            good.append(item)
    return good, bad


minutes = st.integers(-5, 600)  # mostly recent, a few in the future beyond the skew
metric = st.sampled_from(["air_temperature", "air_temperature", "rainfall", "co2"])
value = st.one_of(st.floats(-60, 80, allow_nan=False), st.just(math.nan), st.just(math.inf))
aware = st.builds(
    lambda m, name, v: Reading(name, NOW - timedelta(minutes=m), v), minutes, metric, value
)
naive = st.builds(
    lambda m, v: Reading("rainfall", (NOW - timedelta(minutes=m)).replace(tzinfo=None), v),
    minutes,
    st.floats(0, 10),
)
old = st.builds(
    lambda v: Reading("rainfall", NOW - RETENTION - timedelta(days=1), v), st.floats(0, 1)
)
item = st.one_of(aware, aware, aware, naive, old, st.just("malformed reading: x"))
clean = st.builds(
    lambda m, v: Reading("air_temperature", NOW - timedelta(minutes=m), v),
    st.integers(0, 10_000),
    st.floats(-50, 70),
)


@settings(max_examples=300)
@given(st.lists(item, min_size=1, max_size=40))
def test_any_batch_is_sorted_as_the_rules_say(items: list[Reading | str]) -> None:
    result = sort_batch(PROFILE, items, NOW)
    good, bad = oracle(items)
    assert list(result.good) == good
    assert [e.index for e in result.errors] == bad
    assert_columns_are_the_readings(result.good)


def assert_columns_are_the_readings(checked: tuple[ReadingLike, ...]) -> None:
    """The columns a checked batch carries (taken once, read by the store and the event)
    are its readings' own, and its summaries those of the same readings in a plain list."""
    plain = list(checked)
    taken = columns(checked)
    assert taken == ([r.metric for r in plain], [r.at for r in plain], [r.value for r in plain])
    if plain:
        assert summarize(checked) == summarize(plain)


@settings(max_examples=100)
@given(st.lists(clean, min_size=1, max_size=200))
def test_a_clean_batch_keeps_every_reading_once(items: list[Reading | str]) -> None:
    result = sort_batch(PROFILE, items, NOW)
    good, bad = oracle(items)
    assert (list(result.good), bad, result.errors) == (good, [], ())
    assert_columns_are_the_readings(result.good)


def test_one_bad_item_in_a_large_batch_is_named_by_its_index() -> None:
    items: list[Reading | str] = [
        Reading("air_temperature", NOW - timedelta(minutes=i), 20.0) for i in range(5_000)
    ]
    items[4_321] = Reading("air_temperature", NOW - timedelta(minutes=4_321), 71.0)
    result = sort_batch(PROFILE, items, NOW)
    assert [e.index for e in result.errors] == [4_321]
    assert "outside -50" in result.errors[0].reason
    assert len(result.good) == 4_999


def test_a_summary_per_metric_ends_on_the_reading_observe_ends_on() -> None:
    """Count, span and extremes per metric, in first-seen order; the newest reading of a
    metric is its last by time (of two at one time the greater value, as ``observe`` sorts),
    not the batch's last item (ADR 0304)."""
    at = [NOW - timedelta(minutes=m) for m in range(4)]
    batch = [
        Reading("rainfall", at[1], 0.5),
        Reading("air_temperature", at[2], 4.0),
        Reading("air_temperature", at[0], 3.0),
        Reading("air_temperature", at[0], 3.5),
        Reading("air_temperature", at[3], -1.0),
        Reading("rainfall", at[2], 2.0),
    ]
    rain, temperature = summarize(batch)
    assert rain == MetricSummary("rainfall", 2, at[2], at[1], 0.5, 2.0, 0.5)
    assert temperature == MetricSummary("air_temperature", 4, at[3], at[0], -1.0, 4.0, 3.5)
