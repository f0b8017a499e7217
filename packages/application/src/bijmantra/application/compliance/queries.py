"""Reading the audit trail: pages of entries, a resource's activity, chain verification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bijmantra.application.compliance.chain import AuditEntry, ChainVerdict, verify_chain
from bijmantra.application.compliance.ports import AuditStore
from bijmantra.application.events import item_type
from bijmantra.application.security import Action, Permission, authorize
from bijmantra.kernel import FieldError, Page, PageRequest, Principal, ValidationFailed

# The whole trail (every actor, every data change) is for auditors; a resource's history
# is for anyone who may read the organization's data.
AUDIT = Permission("compliance", Action.ADMIN)
ACTIVITY = Permission("compliance", Action.READ)
MAX_RESOURCE_ID = 256


@dataclass(frozen=True, slots=True)
class Activity:
    """Who (actor) did what (action = event type) to which resource, and when."""

    event_id: str
    occurred_at: datetime
    actor: str | None
    action: str
    resource: str

    @classmethod
    def of(cls, entry: AuditEntry, resource: str) -> Activity:
        """The entry as ``resource``'s history: a bulk event's action is its items' type."""
        return cls(
            entry.event_id, entry.occurred_at, entry.actor, item_type(entry.event_type), resource
        )


@dataclass
class ListAuditEntries:
    store: AuditStore

    async def __call__(
        self, principal: Principal, page: PageRequest, *, newest_first: bool = False
    ) -> Page[AuditEntry]:
        authorize(principal, AUDIT)
        if newest_first:
            return await self.store.newest(principal.tenant_id, page)
        return await self.store.page(principal.tenant_id, page)


@dataclass
class VerifyAuditChain:
    store: AuditStore

    async def __call__(self, principal: Principal) -> ChainVerdict:
        authorize(principal, AUDIT)
        tenant = principal.tenant_id
        # Head first: every entry up to it is committed, so later appends cannot look like damage.
        head = await self.store.head(tenant)
        return await verify_chain(
            str(tenant), self.store.entries(tenant, head.position if head else 0), head
        )


@dataclass
class ListActivity:
    store: AuditStore

    async def __call__(
        self, principal: Principal, resource: str, page: PageRequest
    ) -> Page[Activity]:
        authorize(principal, ACTIVITY)
        if not resource or len(resource) > MAX_RESOURCE_ID:
            raise ValidationFailed(
                "Query parameter resource is required",
                [FieldError("resource", f"1 to {MAX_RESOURCE_ID} characters")],
            )
        found = await self.store.page(principal.tenant_id, page, resource=resource)
        return Page(
            [Activity.of(e, resource) for e in found.items], found.request, found.total_count
        )
