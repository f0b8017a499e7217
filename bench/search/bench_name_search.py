"""The console's name search under row-level security (ADR 0385): the store's page, whose
search first asks ``domain.resource_ids_naming`` (the trigram index of migration 0260) for
candidates, against the same page as a pass over the organization's rows (the same ILIKE
test, no finder), on the same rows in the same run; and, for one name, against BrAPI's exact
``germplasmName`` filter.

Two organizations each hold ``BENCH_SEARCH_ROWS`` germplasm documents (default 100,000)
named ``IR<n>`` with an accession number and a synonym, seeded by SQL on a PostgreSQL 16 of
the bench's own; every case is timed on each side in interleaved rounds (``BENCH_ROUNDS``,
default 5; median), as the domain-api role with the organization set, as a console page of
25 with its total count. A ratio below 1 means the index is cheaper. Writes
``bench/results/name_search.json``.

    uv run python -m bench.search.bench_name_search
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import psycopg
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.application.brapi.name_search import name_contains
from bijmantra.application.ports.documents import Criteria
from bijmantra.kernel import PageRequest, TenantId

from bench.filters.bench_filters import baseline, measured_and_written

ROWS = int(os.environ.get("BENCH_SEARCH_ROWS", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
PAGE = PageRequest(0, 25)
_ENTITY = "germplasm"
_SEED = (
    "INSERT INTO domain.resources (tenant_id, entity, db_id, document, body) SELECT %(t)s, "
    "'germplasm', 'g-' || lpad(g::text, 8, '0'), d, convert_to(d::text, 'UTF8') FROM ("
    "SELECT g, jsonb_build_object('germplasmDbId', 'g-' || g, 'germplasmName', 'IR' || g, "
    "'accessionNumber', 'IRGC ' || (g * 7), 'synonyms', jsonb_build_array(jsonb_build_object("
    "'synonym', 'Line ' || g || ' of the breeding program', 'type', 'local')), "
    "'commonCropName', 'Rice', 'genus', 'Oryza', 'species', 'sativa', "
    "'additionalInfo', jsonb_build_object('note', repeat('x', 300))) d "
    "FROM generate_series(1, %(n)s) g) s"
)
ONE = f"IR{ROWS * 2 // 3 + 1}"  # a name no other name holds (below 10 x ROWS)
CASES = {
    "one name": ONE.lower(),
    "inside names (4123)": "4123",
    "1 % (ir99)": "ir99",
    "11 % (ir1)": "ir1",
    "no match": "nerica",
    "two characters (ir, all)": "ir",
}


async def _timed_page(factory: Any, tenant: TenantId, criteria: Criteria) -> tuple[float, int]:
    started = time.perf_counter()
    async with factory(tenant) as uow:
        page = await uow.resources.page(_ENTITY, criteria, PAGE)
    return time.perf_counter() - started, page.total_count


async def measure(domain_url: str, tenant: TenantId) -> dict[str, Any]:
    engine = create_engine(domain_url, pool_size=1)
    factory = unit_of_work_factory(engine, source="bench")
    sides = ("pass", "index")
    times: dict[str, dict[str, list[float]]] = {n: {s: [] for s in sides} for n in CASES}
    exact: dict[str, list[float]] = {"exact filter": [], "index": []}
    counts: dict[str, int] = {}
    with psycopg.connect(domain_url, autocommit=True) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant),))
        for _ in range(ROUNDS):
            for name, term in CASES.items():
                criteria = (name_contains(_ENTITY, term),)
                statement, params = baseline(criteria, _ENTITY, PAGE)
                started = time.perf_counter()
                before = conn.execute(statement, params, prepare=False).fetchone()
                times[name]["pass"].append(time.perf_counter() - started)
                took, counts[name] = await _timed_page(factory, tenant, criteria)
                times[name]["index"].append(took)
                assert before is not None, name
                assert before[0] == counts[name], name
            took, found = await _timed_page(factory, tenant, (({"germplasmName": ONE},),))
            exact["exact filter"].append(took)
            assert found == 1
            took, _ = await _timed_page(factory, tenant, (name_contains(_ENTITY, ONE),))
            exact["index"].append(took)
    await engine.dispose()
    cases = {}
    for name, timed in times.items():
        before, after = (statistics.median(timed[s]) * 1000 for s in sides)
        cases[name] = {
            "matches": counts[name],
            "pass_ms": round(before, 2),
            "index_ms": round(after, 2),
            "ratio_index_to_pass": round(after / before, 3),
        }
        print(f"  {name:<28} {before:9.2f} ms -> {after:9.2f} ms  x{after / before:.3f}")
    filtered, searched = (statistics.median(exact[s]) * 1000 for s in exact)
    print(
        f"  exact filter {filtered:.2f} ms, contains {searched:.2f} ms x{searched / filtered:.3f}"
    )
    cases["one name, against the exact filter"] = {
        "exact_ms": round(filtered, 2),
        "index_ms": round(searched, 2),
        "ratio_index_to_exact": round(searched / filtered, 3),
    }
    return cases


def main() -> None:
    measured_and_written(
        "name_search.json",
        _SEED,
        ROWS,
        measure,
        {
            "rounds": ROUNDS,
            "page_size": PAGE.page_size,
            "baseline": "the same page as a pass over the organization's rows (no finder), "
            "same run, same role; and BrAPI's exact germplasmName filter for one name",
        },
    )


if __name__ == "__main__":
    main()
