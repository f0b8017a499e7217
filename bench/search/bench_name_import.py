"""What the console's name index (ADR 0385, ``resources_name_grams_idx``) costs BrAPI's bulk
imports, through the whole platform (gateway -> gRPC -> domain-api -> PostgreSQL): ``POST
/brapi/v2/germplasm`` and ``POST /brapi/v2/observationunits`` of 1,000 each, and ``PUT
/brapi/v2/observationunits`` of the same 1,000 changing no name, with the index and with it
dropped, in the same run.

Each round (``BENCH_ROUNDS``, default 5) times both sides, their order alternating; a side
sends ``BENCH_WRITE_BATCHES`` (3) requests per case. A ratio is the documents per second
with the index over those without it, per round; the figure is the median of the rounds'
ratios (target >= 0.9). ``bench_name_writes`` measures the store's statements alone. Writes
``bench/results/name_import.json``.

    uv run python -m bench.search.bench_name_import
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
from bijmantra.devstack.stack import running_stack

from bench.phenotyping.bench_phenotyping import ROOT, Api
from bench.schema.bench_schema import write_result
from bench.search.bench_name_writes import BATCH, BATCHES, germplasm, unit

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
_INDEX = "domain.resources_name_grams_idx"


class Study:
    """Where the imported plots are: a study and the germplasm planted in it."""

    def __init__(self, api: Api) -> None:
        [program] = api.create("/programs", [{"programName": "Bench program"}])
        [trial] = api.create(
            "/trials", [{"trialName": "Bench trial", "programDbId": program["programDbId"]}]
        )
        [study] = api.create(
            "/studies", [{"studyName": "Bench season", "trialDbId": trial["trialDbId"]}]
        )
        self.db_id: str = study["studyDbId"]
        planted = api.create(
            "/germplasm", [_new(germplasm("seed", i, False, "Maize")) for i in range(20)]
        )
        self.germplasm = [g["germplasmDbId"] for g in planted]

    def plot(self, key: str, i: int) -> dict[str, Any]:
        return {
            **_new(unit(key, i, False, "Maize")),
            "studyDbId": self.db_id,
            "germplasmDbId": self.germplasm[i % len(self.germplasm)],
        }


def _new(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without the ids the platform gives."""
    return {k: v for k, v in document.items() if not k.endswith("DbId")}


def _timed(send: Callable[[int], None]) -> float:
    started = time.perf_counter()
    for b in range(BATCHES):
        send(b)
    return time.perf_counter() - started


def _imports(api: Api, study: Study, key: str) -> dict[str, float]:
    """Seconds per case of ``BATCHES`` requests of ``BATCH`` documents."""
    numbers = [range(b * BATCH, (b + 1) * BATCH) for b in range(BATCHES)]
    units: list[list[dict[str, Any]]] = []

    def post_germplasm(b: int) -> None:
        api.create("/germplasm", [_new(germplasm(key, i, False, "Maize")) for i in numbers[b]])

    def post_units(b: int) -> None:
        units.append(api.create("/observationunits", [study.plot(key, i) for i in numbers[b]]))

    def put(b: int) -> None:
        changed = {
            u["observationUnitDbId"]: {**u, "additionalInfo": {"crop": "Teosinte"}}
            for u in units[b]
        }
        api.client.put("/brapi/v2/observationunits", json=changed).raise_for_status()

    return {
        "POST /germplasm": _timed(post_germplasm),
        "POST /observationunits": _timed(post_units),
        "PUT /observationunits, names unchanged": _timed(put),
    }


def main() -> None:
    ratios: dict[str, list[float]] = {}
    seconds: dict[str, dict[str, list[float]]] = {}
    with running_stack(ROOT / ".bijmantra" / "bench-name-import") as stack:
        assert stack.database is not None
        owner_url = stack.database.owner_url
        with psycopg.connect(owner_url, autocommit=True) as owner:
            row = owner.execute("SELECT pg_get_indexdef(%s::regclass)", (_INDEX,)).fetchone()
        assert row is not None
        create = row[0].replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1)
        with httpx.Client(
            base_url=stack.gateway_url,
            timeout=600,
            headers={"Authorization": f"Bearer {stack.login()}"},
        ) as client:
            api = Api(client)
            study = Study(api)
            try:
                for r in range(ROUNDS):
                    sides = ("index", "without") if r % 2 == 0 else ("without", "index")
                    taken: dict[str, dict[str, float]] = {}
                    for side in sides:
                        with psycopg.connect(owner_url, autocommit=True) as owner:
                            owner.execute(
                                create if side == "index" else f"DROP INDEX IF EXISTS {_INDEX}"
                            )
                            owner.execute("VACUUM ANALYZE domain.resources")
                        taken[side] = _imports(api, study, f"r{r}{side[0]}")
                    for name, without in taken["without"].items():
                        ratios.setdefault(name, []).append(without / taken["index"][name])
                        for side in sides:
                            seconds.setdefault(name, {}).setdefault(side, []).append(
                                taken[side][name]
                            )
                    print(
                        f"round {r}: " + ", ".join(f"{n} x{v[-1]:.3f}" for n, v in ratios.items()),
                        flush=True,
                    )
            finally:  # the stack's database outlives the run: leave it as migrated
                with psycopg.connect(owner_url, autocommit=True) as owner:
                    owner.execute(create)
    documents = BATCH * BATCHES
    cases = {
        name: {
            "with_index_per_second": round(documents / statistics.median(seconds[name]["index"])),
            "without_per_second": round(documents / statistics.median(seconds[name]["without"])),
            "ratio_with_to_without": round(statistics.median(per_round), 3),
            "round_ratios": [round(x, 3) for x in per_round],
        }
        for name, per_round in ratios.items()
    }
    write_result(
        "name_import.json",
        {
            "load_average": os.getloadavg()[0],
            "rounds": ROUNDS,
            "batch": BATCH,
            "requests_per_case": BATCHES,
            "baseline": "the same requests with resources_name_grams_idx dropped, same run, "
            "interleaved rounds; ratio = documents per second with the index over without",
            "cases": cases,
        },
    )


if __name__ == "__main__":
    main()
