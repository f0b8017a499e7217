"""What the console's name index (ADR 0385, ``resources_name_grams_idx``) costs a write: the
store's bulk insert and update (``uow.resources``, the statements BrAPI's bulk POST and PUT
run) of germplasm and observation units, with the index and with it dropped, in the same run.

Two organizations each hold ``BENCH_WRITE_ROWS`` germplasm and as many observation units
(default 20,000), seeded by SQL on a PostgreSQL 16 of the bench's own. Each round
(``BENCH_ROUNDS``, default 7) times both sides, their order alternating; a side writes
``BENCH_WRITE_BATCHES`` (3) transactions of 1,000 documents per case, as the domain-api role
with the organization set: new documents, then an update of them that changes no name, then
one that renames them. A ratio is the writes per second with the index over those without
it, per round; the figure is the median of the rounds' ratios (target >= 0.9). Writes
``bench/results/name_writes.json``.

    uv run python -m bench.search.bench_name_writes
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

import psycopg
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.kernel import TenantId

from bench.filters.bench_filters import seeded, written

ROWS = int(os.environ.get("BENCH_WRITE_ROWS", "20000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
BATCHES = int(os.environ.get("BENCH_WRITE_BATCHES", "3"))
BATCH = 1000
_SEED = (
    "INSERT INTO domain.resources (tenant_id, entity, db_id, document, body) SELECT %(t)s, "
    "e, e || '-seed-' || g, d, convert_to(d::text, 'UTF8') FROM ("
    "SELECT g, 'germplasm' e, jsonb_build_object('germplasmDbId', 'germplasm-seed-' || g, "
    "'germplasmName', 'IR' || g, 'accessionNumber', 'IRGC ' || (g * 7), 'synonyms', "
    "jsonb_build_array(jsonb_build_object('synonym', 'Line ' || g, 'type', 'local')), "
    "'commonCropName', 'Rice', 'genus', 'Oryza', 'species', 'sativa') d "
    "FROM generate_series(1, %(n)s) g UNION ALL "
    "SELECT g, 'observationunit', jsonb_build_object('observationUnitDbId', "
    "'observationunit-seed-' || g, 'observationUnitName', 'Plot ' || g, 'studyDbId', 's-1', "
    "'germplasmDbId', 'germplasm-seed-' || (g %% 20 + 1)) FROM generate_series(1, %(n)s) g) s"
)
_INDEX = "domain.resources_name_grams_idx"
CASES = ("insert", "update, names unchanged", "update, renamed")


def germplasm(key: str, i: int, renamed: bool, crop: str) -> dict[str, Any]:
    """A germplasm as BrAPI's POST /germplasm stores it: a name, an accession, synonyms."""
    name = f"{'Renamed ' if renamed else ''}BG-{key}-{i}"
    return {
        "germplasmDbId": f"germplasm-{key}-{i}",
        "germplasmName": name,
        "germplasmPUI": f"doi:bench/{key}/{i}",
        "accessionNumber": f"ACC {key} {i}",
        "synonyms": [{"synonym": f"{name} selection", "type": "local"}, {"synonym": f"L{i}"}],
        "commonCropName": crop,
        "genus": "Zea",
        "species": "mays",
        "countryOfOriginCode": "MEX",
        "externalReferences": [{"referenceId": f"ext-{i}", "referenceSource": "bench"}],
    }


