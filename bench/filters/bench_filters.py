"""A filtered BrAPI page under row-level security: the store's page, whose filter first asks
``domain.resource_ids_containing`` for candidates (ADR 0351), against the statement the
store ran before, on the same rows in the same run.

Two organizations each hold ``BENCH_FILTER_ROWS`` observation documents (default 100,000),
seeded by SQL on a PostgreSQL 16 of the bench's own; every case is timed on both sides in
interleaved rounds (``BENCH_ROUNDS``, default 5; median), as the domain-api role with the
organization set, as a page of 1,000 with its total count. A ratio below 1 means the finder
is cheaper. Writes ``bench/results/filters.json``.

    uv run python -m bench.filters.bench_filters
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.adapters.postgres.resource_criteria import where
from bijmantra.application.ports.documents import Criteria, Range
from bijmantra.kernel import PageRequest, TenantId
from bijmantra.testkit.provision import ProvisionedDatabase, provision
from bijmantra.testkit.servers import LocalPostgres

from bench.schema.bench_schema import write_result

ROWS = int(os.environ.get("BENCH_FILTER_ROWS", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
PAGE = PageRequest(0, 1000)
_ENTITY = "observations"
_SEED = (
    "INSERT INTO domain.resources (tenant_id, entity, db_id, document, body) SELECT %(t)s, "
    "'observations', 'obs-' || lpad(g::text, 8, '0'), d, convert_to(d::text, 'UTF8') FROM ("
    "SELECT g, jsonb_build_object('observationDbId', 'obs-' || g, 'studyDbId', 'study-' || "
    "(g %% 100), 'observationUnitDbId', 'ou-' || (g / 10), 'germplasmDbId', 'g-' || "
    "(g %% 5000), 'observationVariableDbId', 'var-' || (g %% 10), 'value', g * 7 %% 1000, "
    "'observationTimeStamp', '2026-01-01T00:00:00Z', 'collector', 'someone with a long name', "
    "'additionalInfo', jsonb_build_object('note', repeat('x', 300))) d "
    "FROM generate_series(1, %(n)s) g) s"
)


def _variables(*values: int) -> tuple[dict[str, Any], ...]:
    return tuple({"observationVariableDbId": f"var-{v}"} for v in values)


CASES: dict[str, Criteria] = {
    "study (1 %)": (({"studyDbId": "study-7"},),),
    "observation unit (10 rows)": (({"observationUnitDbId": "ou-77"},),),
    "no match": (({"studyDbId": "none"},),),
    "variable (10 %)": (_variables(3),),
    "variables (50 %)": (_variables(0, 1, 2, 3, 4),),
    "variables (90 %)": (_variables(*range(9)),),
    "study and variable": (({"studyDbId": "study-7"},), _variables(7)),
    "study and a value range": (({"studyDbId": "study-7"},), Range(("value",), 100, 500)),
}


def baseline(
    criteria: Criteria, entity: str = _ENTITY, page: PageRequest = PAGE
) -> tuple[str, dict[str, Any]]:
    """The page statement as the store ran it before ADR 0351: the exact tests alone (its
    ``_where`` then, ``resource_criteria.where`` now), without the finder's candidates."""
    params: dict[str, Any] = {"entity": entity, "limit": page.page_size, "offset": page.offset}
    test, _ = where(criteria, params)
    return (
        f"SELECT (SELECT count(*) FROM domain.resources WHERE {test}), p.n, p.bodies FROM ("
        "SELECT count(*) AS n, string_agg(body, '\\x2c'::bytea ORDER BY db_id) AS bodies FROM ("
        f"SELECT db_id, body FROM domain.resources WHERE {test} "
        "ORDER BY db_id LIMIT %(limit)s OFFSET %(offset)s) s) p",
        params,
    )


def seed(owner_url: str, statement: str = _SEED, rows: int = ROWS) -> TenantId:
    """Two organizations' rows by ``statement`` (``%(t)s`` the organization, ``%(n)s`` the
    rows); ours, the one measured."""
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(owner_url) as conn:
        for tenant in (theirs, ours):  # ours last: its rows are not the first of the heap
            conn.execute(statement, {"t": tenant, "n": rows})
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE domain.resources")
    return TenantId(ours)


async def measure(domain_url: str, tenant: TenantId) -> dict[str, Any]:
    engine = create_engine(domain_url, pool_size=1)
    factory = unit_of_work_factory(engine, source="bench")
    times: dict[str, dict[str, list[float]]] = {n: {"before": [], "finder": []} for n in CASES}
    counts: dict[str, int] = {}
    with psycopg.connect(domain_url, autocommit=True) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant),))
        for _ in range(ROUNDS):
            for name, criteria in CASES.items():
                statement, params = baseline(criteria)
                started = time.perf_counter()
                before = conn.execute(statement, params, prepare=False).fetchone()
                times[name]["before"].append(time.perf_counter() - started)
                started = time.perf_counter()
                async with factory(tenant) as uow:
                    page = await uow.resources.page(_ENTITY, criteria, PAGE)
                times[name]["finder"].append(time.perf_counter() - started)
                assert before is not None, name
                assert (before[0], before[1]) == (page.total_count, page.count), name
                counts[name] = page.total_count
    await engine.dispose()
    cases = {}
    for name, sides in times.items():
        before, finder = (statistics.median(sides[s]) * 1000 for s in ("before", "finder"))
        cases[name] = {
            "matches": counts[name],
            "before_ms": round(before, 2),
            "finder_ms": round(finder, 2),
            "ratio_finder_to_before": round(finder / before, 3),
        }
        print(f"  {name:<28} {before:9.1f} ms -> {finder:9.1f} ms  x{finder / before:.3f}")
    return cases


Measure = Callable[[str, TenantId], Awaitable[dict[str, Any]]]


@contextmanager
def seeded(statement: str, rows: int) -> Iterator[tuple[ProvisionedDatabase, TenantId]]:
    """A PostgreSQL of the bench's own holding two organizations seeded by ``statement``,
    and ours (the one measured)."""
    with tempfile.TemporaryDirectory(prefix="bench-rls-") as work:
        postgres = LocalPostgres(Path(work) / "pgdata")
        database = provision(postgres.start())
        try:
            yield database, seed(database.owner_url, statement, rows)
        finally:
            postgres.stop()


def written(result: str, rows: int, facts: dict[str, Any], cases: dict[str, Any]) -> None:
    """``cases`` with ``facts`` and the host's, to ``bench/results/<result>``."""
    write_result(
        result,
        {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average": os.getloadavg()[0],
            "rows_per_organization": rows,
            "organizations": 2,
            **facts,
            "cases": cases,
        },
    )


def measured_and_written(
    result: str, statement: str, rows: int, measure: Measure, facts: dict[str, Any]
) -> None:
    """``measure(domain_url, ours)`` on a PostgreSQL of the bench's own holding two
    organizations seeded by ``statement``; its cases written to ``result`` with ``facts``."""
    with seeded(statement, rows) as (database, tenant):
        cases = asyncio.run(measure(database.domain_url, tenant))
    written(result, rows, facts, cases)


def main() -> None:
    measured_and_written(
        "filters.json",
        _SEED,
        ROWS,
        measure,
        {
            "rounds": ROUNDS,
            "page_size": PAGE.page_size,
            "baseline": "the page statement of the store before ADR 0351, same run, same role",
        },
    )


if __name__ == "__main__":
    main()
