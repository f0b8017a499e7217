"""VCF export and import through the platform against ``bcftools`` in the same run (issue 19).

* Export: ``GET /api/v1/variantsets/{id}/files/vcf`` of SAMPLES x VARIANTS through the
  gateway (streamed from the packed chunks), against ``bcftools view -Ov`` writing the same
  calls as VCF from BCF. Target: at least 50 % of bcftools' rate.
* Import: ``POST /api/v1/genotypes/imports`` of a VCF of SAMPLES x IMPORT_VARIANTS, against
  ``bcftools view -Ob`` reading the same file (and writing BCF). Target: at least 50 % of
  its rate. (The export's set is uploaded as PLINK .bed, the fast path, to save time.)

bcftools comes from Debian (``apt-get install bcftools``); this script installs it when it
runs as root and it is missing, and refuses to report a ratio without it. Writes
``bench/results/vcf_bcftools.json``. Run from the repository root as
``python -m bench.genotypes.bench_vcf_bcftools`` (``just bench`` does).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from bijmantra.devstack.stack import running_stack

from bench.genotypes.bench_genotypes import dosages, plink_bytes, vcf_bytes

ROOT = Path(__file__).resolve().parents[2]

SAMPLES = int(os.environ.get("BENCH_EXPORT_SAMPLES", "2000"))
VARIANTS = int(os.environ.get("BENCH_EXPORT_VARIANTS", "50000"))
IMPORT_VARIANTS = int(os.environ.get("BENCH_VCF_VARIANTS", "10000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
RESULTS = ROOT / "bench" / "results" / "vcf_bcftools.json"


def bcftools() -> str:
    found = shutil.which("bcftools")
    if found is None and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "bcftools"], check=False, env=env)
        found = shutil.which("bcftools")
    if found is None:
        raise SystemExit("bcftools is needed for this comparison: apt-get install bcftools")
    return found


def with_header(text: bytes) -> bytes:
    """bcftools writes BCF only for contigs and FORMAT keys the header declares."""
    declared = b'##contig=<ID=1>\n##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    first, _, rest = text.partition(b"\n")
    return first + b"\n" + declared + rest


def best(runs: list[float]) -> float:
    return min(runs)


def main() -> None:
    tool = bcftools()
    g = dosages(VARIANTS, SAMPLES)
    text = with_header(vcf_bytes(g[:IMPORT_VARIANTS]))
    calls, import_calls = VARIANTS * SAMPLES, IMPORT_VARIANTS * SAMPLES
    bcf_import, bcf_export = [], []
    with tempfile.TemporaryDirectory() as scratch:
        whole, part = Path(scratch) / "whole.vcf", Path(scratch) / "part.vcf"
        bcf = Path(scratch) / "whole.bcf"
        whole.write_bytes(with_header(vcf_bytes(g)))
        part.write_bytes(text)
        subprocess.run([tool, "view", "-Ob", "-o", str(bcf), str(whole)], check=True)
        for _ in range(REPEATS):
            start = time.perf_counter()
            subprocess.run([tool, "view", "-Ov", "-o", os.devnull, str(bcf)], check=True)
            bcf_export.append(time.perf_counter() - start)
            start = time.perf_counter()
            out = str(Path(scratch) / "part.bcf")
            subprocess.run([tool, "view", "-Ob", "-o", out, str(part)], check=True)
            bcf_import.append(time.perf_counter() - start)
    bed, bim, fam = plink_bytes(g)

    workdir = ROOT / ".bijmantra" / "bench-vcf-bcftools"
    platform_import, platform_export, exported_bytes = [], [], 0
    with running_stack(workdir) as stack:
        headers = {"Authorization": f"Bearer {stack.login()}"}
        with httpx.Client(base_url=stack.gateway_url, timeout=3600, headers=headers) as client:
            for n in range(REPEATS):
                start = time.perf_counter()
                answer = client.post(
                    "/api/v1/genotypes/imports",
                    params={"name": f"bench-bcftools-{n}", "commonCropName": "Maize"},
                    content=text,
                )
                platform_import.append(time.perf_counter() - start)
                answer.raise_for_status()
            answer = client.post(
                "/api/v1/genotypes/imports",
                params={"name": "bench-bcftools-export", "commonCropName": "Maize"},
                files={"bed": ("b.bed", bed), "bim": ("b.bim", bim), "fam": ("b.fam", fam)},
            )
            answer.raise_for_status()
            set_id = answer.json()["data"]["variantSetDbId"]
            for _ in range(REPEATS):
                start = time.perf_counter()
                size = 0
                with client.stream("GET", f"/api/v1/variantsets/{set_id}/files/vcf") as response:
                    response.raise_for_status()
                    for piece in response.iter_bytes():
                        size += len(piece)
                platform_export.append(time.perf_counter() - start)
                exported_bytes = size

    report = {
        "meta": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "samples": SAMPLES,
            "variants": VARIANTS,
            "repeats": REPEATS,
            "bcftools": subprocess.run(
                [tool, "--version"], capture_output=True, text=True
            ).stdout.splitlines()[0],
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "export": {
            "calls": calls,
            "bytes": exported_bytes,
            "platform_seconds": [round(t, 3) for t in platform_export],
            "bcftools_view_bcf_to_vcf_seconds": [round(t, 3) for t in bcf_export],
            "platform_calls_per_s": round(calls / best(platform_export)),
            "bcftools_calls_per_s": round(calls / best(bcf_export)),
            "ratio_of_bcftools_rate": round(best(bcf_export) / best(platform_export), 3),
            "target_ratio": 0.5,
        },
        "import": {
            "bytes": len(text),
            "platform_seconds": [round(t, 3) for t in platform_import],
            "bcftools_view_vcf_to_bcf_seconds": [round(t, 3) for t in bcf_import],
            "calls": import_calls,
            "platform_calls_per_s": round(import_calls / best(platform_import)),
            "bcftools_calls_per_s": round(import_calls / best(bcf_import)),
            "ratio_of_bcftools_rate": round(best(bcf_import) / best(platform_import), 3),
            "target_ratio": 0.5,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}", flush=True)


if __name__ == "__main__":
    main()
