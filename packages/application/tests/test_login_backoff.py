"""The sign-in back-off rule (``BackoffPolicy``): pure, read against a given now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bijmantra.application.tenancy.throttle import BackoffPolicy
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


def test_policy_doubles_and_caps() -> None:
    policy = BackoffPolicy(free=3, base_seconds=2, max_seconds=30)
    assert [policy.lock_seconds(n) for n in range(1, 9)] == [0, 0, 2, 4, 8, 16, 30, 30]


def test_the_wait_is_the_last_failures_lock_less_the_time_since() -> None:
    policy = BackoffPolicy(free=3, base_seconds=10, window_seconds=600)
    assert policy.retry_after(2, NOW, NOW) == 0
    assert policy.retry_after(3, NOW, NOW) == 10
    assert policy.retry_after(4, NOW - timedelta(seconds=5), NOW) == 15
    assert policy.retry_after(4, NOW - timedelta(seconds=25), NOW) == 0


def test_failures_are_forgotten_a_window_after_the_last() -> None:
    policy = BackoffPolicy(free=1, base_seconds=10, max_seconds=10_000, window_seconds=600)
    assert policy.forgotten_before(NOW) == NOW - timedelta(seconds=600)
    assert policy.retry_after(20, NOW - timedelta(seconds=599), NOW) > 0
    assert policy.retry_after(20, NOW - timedelta(seconds=600), NOW) == 0


@given(st.integers(0, 60), st.floats(0, 4000), st.floats(0, 4000))
def test_the_wait_never_grows_as_time_passes(failures: int, since: float, later: float) -> None:
    policy = BackoffPolicy(free=5)
    last = NOW - timedelta(seconds=since)
    now, after = NOW, NOW + timedelta(seconds=later)
    assert 0 <= policy.retry_after(failures, last, after) <= policy.retry_after(failures, last, now)
    assert policy.retry_after(failures, last, now) <= policy.max_seconds
