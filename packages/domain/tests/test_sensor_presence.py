"""Device presence: one offline per silence, one online on return, redelivery harmless."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bijmantra.domain.sensors.presence import (
    Presence,
    PresenceChange,
    check,
    presence_due,
    seen,
)

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
EXPECTED = timedelta(minutes=15)


def test_a_device_never_seen_is_never_reported_offline() -> None:
    assert check(Presence(), T0 + timedelta(days=30), EXPECTED) == (Presence(), None)
    assert presence_due(Presence(), EXPECTED) is None


def test_offline_only_after_the_expected_interval_and_only_once() -> None:
    presence, change = seen(Presence(), T0)
    assert change is None
    assert presence_due(presence, EXPECTED) == T0 + EXPECTED
    assert check(presence, T0 + EXPECTED - timedelta(seconds=1), EXPECTED) == (presence, None)
    offline, change = check(presence, T0 + EXPECTED, EXPECTED)
    assert change is PresenceChange.OFFLINE
    assert check(offline, T0 + timedelta(days=1), EXPECTED) == (offline, None)
    assert presence_due(offline, EXPECTED) is None


def test_the_next_reading_brings_it_online_once() -> None:
    offline, _ = check(seen(Presence(), T0)[0], T0 + EXPECTED, EXPECTED)
    back, change = seen(offline, T0 + timedelta(hours=1))
    assert change is PresenceChange.ONLINE
    again, change = seen(back, T0 + timedelta(hours=1, minutes=1))
    assert change is None
    assert presence_due(again, EXPECTED) == T0 + timedelta(hours=1, minutes=1) + EXPECTED


def test_a_redelivered_older_reading_changes_nothing() -> None:
    offline, _ = check(seen(Presence(), T0)[0], T0 + EXPECTED, EXPECTED)
    assert seen(offline, T0) == (offline, None)
    assert seen(offline, T0 - timedelta(minutes=5)) == (offline, None)
