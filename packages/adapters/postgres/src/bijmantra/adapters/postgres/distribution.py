"""The distribution context's store: aggregates as JSON documents, the gapless invoice
counter and rendered documents, in the unit of work's transaction (RLS scopes every row)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from bijmantra.adapters.postgres.engine import driver_connection
from bijmantra.application.ports.distribution import DocumentKind, Kind, StoredDocument
from bijmantra.domain.distribution.mail import COUNTED
from bijmantra.kernel import Conflict, FieldError, Page, PageRequest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

_encode = msgspec.json.encode

_GET = text(
    "SELECT document::text FROM domain.distribution_records "
    "WHERE kind = :kind AND id = CAST(:id AS uuid)"
)
_GET_FOR_UPDATE = text(
    "SELECT document::text FROM domain.distribution_records "
    "WHERE kind = :kind AND id = CAST(:id AS uuid) FOR UPDATE"
)
_INSERT = text(
    "INSERT INTO domain.distribution_records (tenant_id, kind, id, document) "
    "VALUES (nullif(current_setting('app.tenant_id', true), '')::uuid, :kind, "
    "CAST(:id AS uuid), CAST(:document AS jsonb))"
)
_UPDATE = text(
    "UPDATE domain.distribution_records SET document = CAST(:document AS jsonb), "
    "updated_at = now() WHERE kind = :kind AND id = CAST(:id AS uuid)"
)
# Lists are read through the driver, not SQLAlchemy's ``text()`` (compiling, the greenlet
# bridge, its result proxy were a third of a list's cost in domain-api; ADR 0313, 0322).
_PAGE = (
    "SELECT document::text, count(*) OVER () AS total FROM domain.distribution_records "
    "WHERE kind = %(kind)s AND document @> CAST(%(match)s AS jsonb) "
    "ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s"
)
_COUNT = (
    "SELECT count(*) FROM domain.distribution_records "
    "WHERE kind = %(kind)s AND document @> CAST(%(match)s AS jsonb)"
)
_MATCHING = (
    "SELECT document::text FROM domain.distribution_records "
    "WHERE kind = %(kind)s AND document @> CAST(%(match)s AS jsonb) "
    "ORDER BY created_at, id LIMIT %(limit)s"
)
_MANY = (
    "SELECT document::text FROM domain.distribution_records "
    "WHERE kind = %(kind)s AND id = ANY(CAST(%(ids)s AS uuid[]))"
)
# Writes that mail a partner take turns per organization (until COMMIT), so each counts the
# mails queued before it; the count reads the records through the GIN index of documents.
_MAIL_TURN = text(
    "SELECT pg_advisory_xact_lock(hashtextextended('distribution/partner-mail/' || "
    "current_setting('app.tenant_id', true), 0))"
)
_MAILS_QUEUED = (
    "SELECT count(*) FROM domain.distribution_records "
    "WHERE kind IN ('seed_request', 'agreement', 'dispatch', 'invoice') "
    "AND (document @> CAST(%(queued)s AS jsonb) OR document @> CAST(%(sent)s AS jsonb) "
    "OR document @> CAST(%(failed)s AS jsonb))"
)
# The row lock taken by the upsert lasts until COMMIT/ROLLBACK: concurrent issuers of one
# organization and year wait here, and a rolled-back issue leaves the counter unchanged.
_NEXT_NUMBER = text(
    "INSERT INTO domain.invoice_counters AS c (tenant_id, year, last_number) "
    "VALUES (nullif(current_setting('app.tenant_id', true), '')::uuid, :year, :count) "
    "ON CONFLICT (tenant_id, year) DO UPDATE SET last_number = c.last_number + :count "
    "RETURNING last_number"
)
_PUT_DOCUMENT = text(
    "INSERT INTO domain.distribution_documents "
    "(tenant_id, kind, owner_id, content, sha256, source_sha256) "
    "VALUES (nullif(current_setting('app.tenant_id', true), '')::uuid, :kind, "
    "CAST(:owner AS uuid), :content, :sha256, :source) "
    "ON CONFLICT (tenant_id, kind, owner_id) DO UPDATE SET content = EXCLUDED.content, "
    "sha256 = EXCLUDED.sha256, source_sha256 = EXCLUDED.source_sha256, rendered_at = now()"
)
_GET_DOCUMENT = text(
    "SELECT content, sha256, source_sha256 FROM domain.distribution_documents "
    "WHERE kind = :kind AND owner_id = CAST(:owner AS uuid)"
)
_decode = msgspec.json.decode


class PostgresDistributionStore:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(
        self, kind: Kind, record_id: str, *, for_update: bool = False
    ) -> dict[str, Any] | None:
        statement = _GET_FOR_UPDATE if for_update else _GET
        row = (await self._connection.execute(statement, {"kind": kind, "id": record_id})).first()
        return None if row is None else _decode(row[0])

    async def put(self, kind: Kind, record_id: str, document: dict[str, Any], *, new: bool) -> None:
        values = {"kind": kind.value, "id": record_id, "document": _encode(document).decode()}
        try:
            await self._connection.execute(_INSERT if new else _UPDATE, values)
        except IntegrityError:
            # Only the invoice-number index can refuse a write (ids are fresh UUIDv7s); the
            # transaction is lost either way, and the use case's unit of work rolls it back.
            raise Conflict(
                "Invoice number already taken", [FieldError("number", str(document.get("number")))]
            ) from None

    async def page(
        self, kind: Kind, page: PageRequest, match: Mapping[str, Any]
    ) -> Page[dict[str, Any]]:
        values = {
            "kind": kind.value,
            "match": _encode(match).decode(),
            "limit": page.page_size,
            "offset": page.offset,
        }
        cursor = (await driver_connection(self._connection)).cursor()
        rows = await (await cursor.execute(_PAGE, values)).fetchall()
        if rows:
            total = int(rows[0][1])
        else:
            counted = await (await cursor.execute(_COUNT, values)).fetchone()
            total = int(counted[0]) if counted else 0
        return Page([_decode(r[0]) for r in rows], page, total)

    async def matching(
        self, kind: Kind, match: Mapping[str, Any], limit: int
    ) -> list[dict[str, Any]]:
        values = {"kind": kind.value, "match": _encode(match).decode(), "limit": limit}
        cursor = (await driver_connection(self._connection)).cursor()
        return [_decode(r[0]) for r in await (await cursor.execute(_MATCHING, values)).fetchall()]

    async def get_many(self, kind: Kind, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not record_ids:
            return []
        values = {"kind": kind.value, "ids": list(record_ids)}
        cursor = (await driver_connection(self._connection)).cursor()
        return [_decode(r[0]) for r in await (await cursor.execute(_MANY, values)).fetchall()]

    async def take_invoice_numbers(self, year: int, count: int) -> list[int]:
        values = {"year": year, "count": count}
        last = int((await self._connection.execute(_NEXT_NUMBER, values)).scalar_one())
        return list(range(last - count + 1, last + 1))

    async def partner_mails_queued(self, day: str) -> int:
        await self._connection.execute(_MAIL_TURN)
        # A mail queued that day counts on it whatever the mailer reported since (ADR 0363).
        values = {
            status.value: _encode({"notification": {"status": status.value, "day": day}}).decode()
            for status in COUNTED
        }
        cursor = (await driver_connection(self._connection)).cursor()
        row = await (await cursor.execute(_MAILS_QUEUED, values)).fetchone()
        return int(row[0]) if row else 0

    async def put_document(self, document: StoredDocument) -> None:
        await self._connection.execute(
            _PUT_DOCUMENT,
            {
                "kind": document.kind.value,
                "owner": document.owner_id,
                "content": document.content,
                "sha256": document.sha256,
                "source": document.source_sha256,
            },
        )

    async def document(self, kind: DocumentKind, owner_id: str) -> StoredDocument | None:
        row = (
            await self._connection.execute(_GET_DOCUMENT, {"kind": kind.value, "owner": owner_id})
        ).first()
        if row is None:
            return None
        return StoredDocument(kind, owner_id, bytes(row[0]), row[1], row[2])
