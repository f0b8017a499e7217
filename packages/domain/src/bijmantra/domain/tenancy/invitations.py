"""How many invitations an organization may send: each one mails an address the admin
chose, under a subject naming the organization, so the bound is what stands between the
platform's mail server and a spammer who founded an organization (ADR 0335)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

INVITATION_WINDOW = timedelta(days=1)
MAX_INVITATIONS_PER_WINDOW = 100  # re-invitations of one address included


def invitation_wait(
    created: Sequence[datetime], now: datetime, limit: int = MAX_INVITATIONS_PER_WINDOW
) -> timedelta | None:
    """None if one more invitation may be made now, given when the organization's
    invitations of the last ``INVITATION_WINDOW`` were made (oldest first); else how long
    until one of them leaves the window."""
    recent = [at for at in created if at > now - INVITATION_WINDOW]
    if len(recent) < limit:
        return None
    return recent[len(recent) - limit] + INVITATION_WINDOW - now
