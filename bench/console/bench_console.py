"""The web console's pages against the JSON API, 32 signed-in users, same run, same client.

Each of ``BENCH_CONSOLE_USERS`` (32) users signs in through the console's real flow (identity's
code + PKCE, their own session cookie). Two ways of using the pages are timed, each against
the same data read by the same client from the JSON API with a bearer token (the requests a
page's data takes, one after the other, timed as one unit):

- users reading: each user reads a page for a random time (exponential, mean
  ``BENCH_CONSOLE_READING``, 1 s: a breeder clicking through far faster than anyone reads)
  before the next, for 2 x ``BENCH_SECONDS``. This is the issue's "32 concurrent signed-in
  users" and the figure its target is judged on (ADR 0327);
- back to back: each user asks for the next page the moment one arrives, for
  ``BENCH_SECONDS`` (10): a capacity test, whose p95 is queueing for the 2 cores
  (about 32 x CPU per page / 2) more than any one page's time.

Latency is measured at the client on loopback (server time plus queueing and a loopback round
trip); server time is the gateway's own ``Server-Timing`` (receipt to response head; for the
JSON API the sum over the page's requests); page weight is the HTML plus the stylesheet; CPU
per page is each process's CPU (the stack's services, PostgreSQL, Redis, NATS and this client)
over the timed part divided by the pages served, and ``server_cpu_ratio`` compares the
stack's (client left out) with the JSON API's, back to back.
``BENCH_CONSOLE_PAGES`` (comma-separated names) runs only those pages.

Pages: dashboard, germplasm search, germplasm detail (3-generation pedigree, attributes, seed
lots, progeny), the study grid (workbench), on the demo import plus a seeded study, and the
invoice list (25 invoices of 3 lines with their partner's name and totals; ADR 0096).
Target: p95 <= 100 ms and <= 2x the JSON API's. For context each page is also timed with one
user alone (the host's share of the 32 users' figures).

    uv run python -m bench.console.bench_console   # as a module: it imports tests.browser.seed
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import re
import statistics
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from bijmantra.devstack.stack import (
    DEMO_EMAIL,
    DEMO_ORGANIZATION_ID,
    DEMO_PASSWORD,
    DevStack,
    running_stack,
)

from bench.cpu import CpuMeter, cpu_delta
from tests.browser.seed import seed_study, seed_variables

ROOT = Path(__file__).resolve().parents[2]


RESULTS = ROOT / "bench" / "results" / "console.json"
USERS = int(os.environ.get("BENCH_CONSOLE_USERS", "32"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
READING = float(os.environ.get("BENCH_CONSOLE_READING", "1"))
ONLY = {p for p in os.environ.get("BENCH_CONSOLE_PAGES", "").split(",") if p}


class Jar:
    """Cookies by hand: the console's are ``Secure`` and this is plain loopback HTTP."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def take(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in header.lower():
                self.values.pop(name, None)
            else:
                self.values[name] = value

    def header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.values.items())}


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None, page[:500]
    return match.group(1)


def sign_in(client: httpx.Client) -> str:
    """The browser's journey by hand; returns the console session cookie header."""
    jar = Jar()
    started = client.get("/app/auth/login")
    jar.take(started)
    authorize = started.headers["location"]
    login = client.get(authorize, headers=jar.header())
    jar.take(login)
    form = {"action": "login", "email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    signed = client.post(
        authorize, data={**form, "csrf_token": _csrf(login.text)}, headers=jar.header()
    )
    jar.take(signed)
    consent = client.get(authorize, headers=jar.header())
    jar.take(consent)
    allowed = client.post(
        authorize,
        data={
            "action": "allow",
            "organization_id": DEMO_ORGANIZATION_ID,
            "csrf_token": _csrf(consent.text),
        },
        headers=jar.header(),
    )
    callback = urlsplit(allowed.headers["location"])
    done = client.get(f"{callback.path}?{callback.query}", headers=jar.header())
    assert done.status_code in (302, 303), done.text[:500]
    jar.take(done)
    return f"__Host-bijmantra-console={jar.values['__Host-bijmantra-console']}"


def timings(response: httpx.Response) -> dict[str, float]:
    """The gateway's ``Server-Timing``: ``app`` is its own time for the request (from its
    middleware receiving it to the response head, i.e. without the client's queueing); a
    console page adds its phases (``session``, ``data``, ``render``)."""
    parts = (
        part.strip().partition(";dur=") for part in response.headers["server-timing"].split(",")
    )
    return {name: float(duration) for name, _, duration in parts}


Sample = tuple[float, float, dict[str, float]]


