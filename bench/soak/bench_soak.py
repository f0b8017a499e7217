"""Soak: a mixed workload against the whole stack for ``BENCH_SOAK_SECONDS`` (default 600).

Readers (single GET and pages), writers (germplasm batches), searchers (POST /search then
the results), uploaders (a small VCF import), and a WebSocket subscriber run at once. The
target (issue 17): zero errors and flat memory. Memory is the resident set of each service
with its child processes, sampled every 5 s; "flat" compares the last minute with the
first minute after warm-up. Writes ``bench/results/soak.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets
from bijmantra.devstack.stack import DevStack, running_stack

ROOT = Path(__file__).resolve().parents[2]


SECONDS = float(os.environ.get("BENCH_SOAK_SECONDS", "600"))
WARMUP = min(60.0, SECONDS / 5)
SAMPLE_EVERY = 5.0
IMPORTS = "/api/v1/genotypes/imports"


def vcf(samples: int = 8, variants: int = 200, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    names = "\t".join(f"S{i}" for i in range(samples))
    lines = [
        "##fileformat=VCFv4.2",
        f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{names}",
    ]
    for v in range(variants):
        calls = "\t".join(rng.choice(["0/0", "0/1", "1/1", "./."]) for _ in range(samples))
        lines.append(f"1\t{1000 + v * 10}\tsnp{v}\tA\tG\t.\tPASS\t.\tGT\t{calls}")
    return ("\n".join(lines) + "\n").encode()


class Tally:
    def __init__(self) -> None:
        self.ok: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.samples: list[str] = []

    def record(self, kind: str, response: httpx.Response, *expected: int) -> None:
        if response.status_code in (expected or (200,)):
            self.ok[kind] += 1
        else:
            self.failed(kind, f"{response.status_code} {response.text[:200]}")

    def failed(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        if len(self.samples) < 20:
            self.samples.append(f"{kind}: {what}")


def rss_mb(process: psutil.Process) -> float:
    try:
        tree = [process, *process.children(recursive=True)]
        return sum(p.memory_info().rss for p in tree if p.is_running()) / 2**20
    except psutil.NoSuchProcess:
        return 0.0


async def soak(stack: DevStack) -> dict[str, Any]:
    token = stack.login()
    headers = {"Authorization": f"Bearer {token}"}
    tally = Tally()
    deadline = time.monotonic() + SECONDS
    ids: list[str] = []
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers=headers, timeout=60, limits=limits
    ) as client:

        async def writer(n: int) -> None:
            batch = 0
            while time.monotonic() < deadline:
                batch += 1
                body = [
                    {
                        "germplasmName": f"soak-{n}-{batch}-{i}",
                        "germplasmPUI": f"doi:soak/{n}/{batch}/{i}",
                        "commonCropName": "Sorghum",
                    }
                    for i in range(10)
                ]
                try:
                    response = await client.post("/brapi/v2/germplasm", json=body)
                    tally.record("write", response)
                    if response.status_code == 200:
                        ids.extend(g["germplasmDbId"] for g in response.json()["result"]["data"])
                except httpx.HTTPError as error:
                    tally.failed("write", repr(error))

        async def reader() -> None:
            while time.monotonic() < deadline:
                try:
                    if ids:
                        one = await client.get(f"/brapi/v2/germplasm/{random.choice(ids)}")
                        tally.record("read", one)
                    page = await client.get("/brapi/v2/germplasm", params={"pageSize": 100})
                    tally.record("read", page)
                except httpx.HTTPError as error:
                    tally.failed("read", repr(error))

        async def searcher() -> None:
            while time.monotonic() < deadline:
                try:
                    sample = random.sample(ids, min(len(ids), 50)) if ids else ["none"]
                    found = await client.post(
                        "/brapi/v2/search/germplasm", json={"germplasmDbIds": sample}
                    )
                    tally.record("search", found, 200, 202)
                    if found.status_code == 202:
                        key = found.json()["result"]["searchResultsDbId"]
                        results = await client.get(f"/brapi/v2/search/germplasm/{key}")
                        tally.record("search", results, 200, 202)
                except httpx.HTTPError as error:
                    tally.failed("search", repr(error))
                await asyncio.sleep(0.2)

        async def uploader() -> None:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                try:
                    response = await client.post(
                        IMPORTS,
                        params={"name": f"soak-{n}", "commonCropName": "Sorghum"},
                        content=vcf(seed=n),
                    )
                    tally.record("upload", response, 200, 201, 202)
                except httpx.HTTPError as error:
                    tally.failed("upload", repr(error))
                await asyncio.sleep(5)

        async def subscriber() -> None:
            url = stack.gateway_url.replace("http", "ws", 1) + "/ws"
            while time.monotonic() < deadline:
                try:
                    async with websockets.connect(url, additional_headers=headers) as socket:
                        await socket.send(
                            json.dumps(
                                {"type": "subscribe", "events": ["germplasm.*"], "batch": True}
                            )
                        )
                        while time.monotonic() < deadline:
                            try:
                                frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
                            except TimeoutError:
                                continue
                            # Keep-alive: the feed drops a client that stays silent.
                            if frame.get("type") == "ping":
                                await socket.send(json.dumps({"type": "pong"}))
                            elif frame.get("type") == "error":
                                tally.failed("websocket", str(frame)[:200])
                            elif frame.get("type") in ("event", "events"):
                                tally.ok["websocket"] += 1
                except (OSError, websockets.WebSocketException) as error:
                    tally.failed("websocket", repr(error))

        memory: dict[str, list[tuple[float, float]]] = {name: [] for name in stack.services}
        processes = {name: psutil.Process(p.pid) for name, p in stack.services.items()}
        started = time.monotonic()

        async def sampler() -> None:
            while time.monotonic() < deadline:
                for name, process in processes.items():
                    memory[name].append((time.monotonic() - started, rss_mb(process)))
                await asyncio.sleep(SAMPLE_EVERY)

        await asyncio.gather(
            *(writer(n) for n in range(4)),
            *(reader() for _ in range(8)),
            *(searcher() for _ in range(2)),
            uploader(),
            subscriber(),
            sampler(),
        )
    return {
        "operations": dict(tally.ok),
        "errors": dict(tally.errors),
        "error_samples": tally.samples,
        "memory": summarise(memory),
    }


def summarise(memory: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    """Per service: RSS after warm-up and at the end (median of a minute each), and the peak."""
    out: dict[str, Any] = {}
    for name, series in memory.items():
        after_warmup = [mb for t, mb in series if WARMUP <= t < WARMUP + 60]
        last = [mb for t, mb in series if t >= series[-1][0] - 60] if series else []
        start = statistics.median(after_warmup) if after_warmup else 0.0
        end = statistics.median(last) if last else 0.0
        out[name] = {
            "rss_mb_after_warmup": round(start, 1),
            "rss_mb_end": round(end, 1),
            "rss_mb_peak": round(max((mb for _, mb in series), default=0.0), 1),
            "growth_ratio": round(end / start, 3) if start else None,
        }
    return out


def main() -> None:
    with running_stack(ROOT / ".bijmantra" / "bench-soak", testdata=False) as stack:
        print(
            f"Soak: {SECONDS:.0f} s of mixed reads, writes, searches, uploads and /ws", flush=True
        )
        report = asyncio.run(soak(stack))
    report["meta"] = {"seconds": SECONDS, "warmup_seconds": WARMUP, "cpus": os.cpu_count()}
    report["verdict"] = {
        "zero_errors": not report["errors"],
        # flat: every service ends within 10 % (or 32 MB) of where it stood after warm-up
        "flat_memory": all(
            m["rss_mb_end"] <= max(m["rss_mb_after_warmup"] * 1.10, m["rss_mb_after_warmup"] + 32)
            for m in report["memory"].values()
        ),
        "under_512_mb": all(m["rss_mb_peak"] < 512 for m in report["memory"].values()),
    }
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "soak.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("operations", "errors", "verdict")}, indent=2))


if __name__ == "__main__":
    main()
