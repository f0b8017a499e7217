"""The rules of partner mail under the daily cap (ADR 0354): queued or not sent, when it may
be sent again, and a resend that queues once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from bijmantra.domain.distribution.mail import (
    MailHold,
    MailStatus,
    next_day_start,
    partner_mail,
    resend,
)
from bijmantra.kernel import Conflict, RateLimited
from hypothesis import given
from hypothesis import strategies as st

AT = datetime(2026, 12, 6, 23, 59, 30, tzinfo=UTC)
SHIPPED = frozenset({"shipped", "delivered"})


@given(
    mailed=st.integers(min_value=0, max_value=1000),
    per_day=st.integers(min_value=1, max_value=600),
    at=st.datetimes(timezones=st.just(UTC)),
)
def test_a_mail_is_queued_exactly_while_the_day_has_room(
    mailed: int, per_day: int, at: datetime
) -> None:
    mail = partner_mail(mailed, at, per_day)
    assert mail.day == at.date()
    if mailed < per_day:
        assert (mail.status, mail.held_by, mail.resend_from) == (MailStatus.QUEUED, None, None)
    else:
        assert mail.status is MailStatus.NOT_SENT
        assert mail.held_by is MailHold.DAILY_LIMIT
        assert mail.resend_from is not None
        assert timedelta(0) < mail.resend_from - at <= timedelta(days=1)
        assert mail.resend_from.time() == datetime.min.time()


def test_the_cap_resets_at_midnight_utc_whatever_the_writers_zone() -> None:
    east = datetime(2026, 12, 7, 3, 0, tzinfo=timezone(timedelta(hours=5)))  # 22:00 UTC the 6th
    assert next_day_start(east) == datetime(2026, 12, 7, tzinfo=UTC)
    assert partner_mail(5, east, 5).day == date(2026, 12, 6)


def test_a_resend_waits_for_room_then_queues_once() -> None:
    held = partner_mail(3, AT, 3)
    with pytest.raises(RateLimited) as refused:
        resend(held, "shipped", SHIPPED, 3, AT, 3)
    assert [(d.location, d.message) for d in refused.value.details] == [("retryAfter", "30")]

    tomorrow = AT + timedelta(minutes=1)
    again = resend(held, "shipped", SHIPPED, 0, tomorrow, 3)
    assert again is not None
    assert (again.status, again.attempts, again.day) == (MailStatus.QUEUED, 2, tomorrow.date())
    assert again.held_by is None
    assert resend(again, "shipped", SHIPPED, 1, tomorrow, 3) is None  # a replay: nothing


def test_a_resend_needs_a_mail_held_back_and_a_record_it_still_speaks_of() -> None:
    with pytest.raises(Conflict, match="no mail"):
        resend(None, "shipped", SHIPPED, 0, AT, 3)
    with pytest.raises(Conflict, match="cancelled"):
        resend(partner_mail(3, AT, 3), "cancelled", SHIPPED, 0, AT + timedelta(days=1), 3)
