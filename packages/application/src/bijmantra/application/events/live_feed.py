"""The live event feed: what a WebSocket client may subscribe to and what it may see.

A client sees an event only when it belongs to the client's organization, the client's
roles grant the permission the event type needs (``events.permissions``, an explicit
table), and it matches the subscription (event type patterns and/or resource ids). Routing
data (tenant, type) comes from message headers, so most events are rejected without
decoding their payload.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

import msgspec
from bijmantra.application.events.bulk import is_bulk, matches_type
from bijmantra.application.events.permissions import EventPermissions
from bijmantra.application.security import Permission, permissions_for
from bijmantra.kernel import FieldError, NotFound, Principal, ValidationFailed

MAX_PATTERNS = 50
MAX_RESOURCES = 1000
MAX_RESOURCE_LENGTH = 256
_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*\.(\*|[a-z][a-z0-9_.]*))$")
_SEALED = re.compile(r"^[A-Za-z0-9_-]{1,88}$")  # base64url, no padding


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One event as the stream delivered it: routing fields plus the encoded envelope."""

    event_id: str
    tenant_id: str
    type: str
    payload: bytes
    position: int = 0  # where the stream stored it: a later event has a greater position
    behind: int = 0  # events stored after it when the stream sent it (0: the follower is level)


class EventFeed(Protocol):
    """Follows the domain-event stream (every gateway worker reads it through one follower
    of its own, ``live_hub.LiveHub``, ADR 0362)."""

    def follow(
        self, *, after: int, through: int | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[FeedItem]]:
        """Every event stored after position ``after``, then each new one; with ``through``,
        only those up to that position: the iteration ends once every event stored up to
        ``through`` was delivered, however long that takes (ADR 0375)."""
        ...

    async def last_position(self) -> int:
        """The position of the last event stored (0: none)."""
        ...

    async def next_position(self, after: int) -> int | None:
        """The position of the first event stored after ``after`` (``None``: none yet)."""
        ...

    async def position_of(self, event_id: str, tenant_id: str, *, at: int | None = None) -> int:
        """The position of ``event_id``, an event of ``tenant_id``; raises ``NotFound`` when
        it is not (or no longer) in the stream, or is another organization's. With ``at``
        (a resume token's position) only the event stored there is read, and it must be
        that event of that organization (ADR 0384)."""
        ...


class Subscribe(msgspec.Struct, kw_only=True, rename="camel"):
    """The client's ``{"type": "subscribe", ...}`` frame."""

    events: list[str] = msgspec.field(default_factory=list)
    resources: list[str] = msgspec.field(default_factory=list)
    resume_from: str | None = None  # an event id: found by a bounded scan (ADR 0335)
    # A frame's ``resumeAfter`` token: found by reading one message (ADR 0384).
    resume_after: str | None = None
    # Several events per frame (``{"type":"events","events":[…]}``): for clients that
    # follow many events a second, where one frame per event costs more than the event.
    batch: bool = False


class _About(msgspec.Struct):
    about: list[str] = msgspec.field(default_factory=list)


class _Subject(msgspec.Struct):
    subject: str
    data: _About = msgspec.field(default_factory=_About)


class _SubjectOnly(msgspec.Struct):
    subject: str


class _BulkIds(msgspec.Struct):
    ids: list[str]


class _Bulk(msgspec.Struct):
    data: _BulkIds


# Contexts whose events list in ``data.about`` every resource a viewer may follow them by.
ABOUT_CONTEXTS = ("operations.",)
_subject = msgspec.json.Decoder(_Subject)
_subject_only = msgspec.json.Decoder(_SubjectOnly)
_bulk = msgspec.json.Decoder(_Bulk)


