"""Analysis jobs and their results (tables as JSON arrays, artifacts as files)."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import numpy as np
from bijmantra.application.ports.analysis import Artifact, JobReference, ResultIndex
from bijmantra.domain import DomainEvent
from bijmantra.domain.analysis import (
    AnalysisJob,
    AnalysisType,
    JobStatus,
    Withheld,
    check_matrix_page,
)
from bijmantra.genomics.symmetric import (
    UPPER_TRIANGLE,
    expand_symmetric,
    pack_symmetric,
    packed_served_size,
)
from bijmantra.kernel import FieldError, Page, PageRequest, TenantId, ValidationFailed
from psycopg.errors import ForeignKeyViolation
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

_NAMES = (
    "analysis_db_id",
    "type",
    "variant_set_db_id",
    "call_set_db_ids",
    "parameters",
    "phenotypes",
    "created_at",
    "status",
    "progress",
    "stage",
    "attempt",
    "worker",
    "started_at",
    "finished_at",
    "error",
    "summary",
    "timings",
)
_JSON = ("call_set_db_ids", "parameters", "phenotypes", "summary", "timings")
_encode = msgspec.json.encode
_raw_rows = msgspec.json.Decoder(list[msgspec.Raw])
NPY = "application/x-npy"


def _stored_artifact(artifact: Artifact) -> tuple[str, bytes | None, int | None]:
    """(layout, stored bytes, served size): a symmetric matrix keeps one triangle (ADR 0070)."""
    if artifact.upper_triangle:
        served = None if artifact.data is None else packed_served_size(artifact.data)
        if artifact.media_type != NPY or served is None:
            raise ValidationFailed(
                f"artifact {artifact.name} is not a packed symmetric .npy matrix",
                [FieldError(f"artifacts.{artifact.name}", "header and size do not match")],
            )
        return UPPER_TRIANGLE, artifact.data, served
    if artifact.media_type == NPY and artifact.data is not None:
        packed = pack_symmetric(artifact.data)
        if packed is not None:
            return UPPER_TRIANGLE, packed, len(artifact.data)
    return "whole", artifact.data, None


def _row(job: AnalysisJob) -> dict[str, Any]:
    row = {name: getattr(job, name) for name in _NAMES}
    row["call_set_db_ids"] = list(job.call_set_db_ids)
    for name in _JSON:
        row[name] = _encode(row[name]).decode()
    row["type"], row["status"], row["tenant_id"] = job.type.value, job.status.value, job.tenant_id
    return row


_INSERT = text(
    "INSERT INTO domain.analysis_jobs (tenant_id, analysis_db_id, type, variant_set_db_id, "
    "call_set_db_ids, parameters, phenotypes, created_at, status, progress, stage, attempt, "
    "worker, started_at, finished_at, error, summary, timings) VALUES (:tenant_id, "
    ":analysis_db_id, :type, :variant_set_db_id, CAST(:call_set_db_ids AS jsonb), "
    "CAST(:parameters AS jsonb), CAST(:phenotypes AS jsonb), :created_at, :status, :progress, "
    ":stage, :attempt, :worker, :started_at, :finished_at, :error, CAST(:summary AS jsonb), "
    "CAST(:timings AS jsonb))"
)
_UPDATE = text(
    "UPDATE domain.analysis_jobs SET type = :type, variant_set_db_id = :variant_set_db_id, "
    "call_set_db_ids = CAST(:call_set_db_ids AS jsonb), parameters = CAST(:parameters AS jsonb), "
    "phenotypes = CAST(:phenotypes AS jsonb), created_at = :created_at, status = :status, "
    "progress = :progress, stage = :stage, attempt = :attempt, worker = :worker, started_at = "
    ":started_at, finished_at = :finished_at, error = :error, summary = CAST(:summary AS jsonb), "
    "timings = CAST(:timings AS jsonb) WHERE analysis_db_id = :analysis_db_id"
)
_SELECT = text(
    "SELECT tenant_id, analysis_db_id, type, variant_set_db_id, call_set_db_ids, parameters, "
    "phenotypes, created_at, status, progress, stage, attempt, worker, started_at, finished_at, "
    "error, summary, timings FROM domain.analysis_jobs WHERE analysis_db_id = :id"
)
_SELECT_FOR_UPDATE = text(
    "SELECT tenant_id, analysis_db_id, type, variant_set_db_id, call_set_db_ids, parameters, "
    "phenotypes, created_at, status, progress, stage, attempt, worker, started_at, finished_at, "
    "error, summary, timings FROM domain.analysis_jobs WHERE analysis_db_id = :id FOR UPDATE"
)
# Row-level security keeps it to the organization; queued and running first, newest first.
_RECENT = text(
    "SELECT tenant_id, analysis_db_id, type, variant_set_db_id, call_set_db_ids, parameters, "
    "phenotypes, created_at, status, progress, stage, attempt, worker, started_at, finished_at, "
    "error, summary, timings FROM domain.analysis_jobs ORDER BY status IN ('queued', 'running') "
    "DESC, created_at DESC LIMIT :limit"
)
_RECENT_ACTIVE = text(
    "SELECT tenant_id, analysis_db_id, type, variant_set_db_id, call_set_db_ids, parameters, "
    "phenotypes, created_at, status, progress, stage, attempt, worker, started_at, finished_at, "
    "error, summary, timings FROM domain.analysis_jobs WHERE status IN ('queued', 'running') "
    "ORDER BY created_at DESC LIMIT :limit"
)

_LOCK_REQUESTS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended("
    "'analysis-requests/' || current_setting('app.tenant_id', true), 0))"
)
_ACTIVE_COUNT = text(
    "SELECT count(*) FROM domain.analysis_jobs WHERE status IN ('queued', 'running')"
)

# One page of a variant set's jobs, newest first (ADR 0374), and how many it has: both read
# the index on (tenant_id, variant_set_db_id) of migration 0256, then sort the set's jobs.
_OF_VARIANT_SET = text(
    "SELECT tenant_id, analysis_db_id, type, variant_set_db_id, call_set_db_ids, parameters, "
    "phenotypes, created_at, status, progress, stage, attempt, worker, started_at, finished_at, "
    "error, summary, timings FROM domain.analysis_jobs "
    "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
    "AND variant_set_db_id = :s ORDER BY created_at DESC, analysis_db_id DESC "
    "LIMIT :limit OFFSET :offset"
)
_COUNT_OF_VARIANT_SET = text(
    "SELECT count(*) FROM domain.analysis_jobs "
    "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
    "AND variant_set_db_id = :s"
)
# The jobs of one variant set (what refuses its deletion, ADR 0345), oldest first.
_COMPUTED_FROM = text(
    "SELECT analysis_db_id, status, count(*) OVER () AS total FROM domain.analysis_jobs "
    "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
    "AND variant_set_db_id = :s ORDER BY created_at, analysis_db_id LIMIT :limit"
)
# What a job's results hold (the TOAST headers' lengths, not the bytes), then the rows.
_RESULT_BYTES = text(
    "SELECT coalesce(sum(octet_length(data)), 0)::bigint FROM domain.analysis_results "
    "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
    "AND analysis_db_id = :id"
)
_DELETE_RESULTS = text(
    "DELETE FROM domain.analysis_results "
    "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
    "AND analysis_db_id = :id"
)
_DELETE_JOB = text(
    "DELETE FROM domain.analysis_jobs "
    "WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
    "AND analysis_db_id = :id"
)


def _job(values: dict[str, Any]) -> AnalysisJob:
    values["tenant_id"] = TenantId(uuid.UUID(str(values["tenant_id"])))
    values["type"] = AnalysisType(values["type"])
    values["status"] = JobStatus(values["status"])
    values["call_set_db_ids"] = tuple(values["call_set_db_ids"])
    return AnalysisJob(**values)


class PostgresAnalysisRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._new: list[AnalysisJob] = []
        self._changed: list[AnalysisJob] = []
        self.stored_bytes = 0  # results this transaction stored, charged at commit (ADR 0340)

    def add(self, job: AnalysisJob) -> None:
        self._new.append(job)

    def save(self, job: AnalysisJob) -> None:
        self._changed.append(job)

    async def get(self, analysis_db_id: str, *, for_update: bool = False) -> AnalysisJob | None:
        statement = _SELECT_FOR_UPDATE if for_update else _SELECT
        row = (await self._connection.execute(statement, {"id": analysis_db_id})).one_or_none()
        return None if row is None else _job(row._asdict())

    async def active_count(self) -> int:
        await self._connection.execute(_LOCK_REQUESTS)
        return int((await self._connection.execute(_ACTIVE_COUNT)).scalar_one())

    async def recent(self, limit: int, *, active_only: bool) -> list[AnalysisJob]:
        rows = await self._connection.execute(
            _RECENT_ACTIVE if active_only else _RECENT, {"limit": limit}
        )
        return [_job(row._asdict()) for row in rows]

    async def of_variant_set(
        self, variant_set_db_id: str, page: PageRequest
    ) -> tuple[list[AnalysisJob], int]:
        given = {"s": variant_set_db_id, "limit": page.page_size, "offset": page.offset}
        rows = await self._connection.execute(_OF_VARIANT_SET, given)
        jobs = [_job(row._asdict()) for row in rows]
        total = await self._connection.execute(_COUNT_OF_VARIANT_SET, {"s": variant_set_db_id})
        return jobs, int(total.scalar_one())

    async def store_results(
        self, analysis_db_id: str, tables: Mapping[str, bytes], artifacts: Sequence[Artifact]
    ) -> None:
        rows = [
            {
                "id": analysis_db_id,
                "kind": "table",
                "name": name,
                "type": "application/json",
                "count": len(_raw_rows.decode(data)),
                "data": data,
                "layout": "whole",
                "served": None,
            }
            for name, data in tables.items()
        ]
        # Packing a 16 MB matrix takes ~30-50 ms: off the event loop, like chunk recoding.
        stored = await asyncio.to_thread(lambda: [_stored_artifact(a) for a in artifacts])
        for a, (layout, data, served) in zip(artifacts, stored, strict=True):
            rows.append(
                {
                    "id": analysis_db_id,
                    "kind": "artifact",
                    "name": a.name,
                    "type": a.media_type,
                    "count": 0,
                    "data": data,
                    "layout": layout,
                    "served": served,
                }
            )
        if rows:
            self.stored_bytes += sum(map(len, tables.values())) + sum(
                len(data) for _, data, _ in stored if data is not None
            )
            await self._connection.execute(
                text(
                    "INSERT INTO domain.analysis_results (tenant_id, analysis_db_id, kind, name, "
                    "media_type, row_count, data, layout, served_size) VALUES ("
                    "nullif(current_setting('app.tenant_id', true), '')::uuid, "
                    ":id, :kind, :name, :type, :count, :data, :layout, :served)"
                ),
                rows,
            )

    async def attach(self, analysis_db_id: str, figures: Sequence[Artifact]) -> int:
        if not figures:
            return 0
        result = await self._connection.execute(
            text(
                "UPDATE domain.analysis_results r SET data = f.data FROM unnest("
                "CAST(:names AS text[]), CAST(:data AS bytea[])) AS f(name, data) "
                "WHERE r.analysis_db_id = :id AND r.kind = 'artifact' AND r.name = f.name "
                "AND r.data IS NULL AND r.withheld IS NULL RETURNING octet_length(f.data)"
            ),
            {
                "id": analysis_db_id,
                "names": [f.name for f in figures],
                "data": [f.data for f in figures],
            },
        )
        sizes = [int(size or 0) for size in result.scalars()]
        self.stored_bytes += sum(sizes)
        return len(sizes)

    async def withhold(self, analysis_db_id: str, names: Sequence[str], reason: Withheld) -> int:
        if not names:
            return 0
        # Stores no bytes (the report is never refused by the cap it reports, ADR 0369).
        result = await self._connection.execute(
            text(
                "UPDATE domain.analysis_results SET withheld = :reason "
                "WHERE analysis_db_id = :id AND kind = 'artifact' AND name = ANY(:names) "
                "AND data IS NULL AND withheld IS NULL"
            ),
            {"id": analysis_db_id, "names": list(names), "reason": reason.value},
        )
        return int(result.rowcount or 0)

    async def result_index(self, analysis_db_id: str) -> ResultIndex:
        rows = (
            await self._connection.execute(
                text(
                    "SELECT kind, name, media_type, row_count, "
                    "coalesce(served_size, octet_length(data)) AS size, withheld "
                    "FROM domain.analysis_results WHERE analysis_db_id = :id"
                ),
                {"id": analysis_db_id},
            )
        ).all()
        index = ResultIndex()
        for row in rows:
            if row.kind == "table":
                index.tables[row.name] = row.row_count
            else:
                index.artifacts[row.name] = (row.media_type, row.size)
                if row.withheld is not None:
                    index.withheld[row.name] = Withheld(row.withheld)
        return index

    async def _data(
        self, analysis_db_id: str, kind: str, name: str
    ) -> tuple[str, bytes | None, Withheld | None] | None:
        row = (
            await self._connection.execute(
                text(
                    "SELECT media_type, layout, data, withheld FROM domain.analysis_results "
                    "WHERE analysis_db_id = :id AND kind = :kind AND name = :name"
                ),
                {"id": analysis_db_id, "kind": kind, "name": name},
            )
        ).one_or_none()
        if row is None:
            return None
        if row.data is None:
            return row.media_type, None, None if row.withheld is None else Withheld(row.withheld)
        data = bytes(row.data)
        if row.layout == UPPER_TRIANGLE:
            data = await asyncio.to_thread(expand_symmetric, data)
        return row.media_type, data, None

    async def result_page(
        self, analysis_db_id: str, table: str, page: PageRequest
    ) -> Page[bytes] | None:
        """A page of a JSON table, or of the rows of a matrix stored as ``<table>.npy``."""
        found = await self._data(analysis_db_id, "table", table)
        if found is not None and found[1] is not None:
            rows = _raw_rows.decode(found[1])
            return Page(
                [bytes(r) for r in rows[page.offset : page.offset + page.page_size]],
                page,
                len(rows),
            )
        matrix = await self._data(analysis_db_id, "artifact", f"{table}.npy")
        if matrix is None or matrix[1] is None:
            return None
        values = np.load(io.BytesIO(matrix[1]), allow_pickle=False)
        block = values[page.offset : page.offset + page.page_size]
        if block.ndim == 2:  # every value of a row becomes a Python float, then JSON
            check_matrix_page(*block.shape)
        items = [
            _encode({"row": page.offset + i, "values": r}) for i, r in enumerate(block.tolist())
        ]
        return Page(items, page, int(values.shape[0]))

    async def artifact(self, analysis_db_id: str, name: str) -> Artifact | None:
        found = await self._data(analysis_db_id, "artifact", name)
        if found is None:
            return None
        media_type, data, withheld = found
        return Artifact(name, media_type, data, withheld=withheld)

    async def computed_from(
        self, variant_set_db_id: str, limit: int
    ) -> tuple[list[JobReference], int]:
        rows = (
            await self._connection.execute(_COMPUTED_FROM, {"s": variant_set_db_id, "limit": limit})
        ).all()
        jobs = [JobReference(row.analysis_db_id, JobStatus(row.status)) for row in rows]
        return jobs, int(rows[0].total) if rows else 0

    async def delete(self, analysis_db_id: str) -> int:
        freed = (await self._connection.execute(_RESULT_BYTES, {"id": analysis_db_id})).scalar_one()
        await self._connection.execute(_DELETE_RESULTS, {"id": analysis_db_id})
        await self._connection.execute(_DELETE_JOB, {"id": analysis_db_id})
        return int(freed)

    async def flush(self) -> list[DomainEvent]:
        new, changed = self._new, self._changed
        self._new, self._changed = [], []
        if new:
            try:
                await self._connection.execute(_INSERT, [_row(j) for j in new])
            except IntegrityError as error:
                if not isinstance(error.orig, ForeignKeyViolation):
                    raise
                # Its variant set was deleted after the request read it (ADR 0345): the job's
                # key waited for the deleting transaction, as an unknown set is refused.
                raise ValidationFailed(
                    "The variant set was deleted", [FieldError("variantSetDbId", "unknown")]
                ) from None
        if changed:
            await self._connection.execute(_UPDATE, [_row(j) for j in changed])
        return [event for job in (*new, *changed) for event in job.pull_events()]
