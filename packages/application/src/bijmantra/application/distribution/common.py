"""What every distribution use case shares: permissions, loading typed records, events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from bijmantra.application.distribution.inputs import (
    choice,
    decode,
    from_document,
    record_id,
    to_builtins,
)
from bijmantra.application.ports import UnitOfWork, UnitOfWorkFactory
from bijmantra.application.ports.distribution import Kind
from bijmantra.application.security import Action, authorize, permissions
from bijmantra.application.use_case import ContextEvents, existing, organization_unit
from bijmantra.domain.distribution.mail import PARTNER_MAILS_PER_DAY
from bijmantra.kernel import (
    Clock,
    FieldError,
    NotFound,
    Page,
    PageRequest,
    Principal,
    Unprocessable,
)

CONTEXT = "distribution"
READ, WRITE = permissions(CONTEXT, Action.READ, Action.WRITE)
record_event = ContextEvents(CONTEXT).record  # ``distribution.<name>`` in the write's outbox
MAX_LIST = 1000
T = TypeVar("T")

NAMES = {
    Kind.PARTNER: "Partner",
    Kind.SEED_REQUEST: "Seed request",
    Kind.AGREEMENT: "Agreement",
    Kind.DISPATCH: "Dispatch",
    Kind.INVOICE: "Invoice",
}


@dataclass
class UseCases:
    """Base of the context's use-case groups: a unit of work per call and the clock, and
    the reads every aggregate offers (one record as the API shows it, a page by status)."""

    uow: UnitOfWorkFactory
    clock: Clock
    # The organization's partner mails a day (ADR 0348); tests make it small.
    mails_per_day: int = field(default=PARTNER_MAILS_PER_DAY, kw_only=True)
    KIND: ClassVar[Kind]
    TYPE: ClassVar[type[Any]]
    EVENT: ClassVar[str]
    STATUSES: ClassVar[type[StrEnum] | None] = None
    SHOWN_AS: ClassVar[Callable[[Any], dict[str, Any]]] = to_builtins

    def __init_subclass__(
        cls,
        *,
        kind: Kind,
        record: type[Any],
        statuses: type[StrEnum] | None = None,
        shown_as: Callable[[Any], dict[str, Any]] = to_builtins,
        event: str | None = None,
        **kwargs: Any,
    ) -> None:
        """``class Invoices(UseCases, kind=…, record=Invoice, statuses=…, shown_as=…)``: the
        aggregate a group serves, its statuses (to filter lists by), its API document and
        the name its lifecycle events start with (``event``, else the kind's)."""
        super().__init_subclass__(**kwargs)
        cls.KIND, cls.TYPE, cls.STATUSES, cls.SHOWN_AS = kind, record, statuses, shown_as
        cls.EVENT = event or kind.value

    def written(self, principal: Principal, body: bytes, shape: type[T]) -> T:
        """A write's request: the caller may write in the context, and the body decodes."""
        authorize(principal, WRITE)
        return decode(body, shape)

    async def create(self, principal: Principal, body: bytes) -> dict[str, Any]:
        raise NotImplementedError

    async def act(self, principal: Principal, record_id: str, body: bytes) -> dict[str, Any]:
        """Move a record through its lifecycle; a collection without one has no actions."""
        raise NotFound(f"{NAMES[self.KIND]}s have no lifecycle actions")

    async def resend_notification(self, principal: Principal, record_id: str) -> dict[str, Any]:
        """Send the record's partner mail again (``distribution.mail``, ADR 0354)."""
        raise NotFound(f"{NAMES[self.KIND]}s send their partner no mail")

    def step_event(self, status: str) -> str:
        """The event a lifecycle step into ``status`` records, ``<aggregate>_<status>``: the
        step's write and a resend of its partner mail (``mail.resend_mail``) must name the
        same event, which the mail worker and the documents act on."""
        return f"{self.EVENT}_{status}"

    def record_step(
        self, uow: UnitOfWork, principal: Principal, record: Any, data: dict[str, Any], at: datetime
    ) -> None:
        """Record ``record``'s move into its current status in the write's outbox."""
        record_event(uow, principal, self.step_event(record.status), record.id, data, at)

    async def add(
        self, uow: UnitOfWork, principal: Principal, record: Any, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Store a new record and record ``<aggregate>_created`` in the same transaction, so
        the organization's audit trail holds every record it keeps, drafts included (ADR
        0388). ``data`` names ids and what the record is, never a person's address: the
        trail is append-only and cannot forget one."""
        document = await save(uow, self.KIND, record, new=True)
        record_event(uow, principal, f"{self.EVENT}_created", record.id, data, self.clock.now())
        return document

    def present(self, record: Any) -> dict[str, Any]:
        """The record as the API shows it, with what the server computes (``shown_as``)."""
        return type(self).SHOWN_AS(record)

    async def get(self, principal: Principal, record_id: str) -> dict[str, Any]:
        return self.present(await get_one(self.uow, principal, self.KIND, record_id, self.TYPE))

    async def list(
        self, principal: Principal, page: PageRequest, status: str | None = None
    ) -> Page[dict[str, Any]]:
        match = status_match(self.STATUSES, status) if self.STATUSES is not None else {}
        return await list_page(self.uow, principal, self.KIND, page, match)


def status_match(statuses: type[StrEnum], status: str | None) -> dict[str, Any]:
    """What a list filtered by ``status`` matches (nothing: every status); unknown is a 400."""
    if not status:
        return {}
    return {"status": choice(status, statuses, "status").value}


async def load(
    uow: UnitOfWork, kind: Kind, value: str, type_: type[T], *, for_update: bool = False
) -> T:
    """The caller's organization's record or ``NotFound`` (another organization's is absent)."""
    document = await uow.distribution.get(
        kind, record_id(value, NAMES[kind]), for_update=for_update
    )
    return from_document(existing(document, f"{NAMES[kind]} {value!r}"), type_)


async def load_named(uow: UnitOfWork, kind: Kind, value: str, type_: type[T], field: str) -> T:
    """The record a body's ``field`` names (a UUID already), or 422 naming the field: a body's
    reference that is absent here, another organization's included, is unprocessable input
    like every other reference in a body; 404 answers only for the record in the path (ADR
    0325)."""
    document = await uow.distribution.get(kind, value)
    if document is None:
        raise Unprocessable(
            f"{NAMES[kind]} not found in this organization", [FieldError(field, repr(value))]
        )
    return from_document(document, type_)


async def save(uow: UnitOfWork, kind: Kind, record: Any, *, new: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = to_builtins(record)
    await uow.distribution.put(kind, document["id"], document, new=new)
    return document


async def get_one(
    uow_factory: UnitOfWorkFactory, principal: Principal, kind: Kind, value: str, type_: type[T]
) -> T:
    async with organization_unit(uow_factory, principal, READ) as uow:
        return await load(uow, kind, value, type_)


async def list_page(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    kind: Kind,
    page: PageRequest,
    match: dict[str, Any],
) -> Page[dict[str, Any]]:
    async with organization_unit(uow_factory, principal, READ) as uow:
        return await uow.distribution.page(kind, page, match)