async def _user(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    paths: list[str],
    until: float,
    out: list[Sample],
    errors: list[str],
    reading: random.Random | None = None,
) -> None:
    """One user's pages in a loop: (client latency, server time, phases) per page; a JSON
    "page" is its requests in sequence, timed as one unit, their server times summed. With
    ``reading`` the user reads each page for a random time (exponential, mean ``READING``)
    before asking for the next; without it the next request leaves at once."""
    while time.perf_counter() < until:
        started, server, phases = time.perf_counter(), 0.0, {}
        for path in paths:
            response = await client.get(path, headers=headers)
            if response.status_code != 200:
                errors.append(f"{path}: {response.status_code}")
            timed = timings(response)
            server += timed.pop("app")
            phases = {name: phases.get(name, 0.0) + ms for name, ms in timed.items()}
        out.append(((time.perf_counter() - started) * 1000, server, phases))
        if reading is not None:
            await asyncio.sleep(min(reading.expovariate(1 / READING), until - time.perf_counter()))


def cpu_per_page(meter: CpuMeter | None, before: dict[str, float], pages: int) -> dict[str, float]:
    """CPU milliseconds per page of each process of the stack (and of this client) over the
    timed part: with 32 closed-loop users on 2 cores the p95 is about 32 x this / 2, and it
    does not move with the other sessions' load as latency does."""
    if meter is None or not pages:
        return {}
    spent = cpu_delta(before, meter.sample())
    return {name: round(seconds * 1000 / pages, 2) for name, seconds in spent.items()}


async def load(
    base: str,
    users: list[dict[str, str]],
    paths: list[str],
    meter: CpuMeter | None = None,
    *,
    reading: bool = False,
    seconds: float = SECONDS,
) -> dict[str, Any]:
    """The users' pages for ``seconds`` after a second of warm-up; ``reading``: each user
    reads a page before the next (seeded, so both sides of a comparison read alike)."""
    readers = [random.Random(n) if reading else None for n in range(len(users))]
    limits = httpx.Limits(max_connections=len(users) + 4, max_keepalive_connections=len(users))
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        warm: list[Sample] = []
        await asyncio.gather(
            *(
                _user(client, u, paths, time.perf_counter() + 1, warm, [], r)
                for u, r in zip(users, readers, strict=True)
            )
        )
        timed: list[Sample] = []
        errors: list[str] = []
        before = meter.sample() if meter else {}
        until = time.perf_counter() + seconds
        await asyncio.gather(
            *(
                _user(client, u, paths, until, timed, errors, r)
                for u, r in zip(users, readers, strict=True)
            )
        )
        cpu = cpu_per_page(meter, before, len(timed))
    ordered = sorted(latency for latency, _, _ in timed)
    server = sorted(s for _, s, _ in timed)
    names = sorted({name for _, _, phases in timed for name in phases})
    by_phase = {n: sorted(phases.get(n, 0.0) for _, _, phases in timed) for n in names}
    return {
        "pages": len(ordered),
        "errors": len(errors),
        "first_errors": errors[:5],
        "pages_per_second": round(len(ordered) / seconds, 1),
        "p50_ms": _at(ordered, 0.5),
        "p95_ms": _at(ordered, 0.95),
        "mean_ms": round(statistics.fmean(ordered), 2),
        "server_p50_ms": _at(server, 0.5),
        "server_p95_ms": _at(server, 0.95),
        "server_phases_p50_ms": {n: _at(v, 0.5) for n, v in by_phase.items()},
        "server_phases_p95_ms": {n: _at(v, 0.95) for n, v in by_phase.items()},
        "cpu_ms_per_page": cpu,
        "load_average": round(os.getloadavg()[0], 1),
    }


def _servers(figures: dict[str, Any]) -> float:
    """CPU per page of the stack's processes, the load generator's own left out."""
    cpu: dict[str, float] = figures["cpu_ms_per_page"]
    return sum(ms for name, ms in cpu.items() if name not in ("client", "total")) or 1.0


