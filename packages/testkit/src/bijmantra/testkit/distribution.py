"""In-memory fake of the distribution store: tenant-scoped, staged until commit, with the
same gapless counter and unique invoice numbers as the PostgreSQL adapter."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.distribution.service import Distribution
from bijmantra.application.ports.distribution import DocumentKind, Kind, StoredDocument
from bijmantra.domain.distribution.mail import COUNTED, PARTNER_MAILS_PER_DAY
from bijmantra.kernel import Conflict, FieldError, Page, PageRequest, Principal, TenantId


def _contains(document: Any, fragment: Any) -> bool:
    if isinstance(fragment, dict):
        return isinstance(document, dict) and all(
            k in document and _contains(document[k], v) for k, v in fragment.items()
        )
    return bool(document == fragment)


@dataclass
class DistributionTables:
    """What the fake database keeps for every organization."""

    records: dict[tuple[TenantId, str, str], tuple[int, dict[str, Any]]] = field(
        default_factory=dict
    )
    counters: dict[tuple[TenantId, int], int] = field(default_factory=dict)
    documents: dict[tuple[TenantId, str, str], StoredDocument] = field(default_factory=dict)
    inserted: int = 0


class FakeDistributionStore:
    """Writes go to a deep copy of the tables that ``publish`` puts back (a commit)."""

    def __init__(self, tables: DistributionTables, tenant: TenantId) -> None:
        self._shared, self._tenant = tables, tenant
        self.staged = copy.deepcopy(tables)

    def publish(self) -> None:
        self._shared.records = self.staged.records
        self._shared.counters = self.staged.counters
        self._shared.documents = self.staged.documents
        self._shared.inserted = self.staged.inserted

    async def get(
        self, kind: Kind, record_id: str, *, for_update: bool = False
    ) -> dict[str, Any] | None:
        found = self.staged.records.get((self._tenant, kind.value, record_id))
        return None if found is None else copy.deepcopy(found[1])

    async def put(self, kind: Kind, record_id: str, document: dict[str, Any], *, new: bool) -> None:
        key = (self._tenant, kind.value, record_id)
        number = document.get("number") if kind == Kind.INVOICE else None
        if number is not None and any(
            k[0] == self._tenant and k[1] == kind.value and k != key and d.get("number") == number
            for k, (_, d) in self.staged.records.items()
        ):
            raise Conflict("Invoice number already taken", [FieldError("number", str(number))])
        if new:
            self.staged.inserted += 1
            self.staged.records[key] = (self.staged.inserted, copy.deepcopy(document))
        elif key in self.staged.records:
            self.staged.records[key] = (self.staged.records[key][0], copy.deepcopy(document))

    def _matching(self, kind: Kind, match: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
        return [
            (order, document)
            for (tenant, k, _), (order, document) in self.staged.records.items()
            if tenant == self._tenant and k == kind.value and _contains(document, dict(match))
        ]

    async def partner_mails_queued(self, day: str) -> int:
        fragments = [{"notification": {"status": s.value, "day": day}} for s in COUNTED]
        return sum(
            1
            for (tenant, kind, _), (_, document) in self.staged.records.items()
            if tenant == self._tenant
            and kind != Kind.PARTNER
            and any(_contains(document, f) for f in fragments)
        )

    async def page(
        self, kind: Kind, page: PageRequest, match: Mapping[str, Any]
    ) -> Page[dict[str, Any]]:
        found = sorted(self._matching(kind, match), key=lambda r: -r[0])
        chosen = found[page.offset : page.offset + page.page_size]
        return Page([copy.deepcopy(d) for _, d in chosen], page, len(found))

    async def matching(
        self, kind: Kind, match: Mapping[str, Any], limit: int
    ) -> list[dict[str, Any]]:
        found = sorted(self._matching(kind, match), key=lambda r: r[0])[:limit]
        return [copy.deepcopy(d) for _, d in found]

    async def get_many(self, kind: Kind, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        found = (self.staged.records.get((self._tenant, kind.value, i)) for i in record_ids)
        return [copy.deepcopy(d) for _, d in filter(None, found)]

    async def take_invoice_numbers(self, year: int, count: int) -> list[int]:
        key = (self._tenant, year)
        first = self.staged.counters.get(key, 0) + 1
        self.staged.counters[key] = first + count - 1
        return list(range(first, first + count))

    async def put_document(self, document: StoredDocument) -> None:
        self.staged.documents[(self._tenant, document.kind.value, document.owner_id)] = document

    async def document(self, kind: DocumentKind, owner_id: str) -> StoredDocument | None:
        return self.staged.documents.get((self._tenant, kind.value, owner_id))


def _json(value: Any) -> bytes:
    return msgspec.json.encode(value)


@dataclass
class DistributionWorld:
    """The distribution use cases over one unit-of-work factory, and the steps tests repeat:
    a partner, germplasm with a seed lot, an approved request, an active agreement."""

    uow: Any
    clock: Any
    partners: Any = None
    requests: Any = None
    agreements: Any = None
    dispatches: Any = None
    invoices: Any = None
    resources: Any = None
    distribution: Any = None
    documents: Any = None
    mails_per_day: int = PARTNER_MAILS_PER_DAY

    def __post_init__(self) -> None:
        self.resources = ResourceCommands(catalog(), self.uow)
        self.distribution = Distribution.build(
            self.uow, self.clock, self.resources, self.mails_per_day
        )
        self.partners = self.distribution.partners
        self.requests = self.distribution.requests
        self.agreements = self.distribution.agreements
        self.dispatches = self.distribution.dispatches
        self.invoices = self.distribution.invoices
        self.documents = self.distribution.documents

    async def mail_recipient(self, tenant: TenantId, kind: str, record_id: str) -> dict[str, Any]:
        """The worker's ``FindRecipient`` as domain-api answers it, asked with the worker's
        own grant (ADR 0389)."""
        worker = Principal("service:analytics-worker", tenant, frozenset({"analysis-worker"}))
        found: dict[str, Any] = await self.distribution.partner_mail_recipient(
            worker, kind, record_id
        )
        return found

    async def partner(self, who: Any, email: str = "seeds@partner.example") -> str:
        body = {
            "name": "Kenya Agricultural Research",
            "country": "KE",
            "type": "research_institute",
            "contacts": [{"name": "Wanjiru", "email": email}],
        }
        return str((await self.partners.create(who, _json(body)))["id"])

    async def germplasm_lot(
        self, who: Any, amount: int = 100, *, genus: str = "Oryza", crop: str = "Rice"
    ) -> tuple[str, str]:
        """A germplasm and a seed lot of ``amount`` seeds of it, through the BrAPI engine."""
        page = await self.resources.create(
            who,
            "germplasm",
            [
                {
                    "germplasmName": f"G-{genus}",
                    "germplasmPUI": f"urn:test:{uuid.uuid4()}",
                    "commonCropName": crop,
                    "genus": genus,
                    "accessionNumber": f"ACC-{genus}",
                }
            ],
        )
        germplasm_id = msgspec.json.decode(page.documents)[0]["germplasmDbId"]
        lots = await self.resources.create(
            who,
            "seedlot",
            [
                {
                    "seedLotName": "lot",
                    "amount": amount,
                    "units": "seeds",
                    "contentMixture": [{"germplasmDbId": germplasm_id, "mixturePercentage": 100}],
                }
            ],
        )
        return germplasm_id, msgspec.json.decode(lots.documents)[0]["seedLotDbId"]

    async def approved_request(self, who: Any, partner_id: str, germplasm_id: str) -> str:
        body = {
            "partner_id": partner_id,
            "purpose": "research",
            "items": [{"germplasm_id": germplasm_id, "quantity": "50", "units": "seeds"}],
        }
        request_id = str((await self.requests.create(who, _json(body)))["id"])
        for action in ("submitted", "approved"):
            await self.requests.act(who, request_id, _json({"action": action}))
        return request_id

    async def active_agreement(
        self, who: Any, partner_id: str, material: list[str], kind: str = "smta"
    ) -> dict[str, Any]:
        body = {
            "type": kind,
            "partner_id": partner_id,
            "provider": {"name": "Our Genebank", "email": "mta@genebank.example", "country": "DE"},
            "material": material,
        }
        agreement = await self.agreements.create(who, _json(body))
        sent = await self.agreements.act(
            who, agreement["id"], _json({"action": "sent for signature"})
        )
        signed: dict[str, Any] = sent
        for role in ("provider", "recipient"):
            signature = {"party_role": role, "document_sha256": sent["document_sha256"]}
            signed = await self.agreements.sign(who, agreement["id"], _json(signature))
        return signed

    async def packed_dispatch(self, who: Any, request_id: str, lot_id: str, amount: str) -> str:
        body = {"request_id": request_id, "lines": [{"seed_lot_id": lot_id, "amount": amount}]}
        dispatch_id = str((await self.dispatches.create(who, _json(body)))["id"])
        for action in ("approved", "picking", "packed"):
            await self.dispatches.act(who, dispatch_id, _json({"action": action}))
        return dispatch_id
