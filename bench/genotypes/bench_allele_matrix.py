"""An allele-matrix page through the full path against a one-row-per-call table (issue 19).

* Platform: ``GET /brapi/v2/allelematrix`` of VARIANTS x SAMPLES (one page in both
  dimensions) through the gateway -> gRPC -> domain-api, decoded from the packed chunks.
* Baseline: the same page from a table with one row per call (the BrAPI Test Server's
  design), in the same PostgreSQL: one indexed, ordered query, the rows assembled into the
  same matrix and the response encoded as JSON, in this process (no HTTP: the baseline is
  spared the gateway's cost).

Rounds alternate the two, each reading the next of PAGES variant pages; the ratio is the
baseline's time over ours per round, and the median is reported with the load average.
Target: at least 20x. Writes ``bench/results/allele_matrix.json``. Run from the
repository root as ``python -m bench.genotypes.bench_allele_matrix``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import httpx
import numpy as np
import psycopg
from bijmantra.devstack.stack import running_stack

from bench.genotypes.bench_genotypes import dosages, plink_bytes, write_report

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = int(os.environ.get("BENCH_MATRIX_SAMPLES", "2000"))
VARIANTS = int(os.environ.get("BENCH_MATRIX_VARIANTS", "1000"))
PAGES = 2
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
RESULTS = ROOT / "bench" / "results" / "allele_matrix.json"
GT_TEXT = ["./.", "0/0", "0/1", "1/1"]  # dosage + 1

_ROWS_TABLE = """
CREATE TABLE bench_calls (
    variant_set_db_id text NOT NULL,
    variant_index integer NOT NULL,
    call_set_index integer NOT NULL,
    variant_db_id text NOT NULL,
    call_set_db_id text NOT NULL,
    genotype text NOT NULL,
    PRIMARY KEY (variant_set_db_id, variant_index, call_set_index)
)
"""
_PAGE = (
    "SELECT variant_db_id, call_set_db_id, genotype FROM bench_calls "
    "WHERE variant_set_db_id = %s AND variant_index >= %s AND variant_index < %s "
    "AND call_set_index < %s ORDER BY variant_index, call_set_index"
)


def fill_rows(url: str, set_id: str, g: np.ndarray) -> None:
    """One row per call, written with COPY (the fastest way in); the stack's database is
    kept between runs, so the table is made anew."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_calls")
        conn.execute(_ROWS_TABLE)
        with conn.cursor().copy(
            "COPY bench_calls (variant_set_db_id, variant_index, call_set_index, "
            "variant_db_id, call_set_db_id, genotype) FROM STDIN"
        ) as copy:
            for v in range(g.shape[0]):
                lines = [
                    f"{set_id}\t{v}\t{c}\t{set_id}:{v}\tcs{c}\t{GT_TEXT[d + 1]}\n"
                    for c, d in enumerate(g[v].tolist())
                ]
                copy.write("".join(lines))
        conn.execute("ANALYZE bench_calls")


def page_from_rows(conn: psycopg.Connection, set_id: str, page: int) -> bytes:
    """The page as the row-per-call design serves it: query, assemble, encode."""
    lo = page * VARIANTS
    rows = conn.execute(_PAGE, (set_id, lo, lo + VARIANTS, SAMPLES)).fetchall()
    variants: list[str] = []
    call_sets: list[str] = []
    matrix: list[list[str]] = []
    for variant, call_set, genotype in rows:
        if not variants or variants[-1] != variant:
            variants.append(variant)
            matrix.append([])
        if len(variants) == 1:
            call_sets.append(call_set)
        matrix[-1].append(genotype)
    result = {
        "variantDbIds": variants,
        "callSetDbIds": call_sets,
        "dataMatrices": [{"dataMatrixAbbreviation": "GT", "dataMatrix": matrix}],
    }
    return json.dumps({"result": result}).encode()


def main() -> None:
    g = dosages(VARIANTS * PAGES, SAMPLES)
    bed, bim, fam = plink_bytes(g)
    platform_times, row_times, loads = [], [], []
    workdir = ROOT / ".bijmantra" / "bench-allele-matrix"
    with running_stack(workdir) as stack:
        assert stack.database is not None
        headers = {"Authorization": f"Bearer {stack.login()}"}
        with httpx.Client(base_url=stack.gateway_url, timeout=600, headers=headers) as client:
            answer = client.post(
                "/api/v1/genotypes/imports",
                params={"name": "bench-allele-matrix", "commonCropName": "Maize"},
                files={"bed": ("b.bed", bed), "bim": ("b.bim", bim), "fam": ("b.fam", fam)},
            )
            answer.raise_for_status()
            set_id = str(answer.json()["data"]["variantSetDbId"])
            fill_rows(stack.database.owner_url, set_id, g)
            with psycopg.connect(stack.database.owner_url) as conn:
                for n in range(REPEATS + 1):  # the first round warms both up, unreported
                    page = n % PAGES
                    load = round(os.getloadavg()[0], 2)
                    start = time.perf_counter()
                    body = page_from_rows(conn, set_id, page)
                    rows_time = time.perf_counter() - start
                    start = time.perf_counter()
                    served = client.get(
                        "/brapi/v2/allelematrix",
                        params={
                            "variantSetDbId": set_id,
                            "dimensionVariantPage": page,
                            "dimensionVariantPageSize": VARIANTS,
                            "dimensionCallSetPageSize": SAMPLES,
                        },
                    )
                    platform_time = time.perf_counter() - start
                    served.raise_for_status()
                    matrix = served.json()["result"]["dataMatrices"][0]["dataMatrix"]
                    expected = json.loads(body)["result"]["dataMatrices"][0]["dataMatrix"]
                    assert matrix == expected, "the two reads disagree"
                    if n:
                        loads.append(load)
                        row_times.append(rows_time)
                        platform_times.append(platform_time)
    ratios = [r / p for r, p in zip(row_times, platform_times, strict=True)]
    report = {
        "meta": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "page": f"{VARIANTS} variants x {SAMPLES} call sets",
            "rounds": REPEATS,
            "load_average_1m_per_round": loads,
        },
        "platform_seconds": [round(t, 4) for t in platform_times],
        "row_per_call_seconds": [round(t, 4) for t in row_times],
        "ratios": [round(r, 2) for r in ratios],
        "ratio_row_per_call_over_platform": round(statistics.median(ratios), 2),
        "target_ratio": 20,
    }
    write_report(RESULTS, report)


if __name__ == "__main__":
    main()
