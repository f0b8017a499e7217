"""Observation ingestion and the observation table, through the whole platform.

Measured in the same run, on the same rows:

* ``POST /brapi/v2/observations`` in batches of ``BENCH_OBSERVATION_BATCH`` (10,000) through
  gateway -> gRPC -> domain-api (schema, references, scale rules, events) -> PostgreSQL,
  in observations per second; baseline: a raw ``COPY`` of the very rows the platform
  stored, in batches of the same size, into an equivalent table (``LIKE domain.resources
  INCLUDING ALL``: same columns, primary key and GIN index, no RLS), once the events of the
  ingest are relayed and audited (also reported: that wait, and the ratio counting it).
  Target: >= 25 %.
* ``GET /brapi/v2/observations/table?studyDbId=`` for the study holding every observation
  (``BENCH_OBSERVATIONS``, 100,000), CSV and JSON: time to first byte and total; baseline:
  ``COPY (SELECT body ... ) TO STDOUT`` of the same observations.

    uv run python bench/phenotyping/bench_phenotyping.py
    BENCH_OBSERVATIONS=20000 uv run python bench/phenotyping/bench_phenotyping.py
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import psycopg
from bijmantra.devstack.stack import running_stack

ROOT = Path(__file__).resolve().parents[2]


RESULTS = ROOT / "bench" / "results" / "phenotyping.json"
OBSERVATIONS = int(os.environ.get("BENCH_OBSERVATIONS", "100000"))
BATCH = int(os.environ.get("BENCH_OBSERVATION_BATCH", "10000"))
VARIABLES = 10
UNITS = OBSERVATIONS // VARIABLES


class Api:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def create(self, path: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        response = self.client.post(f"/brapi/v2{path}", json=items)
        response.raise_for_status()
        return response.json()["result"]["data"]


def field_season(api: Api) -> tuple[str, list[str], list[str]]:
    """A study, its plots and numerical variables: what the observations are of."""
    [program] = api.create("/programs", [{"programName": "Bench program"}])
    [trial] = api.create(
        "/trials", [{"trialName": "Bench trial", "programDbId": program["programDbId"]}]
    )
    [study] = api.create(
        "/studies", [{"studyName": "Bench season", "trialDbId": trial["trialDbId"]}]
    )
    germplasm = api.create(
        "/germplasm",
        [
            {
                "germplasmName": f"BG{i}",
                "germplasmPUI": f"doi:bench/g{i}",
                "commonCropName": "Maize",
            }
            for i in range(20)
        ],
    )
    variables = []
    for v in range(VARIABLES):
        [scale] = api.create(
            "/scales",
            [
                {
                    "scaleName": f"S{v}",
                    "dataType": "Numerical",
                    "decimalPlaces": 2,
                    "validValues": {"minimumValue": "0", "maximumValue": "1000"},
                }
            ],
        )
        [trait] = api.create("/traits", [{"traitName": f"T{v}"}])
        [method] = api.create("/methods", [{"methodName": f"M{v}"}])
        [variable] = api.create(
            "/variables",
            [
                {
                    "observationVariableName": f"Bench variable {v}",
                    "trait": {"traitDbId": trait["traitDbId"], "traitName": f"T{v}"},
                    "method": {"methodDbId": method["methodDbId"], "methodName": f"M{v}"},
                    "scale": {"scaleDbId": scale["scaleDbId"], "scaleName": f"S{v}"},
                }
            ],
        )
        variables.append(variable["observationVariableDbId"])
    units: list[str] = []
    for start in range(0, UNITS, 2000):
        plots = [
            {
                "observationUnitName": f"Plot {i}",
                "studyDbId": study["studyDbId"],
                "germplasmDbId": germplasm[i % len(germplasm)]["germplasmDbId"],
                "observationUnitPosition": {
                    "observationLevel": {"levelName": "plot", "levelCode": str(i)},
                    "observationLevelRelationships": [
                        {"levelName": "rep", "levelCode": str(i % 4)}
                    ],
                    "positionCoordinateX": str(i % 100),
                    "positionCoordinateXType": "GRID_COL",
                    "positionCoordinateY": str(i // 100),
                    "positionCoordinateYType": "GRID_ROW",
                },
            }
            for i in range(start, min(start + 2000, UNITS))
        ]
        units += [u["observationUnitDbId"] for u in api.create("/observationunits", plots)]
    return study["studyDbId"], units, variables


def observation_batches(study: str, units: list[str], variables: list[str]) -> list[bytes]:
    rows = [
        {
            "observationUnitDbId": unit,
            "observationVariableDbId": variable,
            "studyDbId": study,
            "value": f"{(u * 7 + v * 13) % 1000}.{(u + v) % 100:02d}",
            "observationTimeStamp": f"2026-07-{1 + u % 28:02d}T10:{v:02d}:00+00:00",
            "collector": "bench",
        }
        for u, unit in enumerate(units)
        for v, variable in enumerate(variables)
    ]
    return [json.dumps(rows[i : i + BATCH]).encode() for i in range(0, len(rows), BATCH)]


def ingest(client: httpx.Client, batches: list[bytes]) -> list[float]:
    seconds = []
    for body in batches:
        started = time.perf_counter()
        response = client.post(
            "/brapi/v2/observations", content=body, headers={"Content-Type": "application/json"}
        )
        seconds.append(time.perf_counter() - started)
        response.raise_for_status()
    return seconds


def drain_events(owner_url: str, expected: int, timeout: float = 600.0) -> float:
    """Seconds until every observation's creation is relayed and in the audit trail (as an
    ``observation.created`` entry, or an item of an ``observation.created.bulk`` one).

    The COPY baseline then runs on a quiet stack rather than beside the platform's own
    event backlog (which would slow the baseline and flatter the ratio)."""
    started = time.perf_counter()
    with psycopg.connect(owner_url, autocommit=True) as conn:
        while time.perf_counter() - started < timeout:
            pending, audited = conn.execute(
                "SELECT (SELECT count(*) FROM domain.outbox WHERE published_at IS NULL), "
                "(SELECT coalesce(sum(coalesce(cardinality(resources), 1)), 0) "
                "FROM domain.audit_log "
                "WHERE event_type IN ('observation.created', 'observation.created.bulk'))"
            ).fetchone()
            if pending == 0 and audited >= expected:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"events of {expected} observations not audited in {timeout} s")
    return time.perf_counter() - started


def copy_baseline(owner_url: str, study: str) -> tuple[list[float], int]:
    """COPY the rows the platform stored, batch by batch, into an equivalent table."""
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS baseline_pheno CASCADE")
        conn.execute("CREATE SCHEMA baseline_pheno")
        conn.execute("CREATE TABLE baseline_pheno.resources (LIKE domain.resources INCLUDING ALL)")
        rows = conn.execute(
            "SELECT tenant_id, entity, db_id, document::text, body FROM domain.resources "
            "WHERE entity = 'observation' "
            "AND document @> jsonb_build_object('studyDbId', %s::text)",
            (study,),
        ).fetchall()
    seconds = []
    with psycopg.connect(owner_url) as conn:
        for start in range(0, len(rows), BATCH):
            started = time.perf_counter()
            with (
                conn.transaction(),
                conn.cursor() as cursor,
                cursor.copy(
                    "COPY baseline_pheno.resources (tenant_id, entity, db_id, document, body) "
                    "FROM STDIN"
                ) as copy,
            ):
                for row in rows[start : start + BATCH]:
                    copy.write_row(row)
            seconds.append(time.perf_counter() - started)
    return seconds, len(rows)


def stream_timing(started: float, chunks: Iterable[bytes | memoryview]) -> dict[str, float]:
    """Time to the first non-empty chunk and to the last, and the bytes, of one stream."""
    first = None
    size = 0
    for chunk in chunks:
        if first is None and chunk:
            first = time.perf_counter() - started
        size += len(chunk)
    total = time.perf_counter() - started
    return {
        "time_to_first_byte_s": round(first or total, 4),
        "total_s": round(total, 4),
        "bytes": size,
    }


def read_table(client: httpx.Client, study: str, accept: str) -> dict[str, float]:
    started = time.perf_counter()
    with client.stream(
        "GET",
        "/brapi/v2/observations/table",
        params={"studyDbId": study},
        headers={"Accept": accept},
    ) as response:
        response.raise_for_status()
        return stream_timing(started, response.iter_bytes())


def copy_out_baseline(owner_url: str, study: str) -> dict[str, float]:
    started = time.perf_counter()
    with (
        psycopg.connect(owner_url) as conn,
        conn.cursor() as cursor,
        cursor.copy(
            "COPY (SELECT body FROM domain.resources WHERE entity = 'observation' "
            "AND document @> jsonb_build_object('studyDbId', %s::text) "
            "ORDER BY document->>'observationUnitDbId') TO STDOUT",
            (study,),
        ) as copy,
    ):
        return stream_timing(started, copy)


def main() -> None:
    workdir = ROOT / ".bijmantra" / "bench-phenotyping"
    with running_stack(workdir) as stack:
        token = stack.login()
        assert stack.database is not None
        with httpx.Client(
            base_url=stack.gateway_url, timeout=600, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            study, units, variables = field_season(Api(client))
            batches = observation_batches(study, units, variables)
            print(f"ingesting {OBSERVATIONS} observations in batches of {BATCH}", flush=True)
            platform_seconds = ingest(client, batches)
            drain_seconds = drain_events(stack.database.owner_url, OBSERVATIONS)
            copy_seconds, copied = copy_baseline(stack.database.owner_url, study)
            assert copied == OBSERVATIONS, (copied, OBSERVATIONS)
            platform_rate = OBSERVATIONS / sum(platform_seconds)
            copy_rate = copied / sum(copy_seconds)
            tables = {
                "csv": read_table(client, study, "text/csv"),
                "json": read_table(client, study, "application/json"),
                "tsv": read_table(client, study, "text/tsv"),
            }
            copy_out = copy_out_baseline(stack.database.owner_url, study)
        report = {
            "meta": {
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "observations": OBSERVATIONS,
                "batch": BATCH,
                "units": UNITS,
                "variables": VARIABLES,
            },
            "ingest": {
                "platform_observations_per_second": round(platform_rate, 1),
                "platform_batch_seconds": [round(s, 3) for s in platform_seconds],
                "platform_median_batch_seconds": round(statistics.median(platform_seconds), 3),
                "copy_rows_per_second": round(copy_rate, 1),
                "copy_batch_seconds": [round(s, 3) for s in copy_seconds],
                "ratio_platform_to_copy": round(platform_rate / copy_rate, 3),
                "target_ratio": 0.25,
                # after the last POST: until every event is published and audited
                "events_drained_after_s": round(drain_seconds, 3),
                "ratio_with_event_drain_to_copy": round(
                    OBSERVATIONS / (sum(platform_seconds) + drain_seconds) / copy_rate, 3
                ),
            },
            "observation_table": {
                **tables,
                "baseline_copy_to_stdout": copy_out,
                "ratio_csv_total_to_copy_out": round(
                    tables["csv"]["total_s"] / copy_out["total_s"], 2
                ),
            },
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2))
        ingest_report = report["ingest"]
        print(
            "  POST /observations "
            f"{ingest_report['platform_observations_per_second']:>10.0f} obs/s   "
            f"COPY {ingest_report['copy_rows_per_second']:>10.0f} rows/s   "
            f"ratio {ingest_report['ratio_platform_to_copy']:.3f} (target >= 0.25)",
            flush=True,
        )
        print(
            f"  events drained {ingest_report['events_drained_after_s']:.1f} s after the last POST;"
            f" counting that wait: ratio {ingest_report['ratio_with_event_drain_to_copy']:.3f}",
            flush=True,
        )
        for name, figures in tables.items():
            print(
                f"  /observations/table {name:<4} "
                f"first byte {figures['time_to_first_byte_s']:.3f} s  "
                f"total {figures['total_s']:.3f} s  ({figures['bytes']} bytes)",
                flush=True,
            )
        print(
            f"  COPY TO STDOUT baseline       first byte {copy_out['time_to_first_byte_s']:.3f} s  "
            f"total {copy_out['total_s']:.3f} s",
            flush=True,
        )
        print(f"wrote {RESULTS}", flush=True)


if __name__ == "__main__":
    main()
