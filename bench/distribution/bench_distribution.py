"""Invoice issuing with gapless numbers, and PDF rendering, measured in one run.

* Issue: ``BENCH_INVOICE_CLIENTS`` (32) concurrent clients issue ``BENCH_INVOICES`` (800)
  draft invoices of one organization through the issuing use case on PostgreSQL (the
  application path below gRPC: unit of work with RLS, invoice row lock, number, outbox
  event, commit). Numbers come from the per-organization-and-year counter row, locked
  until commit (gapless); baseline: the same path with the number from a plain PostgreSQL
  sequence (``nextval``: no waiting, gaps on rollback). Rounds alternate, median of each
  reported, and the counter rounds are checked to be exactly 1..N. Target: >= 50 %.
* PDF: p95 of rendering one invoice of 20 lines (ReportLab, as the worker does), over
  ``BENCH_PDF_RENDERS`` (300); baseline: the same render of a 1-line invoice (the fixed
  cost of a page). Target: 20-line p95 <= 50 ms. Also the 20-line invoice to a partner
  named in Devanagari (Noto subsets embedded, ADR 0096) against the Latin one.

    uv run python bench/distribution/bench_distribution.py
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import psycopg
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.adapters.postgres.distribution import PostgresDistributionStore
from bijmantra.adapters.postgres.uow import PostgresUnitOfWork
from bijmantra.analytics_worker.documents import render_pdf
from bijmantra.application.distribution.invoices import invoice_document
from bijmantra.application.distribution.rendering import invoice_printable
from bijmantra.domain.distribution.model import Invoice
from bijmantra.domain.distribution.money import InvoiceLine
from bijmantra.domain.distribution.states import InvoiceStatus
from bijmantra.kernel import Principal, SystemClock, TenantId
from bijmantra.testkit.distribution import DistributionWorld
from bijmantra.testkit.provision import provision
from bijmantra.testkit.servers import LocalPostgres
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

ROOT = Path(__file__).resolve().parents[2]


RESULTS = ROOT / "bench" / "results" / "distribution.json"
CLIENTS = int(os.environ.get("BENCH_INVOICE_CLIENTS", "32"))
INVOICES = int(os.environ.get("BENCH_INVOICES", "800"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
RENDERS = int(os.environ.get("BENCH_PDF_RENDERS", "300"))
SEQUENCE = "domain.bench_gappy_invoice_seq"
ISSUE = msgspec.json.encode({"action": "issued"})


class SequenceStore(PostgresDistributionStore):
    """The baseline: numbers from a plain sequence (never waits, leaves gaps)."""

    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__(connection)
        self._conn = connection

    async def take_invoice_numbers(self, year: int, count: int) -> list[int]:
        statement = text(f"SELECT nextval('{SEQUENCE}') FROM generate_series(1, :n)")
        return [int(n) for n in (await self._conn.execute(statement, {"n": count})).scalars()]


class SequenceUnitOfWork(PostgresUnitOfWork):
    def _bind(self, connection: AsyncConnection) -> None:
        super()._bind(connection)
        self.distribution = SequenceStore(connection)


async def issue_round(engine: AsyncEngine, *, gapless: bool) -> dict[str, Any]:
    """A fresh organization, ``INVOICES`` drafts, then ``CLIENTS`` issuers until all issued."""
    if gapless:
        factory: Any = unit_of_work_factory(engine, source="bench")
    else:

        def factory(tenant: TenantId) -> PostgresUnitOfWork:
            return SequenceUnitOfWork(engine, tenant, source="bench")

    world = DistributionWorld(factory, SystemClock())
    who = Principal("bench", TenantId(uuid.uuid4()), frozenset({"data-manager"}))
    partner = await world.partner(who)
    line = {"description": "Seed", "quantity": "3", "unit_price": "1.25", "tax_rate": "0.16"}
    body = msgspec.json.encode({"partner_id": partner, "currency": "EUR", "lines": [line]})
    queue: asyncio.Queue[str] = asyncio.Queue()
    for _ in range(INVOICES):
        queue.put_nowait((await world.invoices.create(who, body))["id"])
    numbers: list[str] = []

    async def client() -> None:
        while not queue.empty():
            invoice_id = queue.get_nowait()
            numbers.append((await world.invoices.act(who, invoice_id, ISSUE))["number"])

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    elapsed = time.perf_counter() - started
    result = {"issued": len(numbers), "seconds": round(elapsed, 3)}
    result["per_second"] = round(len(numbers) / elapsed, 1)
    if gapless:
        year = datetime.now(UTC).year
        expected = [f"{year}-{n:06d}" for n in range(1, INVOICES + 1)]
        result["gapless_1_to_n"] = sorted(numbers) == expected
        assert result["gapless_1_to_n"], "counter numbers must be 1..N"
    return result


LATIN_PARTNER = "Kenya Agricultural Research"
DEVANAGARI_PARTNER = "भारतीय कृषि अनुसंधान संस्थान"


def invoice_data(lines: int, partner_name: str = LATIN_PARTNER) -> dict[str, Any]:
    rows = tuple(
        InvoiceLine(
            f"Seed handling, accession IR-{n:05d}", Decimal(3), Decimal("12.50"), Decimal("0.16")
        )
        for n in range(lines)
    )
    now = datetime.now(UTC)
    invoice = Invoice(
        str(uuid.uuid4()),
        "p",
        "EUR",
        rows,
        InvoiceStatus.ISSUED,
        now,
        number="2026-000123",
        year=2026,
        issued_at=now,
    )
    partner = {"name": partner_name, "country": "KE"}
    return {"invoice": invoice_document(invoice), "partner": partner}


def render_p95(lines: int, partner_name: str = LATIN_PARTNER) -> dict[str, float]:
    page = invoice_printable(invoice_data(lines, partner_name))
    now = datetime.now(UTC)
    render_pdf(page, now)  # warm: font metrics, imports
    times = []
    for _ in range(RENDERS):
        started = time.perf_counter()
        render_pdf(page, now)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
    }


async def issuing(owner_url: str, domain_url: str) -> dict[str, Any]:
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE}")
        conn.execute(f"GRANT USAGE ON SEQUENCE {SEQUENCE} TO bijmantra_domain")
    engine = create_engine(domain_url, pool_size=CLIENTS + 4)
    rounds: dict[str, list[dict[str, Any]]] = {"gapless_counter": [], "gappy_sequence": []}
    try:
        for _ in range(ROUNDS):
            for gapless, name in ((True, "gapless_counter"), (False, "gappy_sequence")):
                rounds[name].append(await issue_round(engine, gapless=gapless))
                print(name, rounds[name][-1], flush=True)
    finally:
        await engine.dispose()
    counter = statistics.median(r["per_second"] for r in rounds["gapless_counter"])
    sequence = statistics.median(r["per_second"] for r in rounds["gappy_sequence"])
    return {
        "rounds": rounds,
        "gapless_per_second": counter,
        "gappy_per_second": sequence,
        "ratio": round(counter / sequence, 3),
        "target_ratio": 0.5,
    }


def main() -> None:
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-distribution-") as tmp:
        postgres = LocalPostgres(Path(tmp) / "pg")
        owner_url = postgres.start()
        try:
            database = provision(owner_url)
            issue = asyncio.run(issuing(database.owner_url, database.domain_url))
        finally:
            postgres.stop()
    twenty, one = render_p95(20), render_p95(1)
    devanagari = render_p95(20, DEVANAGARI_PARTNER)
    report = {
        "meta": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_before": [round(x, 2) for x in load],
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "clients": CLIENTS,
            "invoices_per_round": INVOICES,
            "rounds": ROUNDS,
            "renders": RENDERS,
        },
        "invoice_issue": issue,
        "pdf_render": {
            "invoice_20_lines": twenty,
            "invoice_1_line_baseline": one,
            "ratio_p95_20_vs_1": round(twenty["p95_ms"] / one["p95_ms"], 2),
            "invoice_20_lines_devanagari_partner": devanagari,
            "ratio_p95_devanagari_vs_latin": round(devanagari["p95_ms"] / twenty["p95_ms"], 2),
            "target_p95_ms": 50,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(json.dumps({"invoice_issue_ratio": issue["ratio"], "pdf": report["pdf_render"]}))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
