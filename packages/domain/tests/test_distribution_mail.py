"""The rules of partner mail under the daily cap (ADR 0354): queued or not sent, when it may
be sent again, and a resend that queues once; the mailer's reports of each attempt (ADR
0363); the mailer's retries and how long a queued mail waits for their end (ADR 0377)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from bijmantra.domain.distribution.mail import (
    FAILURE_TEXT,
    MAIL_RETRY_WAITS,
    QUEUED_PATIENCE,
    MailFailure,
    MailHold,
    MailStatus,
    mail_horizon,
    next_day_start,
    partner_mail,
    reported,
    resend,
    retry_wait,
    retrying,
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


LATER = AT + timedelta(seconds=5)
NEVER = datetime(2000, 1, 1, tzinfo=UTC)


def test_a_report_ends_the_attempt_it_names_once() -> None:
    queued = partner_mail(0, AT, 3)
    sent = reported(queued, 1, MailStatus.SENT, LATER, LATER)
    assert sent is not None
    assert (sent.status, sent.at, sent.attempts, sent.failure) == (
        MailStatus.SENT,
        LATER,
        1,
        None,
    )
    assert reported(sent, 1, MailStatus.SENT, LATER, LATER) is None  # redelivered
    failure = MailFailure.UNDELIVERABLE
    assert reported(sent, 1, MailStatus.FAILED, LATER, LATER, failure) is None  # ended already
    assert reported(queued, 2, MailStatus.SENT, LATER, LATER) is None  # another attempt
    assert reported(partner_mail(3, AT, 3), 1, MailStatus.SENT, LATER, LATER) is None
    assert reported(None, 1, MailStatus.SENT, LATER, LATER) is None
    # The reported time is kept within the attempt's decision and domain-api's now.
    early = reported(queued, 1, MailStatus.SENT, NEVER, LATER)
    assert early is not None
    assert early.at == AT
    ahead = reported(queued, 1, MailStatus.SENT, LATER + timedelta(days=9), LATER)
    assert ahead is not None
    assert ahead.at == LATER


def test_a_failed_mail_says_why_and_is_sent_again_while_queued_and_sent_ones_are_not() -> None:
    queued = partner_mail(0, AT, 3)
    failed = reported(queued, 1, MailStatus.FAILED, LATER, LATER, MailFailure.ADDRESS_REFUSED)
    assert failed is not None
    assert failed.failure is MailFailure.ADDRESS_REFUSED
    tomorrow = AT + timedelta(days=1)
    again = resend(failed, "shipped", SHIPPED, 0, tomorrow, 3)
    assert again is not None
    assert (again.status, again.attempts, again.failure) == (MailStatus.QUEUED, 2, None)
    # The first attempt's report, late, does not end the second.
    assert reported(again, 1, MailStatus.SENT, tomorrow, tomorrow) is None
    sent = reported(again, 2, MailStatus.SENT, tomorrow, tomorrow)
    assert sent is not None
    assert resend(sent, "shipped", SHIPPED, 0, tomorrow, 3) is None
    # A queued mail is in flight while its report may still come (ADR 0367).
    assert resend(queued, "shipped", SHIPPED, 0, AT + QUEUED_PATIENCE / 2, 3) is None
    with pytest.raises(Conflict, match="cancelled"):
        resend(failed, "cancelled", SHIPPED, 0, tomorrow, 3)


def test_a_report_is_sent_or_failed_with_why() -> None:
    queued = partner_mail(0, AT, 3)
    with pytest.raises(ValueError):
        reported(queued, 1, MailStatus.QUEUED, LATER, LATER)
    with pytest.raises(ValueError):
        reported(queued, 1, MailStatus.FAILED, LATER, LATER)
    with pytest.raises(ValueError):
        reported(queued, 1, MailStatus.SENT, LATER, LATER, MailFailure.MESSAGE_REFUSED)
    assert set(FAILURE_TEXT) == set(MailFailure)


def test_a_queued_mail_whose_report_never_came_is_sent_again_and_its_late_report_ignored() -> None:
    """The mailer's report can be lost for good: the event dead-lettered while domain-api was
    away through every delivery, or dropped with its worker killed (ADR 0367). The record said
    queued for ever and a resend sent nothing. Past ``QUEUED_PATIENCE`` it is sent again as
    the next attempt; the first attempt's report, should it come, changes nothing."""
    queued = partner_mail(0, AT, 3)
    assert (
        resend(queued, "shipped", SHIPPED, 1, AT + QUEUED_PATIENCE - timedelta(seconds=1), 3)
        is None
    )
    later = AT + QUEUED_PATIENCE
    again = resend(queued, "shipped", SHIPPED, 1, later, 3)
    assert again is not None
    assert (again.status, again.attempts, again.at) == (MailStatus.QUEUED, 2, later)
    assert reported(again, 1, MailStatus.SENT, later, later) is None
    assert resend(again, "shipped", SHIPPED, 2, later, 3) is None  # a replayed resend: nothing
    with pytest.raises(RateLimited):  # under the day's cap like any resend
        resend(queued, "shipped", SHIPPED, 3, later, 3)