def unit(key: str, i: int, renamed: bool, crop: str) -> dict[str, Any]:
    """An observation unit (a plot) as BrAPI's POST /observationunits stores it."""
    return {
        "observationUnitDbId": f"observationunit-{key}-{i}",
        "observationUnitName": f"{'Renamed ' if renamed else ''}Plot {key} {i}",
        "studyDbId": "s-1",
        "germplasmDbId": f"germplasm-seed-{i % 20 + 1}",
        "additionalInfo": {"crop": crop},
        "observationUnitPosition": {
            "observationLevel": {"levelName": "plot", "levelCode": str(i)},
            "observationLevelRelationships": [{"levelName": "rep", "levelCode": str(i % 4)}],
            "positionCoordinateX": str(i % 100),
            "positionCoordinateXType": "GRID_COL",
            "positionCoordinateY": str(i // 100),
            "positionCoordinateYType": "GRID_ROW",
        },
    }


MAKERS = {"germplasm": germplasm, "observationunit": unit}
_ID = {"germplasm": "germplasm", "observationunit": "observationUnit"}


async def _writes(factory: Any, tenant: TenantId, key: str) -> dict[str, float]:
    """Seconds per (entity, case) of ``BATCHES`` transactions of ``BATCH`` documents."""
    taken: dict[str, float] = {}
    for entity, make in MAKERS.items():
        for case, renamed, crop in (
            ("insert", False, "Maize"),
            ("update, names unchanged", False, "Teosinte"),
            ("update, renamed", True, "Teosinte"),
        ):
            started = time.perf_counter()
            for b in range(BATCHES):
                batch = [make(key, i, renamed, crop) for i in range(b * BATCH, (b + 1) * BATCH)]
                documents = [(d[f"{_ID[entity]}DbId"], d) for d in batch]
                async with factory(tenant) as uow:
                    write = uow.resources.insert if case == "insert" else uow.resources.update
                    await write(entity, documents)
                    await uow.commit()
            taken[f"{entity} {case}"] = time.perf_counter() - started
    return taken


async def measure(domain_url: str, tenant: TenantId, owner_url: str) -> dict[str, Any]:
    with psycopg.connect(owner_url, autocommit=True) as owner:
        [definition] = owner.execute(
            "SELECT pg_get_indexdef(%s::regclass)", (_INDEX,)
        ).fetchone() or (None,)
    assert definition is not None
    create = definition.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1)
    engine = create_engine(domain_url, pool_size=1)
    factory = unit_of_work_factory(engine, source="bench")
    ratios: dict[str, list[float]] = {}
    seconds: dict[str, dict[str, list[float]]] = {}
    for r in range(ROUNDS):
        sides = ("index", "without") if r % 2 == 0 else ("without", "index")
        round_times: dict[str, dict[str, float]] = {}
        for side in sides:
            with psycopg.connect(owner_url, autocommit=True) as owner:
                owner.execute(create if side == "index" else f"DROP INDEX IF EXISTS {_INDEX}")
                owner.execute("VACUUM ANALYZE domain.resources")
            round_times[side] = await _writes(factory, tenant, f"r{r}{side[0]}")
        for name in round_times["index"]:
            ratios.setdefault(name, []).append(
                round_times["without"][name] / round_times["index"][name]
            )
            for side, taken in round_times.items():
                seconds.setdefault(name, {}).setdefault(side, []).append(taken[name])
    await engine.dispose()
    cases = {}
    writes = BATCHES * BATCH
    for name, per_round in ratios.items():
        with_index, without = (statistics.median(seconds[name][s]) for s in ("index", "without"))
        cases[name] = {
            "with_index_per_second": round(writes / with_index),
            "without_per_second": round(writes / without),
            "ratio_with_to_without": round(statistics.median(per_round), 3),
            "round_ratios": [round(x, 3) for x in per_round],
        }
        print(
            f"  {name:<42} {writes / without:9.0f}/s -> {writes / with_index:9.0f}/s  "
            f"x{statistics.median(per_round):.3f} (rounds {min(per_round):.2f}-"
            f"{max(per_round):.2f})",
            flush=True,
        )
    return cases


def main() -> None:
    with seeded(_SEED, ROWS) as (database, tenant):
        cases = asyncio.run(measure(database.domain_url, tenant, database.owner_url))
    written(
        "name_writes.json",
        ROWS,
        {
            "rounds": ROUNDS,
            "batch": BATCH,
            "batches_per_case": BATCHES,
            "baseline": "the same writes with resources_name_grams_idx dropped, same run, "
            "interleaved rounds; ratio = writes per second with the index over without",
        },
        cases,
    )


if __name__ == "__main__":
    main()
