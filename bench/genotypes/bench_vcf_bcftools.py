"""VCF export and import through the platform against ``bcftools`` in the same run (issue 19).

* Export: ``GET /api/v1/variantsets/{id}/files/vcf`` of SAMPLES x VARIANTS through the
  gateway (streamed from the packed chunks), against ``bcftools view -Ov`` writing the same
  calls as VCF from BCF. Target: at least 50 % of bcftools' rate.
* Import: ``POST /api/v1/genotypes/imports`` of a VCF of SAMPLES x IMPORT_VARIANTS, against
  ``bcftools view -Ob`` reading the same file (and writing BCF). Target: at least 50 % of
  its rate. (The export's set is uploaded as PLINK .bed, the fast path, to save time.)

Each round runs bcftools and the platform back to back, export then import, so both see
the same host load; a round's ratio is bcftools' time over ours and the figure reported is
the median over ``BENCH_REPEATS`` rounds, with the load average at the start of each.

bcftools comes from Debian (``apt-get install bcftools``); this script installs it when it
runs as root and it is missing, and refuses to report a ratio without it. Writes
``bench/results/vcf_bcftools.json``. Run from the repository root as
``python -m bench.genotypes.bench_vcf_bcftools`` (``just bench`` does).
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from bijmantra.devstack.stack import running_stack

from bench.genotypes.bench_genotypes import dosages, plink_bytes, vcf_bytes, write_report

ROOT = Path(__file__).resolve().parents[2]

SAMPLES = int(os.environ.get("BENCH_EXPORT_SAMPLES", "2000"))
VARIANTS = int(os.environ.get("BENCH_EXPORT_VARIANTS", "50000"))
IMPORT_VARIANTS = int(os.environ.get("BENCH_VCF_VARIANTS", "10000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
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


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(run: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    run(*args)
    return time.perf_counter() - start


def side(calls: int, platform: list[float], bcftools: list[float], **extra: object) -> dict:
    """One direction's figures: the ratio is bcftools' time over ours, round by round (the
    two ran back to back, so they saw the same host load), and its median."""
    ratios = [b / p for b, p in zip(bcftools, platform, strict=True)]
    return {
        "calls": calls,
        **extra,
        "platform_seconds": [round(t, 3) for t in platform],
        "bcftools_seconds": [round(t, 3) for t in bcftools],
        "ratios": [round(r, 3) for r in ratios],
        "platform_calls_per_s": round(calls / median(platform)),
        "bcftools_calls_per_s": round(calls / median(bcftools)),
        "ratio_of_bcftools_rate": round(median(ratios), 3),
        "target_ratio": 0.5,
    }


def main() -> None:
    tool = bcftools()
    g = dosages(VARIANTS, SAMPLES)
    text = with_header(vcf_bytes(g[:IMPORT_VARIANTS]))
    bed, bim, fam = plink_bytes(g)
    calls, import_calls = VARIANTS * SAMPLES, IMPORT_VARIANTS * SAMPLES
    timings: dict[str, list[float]] = {k: [] for k in ("bcf_out", "bcf_in", "out", "in")}
    loads, exported_bytes = [], 0
    workdir = ROOT / ".bijmantra" / "bench-vcf-bcftools"
    with tempfile.TemporaryDirectory() as scratch, running_stack(workdir) as stack:
        whole, part = Path(scratch) / "whole.vcf", Path(scratch) / "part.vcf"
        bcf, out = Path(scratch) / "whole.bcf", Path(scratch) / "part.bcf"
        whole.write_bytes(with_header(vcf_bytes(g)))
        part.write_bytes(text)
        subprocess.run([tool, "view", "-Ob", "-o", str(bcf), str(whole)], check=True)
        headers = {"Authorization": f"Bearer {stack.login()}"}
        with httpx.Client(base_url=stack.gateway_url, timeout=3600, headers=headers) as client:
            set_id = upload_bed(client, bed, bim, fam)

            def export() -> None:
                nonlocal exported_bytes
                exported_bytes = 0
                with client.stream("GET", f"/api/v1/variantsets/{set_id}/files/vcf") as response:
                    response.raise_for_status()
                    for piece in response.iter_bytes():
                        exported_bytes += len(piece)

            for n in range(REPEATS):
                loads.append(round(os.getloadavg()[0], 2))
                view = [tool, "view", "-Ov", "-o", os.devnull, str(bcf)]
                timings["bcf_out"].append(timed(subprocess.check_call, view))
                timings["out"].append(timed(export))
                to_bcf = [tool, "view", "-Ob", "-o", str(out), str(part)]
                timings["bcf_in"].append(timed(subprocess.check_call, to_bcf))
                timings["in"].append(timed(upload_vcf, client, text, f"bench-vcf-{n}"))
            agreement = same_calls_as_bcftools(client, set_id, [tool, "view", "-H", str(bcf)])

    report = {
        "meta": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "samples": SAMPLES,
            "variants": VARIANTS,
            "rounds": REPEATS,
            "bcftools": subprocess.run(
                [tool, "--version"], capture_output=True, text=True
            ).stdout.splitlines()[0],
            "load_average_1m_per_round": loads,
        },
        "export": side(
            calls, timings["out"], timings["bcf_out"], bytes=exported_bytes, **agreement
        ),
        "import": side(import_calls, timings["in"], timings["bcf_in"], bytes=len(text)),
    }
    write_report(RESULTS, report)


# The columns both writers fill from the calls: CHROM POS ID REF ALT, then FORMAT and the
# samples (QUAL, FILTER and INFO differ: the store keeps no FILTER or INFO).
_COMPARED = slice(0, 5), slice(8, None)


def same_calls_as_bcftools(client: httpx.Client, set_id: str, view: list[str]) -> dict:
    """Our export against ``bcftools view`` of the same calls, line by line (untimed)."""
    lines, differing = 0, 0
    with (
        subprocess.Popen(view, stdout=subprocess.PIPE) as theirs,
        client.stream("GET", f"/api/v1/variantsets/{set_id}/files/vcf") as response,
    ):
        assert theirs.stdout is not None
        ours = (line for line in response.iter_lines() if not line.startswith("#"))
        for mine, their in zip(ours, theirs.stdout, strict=True):
            a, b = mine.split("\t"), their.decode().rstrip("\n").split("\t")
            lines += 1
            differing += any(a[part] != b[part] for part in _COMPARED)
    return {"lines_compared_with_bcftools": lines, "lines_differing": differing}


def upload_bed(client: httpx.Client, bed: bytes, bim: bytes, fam: bytes) -> str:
    """The export's set goes in as PLINK .bed, the fast path, to save time."""
    answer = client.post(
        "/api/v1/genotypes/imports",
        params={"name": "bench-bcftools-export", "commonCropName": "Maize"},
        files={"bed": ("b.bed", bed), "bim": ("b.bim", bim), "fam": ("b.fam", fam)},
    )
    answer.raise_for_status()
    return str(answer.json()["data"]["variantSetDbId"])


def upload_vcf(client: httpx.Client, text: bytes, name: str) -> None:
    answer = client.post(
        "/api/v1/genotypes/imports",
        params={"name": name, "commonCropName": "Maize"},
        content=text,
    )
    answer.raise_for_status()


if __name__ == "__main__":
    main()
