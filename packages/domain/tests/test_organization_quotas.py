"""Daily quotas per organization (ADR 0340): the day a write is charged to, the wait until it
turns, what a write costs, and the event budget that keeps one organization within its share
of the event stream."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from bijmantra.domain.tenancy.quotas import (
    EVENT_OVERHEAD,
    Charge,
    DailyQuotas,
    DayStanding,
    Resource,
    charges,
    deployment_quotas,
    early_refusal,
    event_budget,
    event_bytes,
    period_of,
    quota_refusal,
    seconds_to_next_period,
)
from bijmantra.kernel import ErrorCode
from hypothesis import given
from hypothesis import strategies as st

MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


def test_the_day_is_the_utc_day_whatever_the_clocks_zone() -> None:
    late = datetime(2026, 12, 7, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert period_of(late) == datetime(2026, 12, 8).date()
    assert seconds_to_next_period(datetime(2026, 12, 7, 23, 59, 59, 500_000, tzinfo=UTC)) == 1
    assert seconds_to_next_period(datetime(2026, 12, 7, tzinfo=UTC)) == 86_400


@given(MOMENTS)
def test_the_wait_ends_on_the_next_day(now: datetime) -> None:
    wait = seconds_to_next_period(now)
    assert 1 <= wait <= 86_400
    assert period_of(now + timedelta(seconds=wait)) == period_of(now) + timedelta(days=1)


def test_a_write_is_charged_for_bounded_resources_only_and_in_one_order() -> None:
    quotas = DailyQuotas({Resource.TELEMETRY_READINGS: 10, Resource.EVENT_BYTES: 100})
    usage = {Resource.TELEMETRY_READINGS: 3, Resource.EVENT_BYTES: 40}
    assert DailyQuotas({}).limits == {}
    assert charges(quotas, usage) == (
        Charge(Resource.EVENT_BYTES, 40, 100),
        Charge(Resource.TELEMETRY_READINGS, 3, 10),
    )
    assert charges(quotas, {Resource.EVENT_BYTES: 0, Resource.TELEMETRY_READINGS: 1}) == (
        Charge(Resource.TELEMETRY_READINGS, 1, 10),
    )
    assert charges(DailyQuotas({Resource.EVENT_BYTES: 5}), {Resource.TELEMETRY_READINGS: 9}) == ()
    with pytest.raises(ValueError, match="limit >= 1"):
        DailyQuotas({Resource.EVENT_BYTES: 0})


def test_an_event_costs_its_payload_and_what_the_stream_keeps_beside_it() -> None:
    assert event_bytes([]) == 0
    assert event_bytes([100, 0]) == 100 + 2 * EVENT_OVERHEAD


@given(
    st.integers(1 << 20, 1 << 45),
    st.integers(3600, 400 * 86_400).map(lambda s: timedelta(seconds=s)),
    st.integers(1, 1000),
)
def test_a_full_budget_every_day_holds_at_most_the_share_of_the_stream(
    stream_bytes: int, max_age: timedelta, share: int
) -> None:
    """The stream keeps an event for ``max_age``: at any moment it holds events of at most
    ``ceil(max_age / day) + 1`` UTC days of one organization."""
    budget = event_budget(stream_bytes, max_age, share)
    days_held = math.ceil(max_age / timedelta(days=1)) + 1
    if stream_bytes >= share * days_held:
        assert budget * days_held <= stream_bytes / share
    assert budget >= 1


def test_the_deployments_quotas() -> None:
    quotas = deployment_quotas(
        8 << 30,
        timedelta(days=30),
        share=8,
        event_bytes=0,
        readings=7,
        calls=9,
        results=11,
        uploads=13,
    )
    assert quotas.limits == {
        Resource.EVENT_BYTES: (8 << 30) // (8 * 31),
        Resource.TELEMETRY_READINGS: 7,
        Resource.GENOTYPE_CALLS: 9,
        Resource.ANALYSIS_RESULT_BYTES: 11,
        Resource.UPLOAD_BYTES: 13,
    }
    fixed = deployment_quotas(8 << 30, timedelta(days=30), share=8, event_bytes=5, readings=7)
    assert fixed.limits[Resource.EVENT_BYTES] == 5
    with pytest.raises(ValueError):
        event_budget(0, timedelta(days=1), 1)


def test_the_refusal_is_a_429_naming_the_quota_and_the_wait() -> None:
    refusal = quota_refusal(Resource.EVENT_BYTES, 1000, datetime(2026, 12, 7, 23, tzinfo=UTC))
    assert refusal.code is ErrorCode.RATE_LIMITED
    assert "daily quota of bytes of events (1,000)" in refusal.message
    assert "not stored" in refusal.message
    assert {d.location: d.message for d in refusal.details} == {
        "retryAfter": "3600",
        "quota": "event_bytes",
    }


def test_quotas_without_a_resource_neither_count_nor_refuse_it() -> None:
    quotas = DailyQuotas({Resource.EVENT_BYTES: 5, Resource.ANALYSIS_RESULT_BYTES: 7})
    work = quotas.without(Resource.EVENT_BYTES)
    assert work.limits == {Resource.ANALYSIS_RESULT_BYTES: 7}
    usage = {Resource.EVENT_BYTES: 100, Resource.ANALYSIS_RESULT_BYTES: 3}
    assert charges(work, usage) == (Charge(Resource.ANALYSIS_RESULT_BYTES, 3, 7),)


NOON = datetime(2026, 12, 7, 12, tzinfo=UTC)


def test_a_heavy_write_is_refused_early_only_when_the_day_has_no_room_for_it() -> None:
    def refused(used: int, limit: int, known: int = 0) -> bool:
        standing = DayStanding(Resource.UPLOAD_BYTES, used, limit)
        return early_refusal(standing, NOON, known) is not None

    assert not refused(99, 100)  # the size unknown: refused once the day is used up
    assert refused(100, 100)
    assert refused(150, 100)
    assert not refused(40, 100, known=60)  # known up front: refused when it would pass
    assert refused(41, 100, known=60)
    assert refused(0, 0)  # an operator's limit of 0: nothing
    assert early_refusal(None, NOON, 10**12) is None  # not bounded
    with pytest.raises(ValueError):
        early_refusal(DayStanding(Resource.UPLOAD_BYTES, 0, 1), NOON, -1)


def test_the_early_refusal_is_the_charges_429() -> None:
    standing = DayStanding(Resource.GENOTYPE_CALLS, 7, 7)
    early = early_refusal(standing, NOON)
    assert early is not None
    late = quota_refusal(Resource.GENOTYPE_CALLS, 7, NOON)
    assert (early.code, early.message, early.details) == (late.code, late.message, late.details)
    assert early.code is ErrorCode.RATE_LIMITED


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_what_starts_early_is_what_the_charge_of_its_known_amount_could_take(
    used: int, limit: int, known: int
) -> None:
    """Never refused early when the charge at commit would take it (more than 0 left and
    ``known`` fits), always when it could not."""
    refusal = early_refusal(DayStanding(Resource.GENOTYPE_CALLS, used, limit), NOON, known)
    assert (refusal is None) == (used < limit and used + known <= limit)