def _at(ordered: list[float], q: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def scenarios(stack: DevStack, seeded: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    study = seeded["study"]["studyDbId"]
    units = ",".join(u["observationUnitDbId"] for u in seeded["units"])
    variables = [
        seeded["height"]["observationVariableDbId"],
        seeded["score"]["observationVariableDbId"],
    ]
    germplasm = "germplasm3"
    b = "/brapi/v2"
    return {
        # The counts, the ten newest analyses and ten audit entries (the API lists the trail
        # oldest first; a page of ten is the same amount of data to read).
        "dashboard": (
            "/app",
            [
                f"{b}/germplasm?pageSize=1",
                f"{b}/studies?pageSize=1",
                "/api/v1/analyses?limit=10",
                "/api/v1/audit?page_size=10",
            ],
        ),
        "germplasm_search": (
            "/app/germplasm?field=germplasmName&q=GENOTYPE_76",
            [f"{b}/germplasm?germplasmName=GENOTYPE_76&pageSize=25"],
        ),
        "germplasm_detail": (
            f"/app/germplasm/{germplasm}",
            [
                f"{b}/germplasm/{germplasm}",
                f"{b}/pedigree?germplasmDbId={germplasm}",
                f"{b}/pedigree?germplasmDbId=germplasm1&germplasmDbId=germplasm2",
                f"{b}/attributevalues?germplasmDbId={germplasm}",
                f"{b}/seedlots?germplasmDbId={germplasm}",
                f"{b}/germplasm/{germplasm}/progeny",
            ],
        ),
        "study_grid": (
            f"/app/studies/{study}/workbench",
            [
                f"{b}/studies/{study}",
                f"{b}/observationunits?studyDbId={study}&pageSize=20",
                f"{b}/variables?" + "&".join(f"observationVariableDbId={v}" for v in variables),
                f"{b}/observations?studyDbId={study}&observationUnitDbId={units.split(',')[0]}",
            ],
        ),
        "invoices": (
            "/app/invoices",
            [f"/api/v1/invoices?page_size={INVOICES}", "/api/v1/partners?page_size=200"],
        ),
    }


INVOICES = 25


def seed_invoices(url: str, token: str) -> None:
    """A partner and 25 draft invoices of 3 lines: one full page of the invoice list."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api:
        partner = api.post(
            "/api/v1/partners",
            json={
                "name": "Bench seed partner",
                "country": "KE",
                "type": "genebank",
                "contacts": [{"name": "B", "email": "bench@partner.example"}],
            },
        ).json()["data"]["id"]
        line = {"description": "Seed handling", "quantity": "3", "unit_price": "12.50"}
        for _ in range(INVOICES):
            body = {"partner_id": partner, "currency": "KES", "lines": [line] * 3}
            assert api.post("/api/v1/invoices", json=body).status_code == 201


def weight(client: httpx.Client, cookie: str, path: str) -> int:
    html = client.get(path, headers={"Cookie": cookie}).content
    css = client.get("/app/static/console.css").content
    return len(html) + len(css)


def main() -> None:
    with running_stack(ROOT / ".bijmantra" / "bench-console", testdata=True) as stack:
        token = stack.login()
        variables = seed_variables(stack.gateway_url, token)
        seeded = seed_study(stack.gateway_url, token, variables, plots=20)
        seed_invoices(stack.gateway_url, token)
        with httpx.Client(base_url=stack.gateway_url, timeout=60) as client:
            cookies = [sign_in(client) for _ in range(USERS)]
            pages = scenarios(stack, seeded)
            weights = {name: weight(client, cookies[0], page) for name, (page, _) in pages.items()}
        console_users = [{"Cookie": c} for c in cookies]
        meter = CpuMeter(stack, stack.workdir)
        api_users = [{"Authorization": f"Bearer {token}"} for _ in range(USERS)]
        results: dict[str, Any] = {}
        for name, (page, api_paths) in pages.items():
            if ONLY and name not in ONLY:
                continue
            url = stack.gateway_url
            ours = asyncio.run(load(url, console_users, [page], meter))
            json_api = asyncio.run(load(url, api_users, api_paths, meter))
            longer = 2 * SECONDS
            ours_reading = asyncio.run(
                load(url, console_users, [page], meter, reading=True, seconds=longer)
            )
            api_reading = asyncio.run(
                load(url, api_users, api_paths, meter, reading=True, seconds=longer)
            )
            alone = asyncio.run(load(url, console_users[:1], [page]))
            results[name] = {
                "console": ours,
                "json_api": json_api,
                "console_reading": ours_reading,
                "json_api_reading": api_reading,
                "console_single_user": alone,
                "api_requests_per_page": len(api_paths),
                "p95_ratio": round(ours["p95_ms"] / json_api["p95_ms"], 2),
                "server_p95_ratio": round(ours["server_p95_ms"] / json_api["server_p95_ms"], 2),
                "server_cpu_ratio": round(_servers(ours) / _servers(json_api), 2),
                "reading_server_p95_ratio": round(
                    ours_reading["server_p95_ms"] / api_reading["server_p95_ms"], 2
                ),
                "reading_p95_ratio": round(ours_reading["p95_ms"] / api_reading["p95_ms"], 2),
                "page_bytes_html_css": weights[name],
            }
            print(name, json.dumps(results[name]), flush=True)
    report = {
        "meta": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "users": USERS,
            "seconds_per_scenario": SECONDS,
            "client": "httpx.AsyncClient, closed loop, keep-alive, one session per user",
            "reading_mean_seconds": READING,
            "reading_seconds_per_scenario": 2 * SECONDS,
            "load_average_at_end": os.getloadavg(),
        },
        **results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}", flush=True)


if __name__ == "__main__":
    main()