def _about(item: FeedItem, resources: frozenset[str]) -> bool:
    """Whether the event is about one of ``resources`` (decoding only the ids it needs): its
    subject, a bulk event's ids, or (operations events) the ids listed in ``data.about``."""
    if is_bulk(item.type):
        try:
            ids = _bulk.decode(item.payload).data.ids
        except msgspec.ValidationError:  # a bulk event without ids names no resource
            return False
        return not resources.isdisjoint(ids)
    if not item.type.startswith(ABOUT_CONTEXTS):
        return _subject_only.decode(item.payload).subject in resources
    # ``data.about``: what else the event concerns (an operations item's board, plan and
    # season), so a viewer of any of them receives it.
    event = _subject.decode(item.payload)
    return event.subject in resources or not resources.isdisjoint(event.data.about)


@dataclass(frozen=True)
class FeedFilter:
    tenant_id: str
    granted: frozenset[Permission]
    permissions: EventPermissions
    patterns: tuple[str, ...]
    resources: frozenset[str]

    def admits(self, item: FeedItem) -> bool:
        if item.tenant_id != self.tenant_id:
            return False
        if self.permissions.needed(item.type) not in self.granted:
            return False  # unknown types (``None``) are never granted
        if self.patterns and not any(matches_type(p, item.type) for p in self.patterns):
            return False
        return not self.resources or _about(item, self.resources)


def feed_filter(
    principal: Principal, request: Subscribe, permissions: EventPermissions
) -> FeedFilter:
    """Validate a subscription for ``principal``; raise ``ValidationFailed`` on bad input."""
    problems: list[FieldError] = []
    if len(request.events) > MAX_PATTERNS:
        problems.append(FieldError("events", f"at most {MAX_PATTERNS} patterns"))
    problems += [
        FieldError("events", f"not an event type pattern: {p[:80]!r}")
        for p in request.events
        if not _PATTERN.match(p)
    ]
    if len(request.resources) > MAX_RESOURCES:
        problems.append(FieldError("resources", f"at most {MAX_RESOURCES} resource ids"))
    if any(not r or len(r) > MAX_RESOURCE_LENGTH for r in request.resources):
        problems.append(FieldError("resources", f"ids have 1 to {MAX_RESOURCE_LENGTH} characters"))
    if request.resume_from is not None and not is_event_id(request.resume_from):
        problems.append(FieldError("resumeFrom", "must be an event id (UUIDv7)"))
    if request.resume_after is not None and read_resume_token(request.resume_after) is None:
        problems.append(FieldError("resumeAfter", "must be the resumeAfter of an event frame"))
    if request.resume_from is not None and request.resume_after is not None:
        problems.append(FieldError("resumeAfter", "send resumeAfter or resumeFrom, not both"))
    if problems:
        raise ValidationFailed("Invalid subscription", problems)
    return FeedFilter(
        str(principal.tenant_id),
        permissions_for(principal.roles),
        permissions,
        tuple(request.events),
        frozenset(request.resources),
    )


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a subscription resumes: after ``event_id``, stored at ``position`` when the
    client's token said so (``None``: an event id alone, ``resumeFrom``)."""

    event_id: str
    position: int | None = None


@dataclass(frozen=True, slots=True)
class ResumeToken:
    """A ``resumeAfter`` as a client sends it back: the event id, and its stream position
    sealed by the gateway that issued it (only gateways open it, ADR 0384)."""

    event_id: str
    sealed: str


def read_resume_token(token: str) -> ResumeToken | None:
    """The parts of a ``resumeAfter`` token; ``None`` when it is no token. A seal that
    opens to nothing is an unknown event's ``not_in_stream``, not bad input."""
    event_id, dot, sealed = token.rpartition(".")
    if not dot or not _SEALED.match(sealed) or not is_event_id(event_id):
        return None
    return ResumeToken(event_id, sealed)


def not_in_stream(event_id: str) -> NotFound:
    """The one answer to a resume point that is unknown, another organization's, gone or
    forged: a member tells none from another (ADR 0378, 0384)."""
    return NotFound(f"Event {event_id} is not in the event stream (too old, or unknown)")


def is_event_id(value: str) -> bool:
    try:
        return uuid.UUID(value).version == 7
    except ValueError:
        return False