def test_the_mailer_waits_longer_each_time_then_gives_up() -> None:
    """Growing waits (ADR 0377): a greylisting server's retry window (postgrey: 5 minutes) is
    past by the third try, a server away for an hour by the sixth; the seventh is the last."""
    waits = [retry_wait(tries) for tries in range(1, len(MAIL_RETRY_WAITS) + 2)]
    assert waits[-1] is None
    offered = [w for w in waits if w is not None]
    assert offered == sorted(set(offered))
    assert sum(offered[:2], timedelta()) > timedelta(minutes=5)
    assert sum(offered[:5], timedelta()) > timedelta(hours=1)
    assert retry_wait(0) is None
    assert retry_wait(2, (timedelta(seconds=1),)) is None  # a test's schedule of seconds


def test_a_queued_mail_is_not_offered_again_while_the_mailer_may_still_try_it() -> None:
    """The writer may resend a queued mail once its report is overdue (ADR 0367). Sooner than
    the mailer's last try, the partner of a greylisting or briefly absent server would get it
    twice; the wait covers the tries' own time and the report's redeliveries too."""
    queued = partner_mail(0, AT, 3)
    last_try = AT + mail_horizon()
    assert resend(queued, "shipped", SHIPPED, 1, last_try + timedelta(minutes=30), 3) is None
    assert resend(queued, "shipped", SHIPPED, 1, AT + QUEUED_PATIENCE, 3) is not None


def test_a_try_the_server_did_not_take_says_when_the_next_is_and_only_a_newer_one_moves_it() -> (
    None
):
    """ADR 0381: the record stays queued and says its tries and next try; reports of tries
    come late or twice, so an older or repeated one changes nothing, nor does one about
    another attempt or an ended mail; the end of the attempt drops the next try."""
    queued = partner_mail(0, AT, 3)
    first = retrying(queued, 1, 1, AT + MAIL_RETRY_WAITS[0])
    assert first is not None
    assert (first.status, first.at, first.tries) == (MailStatus.QUEUED, AT, 1)
    assert first.next_try_at == AT + MAIL_RETRY_WAITS[0]
    second = retrying(first, 1, 2, LATER)
    assert second is not None
    assert (second.tries, second.next_try_at) == (2, LATER)
    assert retrying(second, 1, 1, AT) is None  # the first try's report, late
    assert retrying(second, 1, 2, LATER) is None  # redelivered
    assert retrying(second, 2, 3, LATER) is None  # another attempt
    sent = reported(second, 1, MailStatus.SENT, LATER, LATER)
    assert sent is not None
    assert (sent.status, sent.tries, sent.next_try_at) == (MailStatus.SENT, 2, None)
    assert retrying(sent, 1, 3, LATER) is None  # ended already
    assert retrying(None, 1, 1, LATER) is None
    with pytest.raises(ValueError, match="one try or more"):
        retrying(queued, 1, 0, LATER)
    again = resend(sent, "shipped", SHIPPED, 0, LATER, 3)
    assert again is None  # sent: nothing to resend
    failed = reported(second, 1, MailStatus.FAILED, LATER, LATER, MailFailure.UNDELIVERABLE)
    resent = resend(failed, "shipped", SHIPPED, 0, LATER, 3)
    assert resent is not None
    assert (resent.attempts, resent.tries, resent.next_try_at) == (2, 0, None)
