"""Every console page, with hostile data in it: records whose names and descriptions are
markup, template syntax, 300-character, right-to-left, combining and emoji text, blank or
huge (written through the APIs, plus legacy documents the APIs refuse today, straight into
PostgreSQL), then a breadth-first crawl of the admin's console from the dashboard. On every
page: no 5xx, no dialog, no uncaught error, the hostile text only ever escaped; the same
pages fetched by a viewer answer without a 5xx; every route once more with odd query values
and odd ids answers a 4xx or the page. A record named only with whitespace, or stored
without a name, still has a heading and links one can see."""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter, deque
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

import httpx
import psycopg
import pytest
from bijmantra.devstack.stack import DEMO_ORGANIZATION_ID, DevStack
from playwright.sync_api import BrowserContext, Dialog
from playwright.sync_api import Error as PlaywrightError

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
SSTI = "ssti{{7*7}}"  # rendered as a template this would read "ssti49"
LONG = "Ж" + "long name " * 32  # 321 characters
RTL = "\u202eشجرة نسب \u05e9\u05dc\u05d5\u05dd\u202c"
COMBINING = "Z\u0351\u0352\u0353a\u0310l\u0338g\u0335o"
EMOJI = "🌾🧬👩🏽‍🌾"
BLANK = " \t "
HOSTILE = (
    f"{SCRIPT} {IMG} {SSTI}",
    LONG,
    f"{RTL} {COMBINING} {EMOJI}",
    BLANK,
)
DESCRIPTION = f"{SCRIPT}\n{IMG}\n{SSTI}\n{RTL}{COMBINING}{EMOJI}"
HUGE = 10**15
MAX_PAGES = 300
PER_PATTERN = 4
SKIPPED = ("/app/auth/", "logout", "delete")
# Every query parameter a console page reads, and where; each gets every odd value.
PARAMETERS = {
    "/app/germplasm": ("q", "field", "page"),
    "/app/germplasm/{id}": ("generations",),
    "/app/devices/{id}": ("resolution", "metric"),
    "/app/studies/{id}/workbench": ("saved", "page"),
    "/app/export": ("id",),
    "/app/genotypes": ("germplasm", "page"),
    "/app/audit": ("page", "verify"),
    "/app/alerts": ("status",),
    "/app/seed-requests": ("status", "page"),
    "/app/agreements": ("status", "page"),
    "/app/invoices": ("status", "page"),
    "/app/dispatches": ("status",),
    "/app/studies": ("page",),
    "/app/programs": ("page",),
    "/app/seedlots": ("q", "page"),
    "/app/seedlots/{id}": ("page",),
}
ODD_VALUES = ("-1", "1e400", "9" * 30, "٣", SCRIPT, "%00", "", "{{7*7}}")
ODD_IDS = (
    "does-not-exist",
    "0",
    "%2e%2e",
    "%00",
    "Ж" * 300,
    SCRIPT,
    "00000000-0000-0000-0000-000000000000",
)


REFUSED: list[str] = []  # what the APIs turned down while seeding: shown when a seed fails


def _ok(response: httpx.Response) -> Any:
    """The created record, or None when the API refused it (4xx); a 5xx is a bug."""
    assert response.status_code < 500, f"{response.request.url}: {response.text}"
    if response.status_code >= 400:
        REFUSED.append(f"{response.request.url.path}: {response.text[:300]}")
        return None
    body = response.json()
    if "result" in body:
        return body["result"]["data"][0]
    return body["data"]


class Seeder:
    def __init__(self, api: httpx.Client) -> None:
        self.api = api

    def brapi(self, path: str, key: str, documents: list[dict[str, Any]]) -> list[str]:
        ids = []
        for document in documents:
            created = _ok(self.api.post(f"/brapi/v2/{path}", json=[document]))
            if created is not None:
                ids.append(created[key])
        return ids

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """``body``, or when refused, the same with every text cut to 200 characters."""
        created: dict[str, Any] | None = _ok(self.api.post(path, json=body))
        if created is None:
            created = _ok(self.api.post(path, json=_tame(body)))
        return created


def _tame(value: Any) -> Any:
    if isinstance(value, str):
        return value[:200]
    if isinstance(value, dict):
        return {k: _tame(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tame(v) for v in value]
    return value


def _names(kind: str) -> list[str]:
    return [f"{name} {kind}" if name.strip() else name for name in HOSTILE]


def _seed(stack: DevStack) -> list[str]:
    """Hostile records of every kind the console shows; the console URLs of those made."""
    headers = {"Authorization": f"Bearer {stack.login()}"}
    urls: list[str] = []
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=60) as api:
        seed = Seeder(api)
        programs = seed.brapi(
            "programs",
            "programDbId",
            [{"programName": n, "objective": DESCRIPTION} for n in _names("program")],
        )
        germplasm = seed.brapi(
            "germplasm",
            "germplasmDbId",
            [
                {
                    "germplasmName": name,
                    "germplasmPUI": f"urn:crawl:{uuid.uuid4()}",
                    "genus": name,
                    "commonCropName": SSTI,
                    "defaultDisplayName": name,
                    "accessionNumber": IMG,
                    "acquisitionDate": date,
                    "synonyms": [{"synonym": SCRIPT, "type": IMG}],
                    "additionalInfo": {"note": DESCRIPTION, "big": str(HUGE)},
                }
                for name, date in zip(
                    _names("germplasm"),
                    ["0001-01-01", "2024-02-29", "1970-01-01", "2026-02-28"],
                    strict=True,
                )
            ],
        )
        assert germplasm, REFUSED
        seed.brapi(
            "pedigree",
            "germplasmDbId",
            [
                {
                    "germplasmDbId": germplasm[0],
                    "germplasmName": HOSTILE[0],
                    "pedigreeString": f"{SCRIPT}/{IMG}",
                    "parents": [
                        {
                            "germplasmDbId": germplasm[1],
                            "germplasmName": LONG,
                            "parentType": "FEMALE",
                        },
                        {
                            "germplasmDbId": germplasm[-1],
                            "germplasmName": SSTI,
                            "parentType": "MALE",
                        },
                    ],
                }
            ],
        )
        trials = seed.brapi(
            "trials",
            "trialDbId",
            [
                {
                    "trialName": name,
                    "trialDescription": DESCRIPTION,
                    "programDbId": programs[0] if programs else None,
                    "startDate": "0001-01-01",
                    "endDate": "9999-12-31",
                }
                for name in _names("trial")
            ],
        )
        location = seed.brapi("locations", "locationDbId", [{"locationName": HOSTILE[0]}])
        studies = seed.brapi(
            "studies",
            "studyDbId",
            [
                {
                    "studyName": name,
                    "studyDescription": DESCRIPTION,
                    "trialDbId": trials[0] if trials else None,
                    "locationDbId": location[0] if location else None,
                    "startDate": "0001-01-01",
                }
                for name in _names("study")
            ],
        )
        for study in studies[:1]:
            seed.brapi(
                "observationunits",
                "observationUnitDbId",
                [
                    {
                        "observationUnitName": name,
                        "studyDbId": study,
                        "germplasmDbId": germplasm[0],
                        "observationUnitPosition": {
                            "observationLevel": {"levelName": "plot", "levelCode": SSTI},
                            "positionCoordinateX": str(i + 1),
                            "positionCoordinateXType": "GRID_COL",
                            "positionCoordinateY": str(HUGE),
                            "positionCoordinateYType": "GRID_ROW",
                        },
                    }
                    for i, name in enumerate(_names("plot"))
                ],
            )
        lots = seed.brapi(
            "seedlots",
            "seedLotDbId",
            [
                {
                    "seedLotName": name,
                    "seedLotDescription": DESCRIPTION,
                    "amount": HUGE,
                    "units": SSTI,
                    "contentMixture": [{"germplasmDbId": germplasm[0]}],
                }
                for name in _names("lot")
            ],
        )
        urls += [f"/app/germplasm/{g}" for g in germplasm]
        urls += [f"/app/programs/{p}" for p in programs]
        urls += [f"/app/trials/{t}" for t in trials]
        for study in studies:
            urls += [f"/app/studies/{study}", f"/app/studies/{study}/workbench"]

        partners = [
            created["id"]
            for name in _names("partner")
            if (
                created := seed.post(
                    "/api/v1/partners",
                    {
                        "name": name,
                        "country": "IN",
                        "type": "research_institute",
                        "contacts": [{"name": IMG, "email": "crawl@partner.example"}],
                    },
                )
            )
        ]
        assert partners, REFUSED
        request = seed.post(
            "/api/v1/seed-requests",
            {
                "partner_id": partners[-1],  # named with whitespace only
                "purpose": "breeding",
                "notes": DESCRIPTION,
                "items": [{"germplasm_id": germplasm[0], "quantity": "3", "units": "seeds"}],
            },
        )
        if request is not None:
            urls.append(f"/app/seed-requests/{request['id']}")
            for action in ("submitted", "approved"):
                _ok(
                    api.post(
                        f"/api/v1/seed-requests/{request['id']}/actions", json={"action": action}
                    )
                )
            if lots:
                dispatch = seed.post(
                    "/api/v1/dispatches",
                    {
                        "request_id": request["id"],
                        "lines": [{"seed_lot_id": lots[0], "amount": "3"}],
                    },
                )
                if dispatch is not None:
                    urls.append(f"/app/dispatches/{dispatch['id']}")
        agreement = seed.post(
            "/api/v1/agreements",
            {
                "type": "smta",
                "partner_id": partners[0],
                "material": germplasm,
                "provider": {"name": LONG, "email": "mta@crawl.example", "country": "DE"},
            },
        )
        if agreement is not None:
            urls.append(f"/app/agreements/{agreement['id']}")
        invoice = seed.post(
            "/api/v1/invoices",
            {
                "partner_id": partners[-1],
                "currency": "KES",
                "lines": [
                    {
                        "description": name or DESCRIPTION,
                        "quantity": "1000000000",
                        "unit_price": "99999999.99",
                        "tax_rate": "0.16",
                    }
                    for name in _names("line")
                ],
            },
        )
        if invoice is not None:
            urls.append(f"/app/invoices/{invoice['id']}")

        season = seed.post(
            "/api/v1/seasons",
            {"name": HOSTILE[0], "starts_on": "2028-02-29", "ends_on": "2029-02-28"},
        ) or seed.post(
            "/api/v1/seasons",
            {"name": HOSTILE[0], "starts_on": "2026-01-01", "ends_on": "2026-12-31"},
        )
        plan = seed.post(
            "/api/v1/work-items", {"kind": "plan", "title": HOSTILE[0], "description": DESCRIPTION}
        )
        assert plan is not None, REFUSED
        operation = seed.post(
            "/api/v1/work-items",
            {
                "kind": "operation",
                "title": HOSTILE[2],
                "parent_id": plan["id"],
                "operation_type": "spraying",
            },
        )
        assert operation is not None, REFUSED
        items = [
            created
            for name in _names("task")
            if (
                created := seed.post(
                    "/api/v1/work-items",
                    {
                        "kind": "task",
                        "title": name,
                        "description": DESCRIPTION,
                        "parent_id": operation["id"],
                        "season_id": season["id"] if season else None,
                        "due": "9999-12-31",
                        "estimate_hours": 1e6,
                    },
                )
            )
        ]
        for item in items[:1]:
            _ok(api.post(f"/api/v1/work-items/{item['id']}/comments", json={"body": DESCRIPTION}))
            _ok(
                api.post(
                    "/api/v1/time-entries",
                    json={
                        "work_item_id": item["id"],
                        "day": "0001-01-01",
                        "hours": 24,
                        "note": IMG,
                    },
                )
            )
        urls += [f"/app/operations/board/{plan['id']}"] + [
            f"/app/operations/items/{i['id']}" for i in items
        ]
        if season is not None:
            urls.append(f"/app/operations/seasons/{season['id']}")

        profile = seed.post(
            "/api/v1/device-profiles",
            {
                "name": HOSTILE[0],
                "metrics": [
                    {"name": "air_temperature", "unit": SSTI, "minimum": -1e12, "maximum": 1e12}
                ],
            },
        )
        if profile is not None:
            for name in _names("device"):
                body = {"name": name, "profileId": profile["profileId"]}
                if location:
                    body["locationDbId"] = location[0]
                device = seed.post("/api/v1/devices", body)
                if device is not None:
                    urls += [
                        f"/app/devices/{device['deviceId']}",
                        f"/app/devices/{device['deviceId']}/enrol",
                    ]
        urls += _genotypes(api)
    urls += [f"/app/germplasm?q={name}" for name in HOSTILE]
    _legacy(stack, germplasm)
    return urls


def _genotypes(api: httpx.Client) -> list[str]:
    """A small VCF whose set and samples are named with markup, and a QC analysis of it."""
    samples = [SCRIPT, SSTI, "🌾" * 3, "Ж" * 300]
    lines = [
        "##fileformat=VCFv4.2",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples),
        *(
            f"chr1\t{100 + i}\tm{i}\tA\tG\t50\tPASS\t.\tGT\t"
            + "\t".join(("0/0", "0/1", "1/1", "./.")[(i + j) % 4] for j in range(len(samples)))
            for i in range(30)
        ),
    ]
    answer = api.post(
        "/api/v1/genotypes/imports",
        params={"name": HOSTILE[0], "commonCropName": SSTI},
        content=("\n".join(lines) + "\n").encode(),
    )
    imported = _ok(answer)
    if imported is None:
        return []
    set_id = imported["variantSetDbId"]
    analysis = _ok(api.post("/api/v1/analyses", json={"type": "qc", "variantSetDbId": set_id}))
    urls = [f"/app/variantsets/{set_id}"]
    return urls + ([f"/app/analyses/{analysis['analysisDbId']}"] if analysis else [])


def _legacy(stack: DevStack, germplasm: list[str]) -> None:
    """Documents older code stored and the API now refuses: null synonyms and null parents."""
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        for entity, db_id, field, value in (
            ("germplasm", germplasm[-1], "synonyms", '[null, {"synonym": null}, "bare"]'),
            ("germplasm", germplasm[1], "germplasmName", "null"),
            ("pedigree", germplasm[0], "parents", '[null, {"germplasmDbId": null}, "bare"]'),
        ):
            changed = conn.execute(
                "UPDATE domain.resources SET document = jsonb_set(document, %s, %s::jsonb) "
                "WHERE tenant_id = %s AND entity = %s AND db_id = %s",
                ([field], value, DEMO_ORGANIZATION_ID, entity, db_id),
            )
            assert changed.rowcount == 1, (entity, field)
        conn.execute(
            "UPDATE domain.resources SET body = convert_to(document::text, 'UTF8') "
            "WHERE tenant_id = %s AND entity IN ('germplasm', 'pedigree') AND db_id = ANY(%s)",
            (DEMO_ORGANIZATION_ID, germplasm),
        )
        conn.execute(
            "UPDATE domain.resource_versions SET version = nextval('domain.resource_version_seq') "
            "WHERE tenant_id = %s AND entity IN ('germplasm', 'pedigree')",
            (DEMO_ORGANIZATION_ID,),
        )


def _pattern(url: str) -> str:
    """The route of ``url``: ids (segments with a digit, six characters or more) folded."""
    parts = urlsplit(url)
    path = "/".join(
        "{id}" if len(s) >= 6 and re.search(r"\d", s) else s for s in parts.path.split("/")
    )
    return path + "?" + ",".join(sorted(k for k, _ in parse_qsl(parts.query)))


def _followed(base: str, current: str, href: str) -> str | None:
    absolute = urljoin(current, href)
    parts = urlsplit(absolute)
    if f"{parts.scheme}://{parts.netloc}" != base.rstrip("/"):
        return None
    if not (parts.path == "/app" or parts.path.startswith("/app/")):
        return None
    if any(word in parts.path for word in SKIPPED):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


INSPECT = """() => ({
  images: document.querySelectorAll('img[src="x"], [onerror]').length,
  scripts: [...document.scripts].filter(s => s.textContent.includes('alert(1)')).length,
  text: document.body ? document.body.innerText : '',
  title: document.title,
  headings: [...document.querySelectorAll('h1')].map(h => h.textContent),
  blank: [...document.querySelectorAll('a[href]')]
    .filter(a => !a.textContent.trim() && !a.getAttribute('aria-label'))
    .map(a => a.getAttribute('href')),
  links: [...document.querySelectorAll('a[href], [hx-get]')]
    .map(a => a.getAttribute('href') || a.getAttribute('hx-get')),
})"""


def _odd_requests(context: BrowserContext, visited: list[str]) -> list[str]:
    """The first page of each route once more with odd query values and odd ids: a clear 4xx
    or the page, never a 5xx, never the value unescaped."""
    problems = []
    first: dict[str, str] = {}
    for url in visited:
        first.setdefault(_pattern(url).split("?")[0], url)
    odd = []
    statuses: Counter[int] = Counter()
    for route, url in first.items():
        path = urlsplit(url).path
        for key in PARAMETERS.get(route, ()):
            odd += [f"{path}?{urlencode({key: value})}" for value in ODD_VALUES]
        if "{id}" in route:
            real = next(s for s in path.split("/") if len(s) >= 6 and re.search(r"\d", s))
            odd += [path.replace(real, quote(bad, safe="%")) for bad in ODD_IDS]
    for url in odd:
        answer = context.request.get(url)
        body = answer.text() if "html" in answer.headers.get("content-type", "") else ""
        statuses[answer.status] += 1
        if answer.status >= 500:
            problems.append(f"{url}: {answer.status}")
        elif "<script>alert(1)" in body or "ssti49" in body:
            problems.append(f"{url}: unescaped value in the HTML")
    print(f"{len(odd)} odd requests: {dict(statuses)}")
    return problems


@pytest.fixture(scope="module")
def hostile(console_stack: DevStack) -> list[str]:
    return _seed(console_stack)


def test_every_console_page_survives_hostile_data(
    breeder_context: BrowserContext,
    viewer_context: BrowserContext,
    console_stack: DevStack,
    hostile: list[str],
) -> None:
    base = console_stack.gateway_url
    problems: list[str] = []
    dialogs: list[str] = []
    errors: list[str] = []
    page = breeder_context.new_page()

    def dialog(d: Dialog) -> None:
        dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    page.on("dialog", dialog)
    page.on("pageerror", lambda e: errors.append(str(e)))
    queue: deque[str] = deque(["/app", *hostile])
    seen = set(queue)
    per_pattern: Counter[str] = Counter()
    visited: list[str] = []
    shown = 0  # pages where the hostile markup is shown, as text
    started = time.monotonic()
    while queue and len(visited) < MAX_PAGES:
        url = queue.popleft()
        visited.append(url)
        dialogs.clear()
        errors.clear()
        try:
            response = page.goto(url)
        except PlaywrightError as exc:  # a download (CSV, archive) is no page
            if "Download is starting" not in str(exc):
                raise
            fetched = breeder_context.request.get(url)
            if fetched.status >= 500:
                problems.append(f"{url}: {fetched.status}")
            continue
        assert response is not None
        if response.status >= 500:
            problems.append(f"{url}: {response.status}")
        html = response.text()
        for raw in ("<script>alert(1)", "<img src=x", "ssti49"):
            if raw in html:
                problems.append(f"{url}: unescaped {raw!r} in the HTML")
        found = page.evaluate(INSPECT)
        if found["images"] or found["scripts"]:
            problems.append(
                f"{url}: injected elements {found['images']} img, {found['scripts']} script"
            )
        if SCRIPT in found["text"]:
            shown += 1
        if re.search(r"\bNone\b|^\s", found["title"]) or any(
            not h.strip() for h in found["headings"]
        ):
            problems.append(f"{url}: title {found['title']!r}, headings {found['headings']!r}")
        if re.search(r", None\b|\bNone,", found["text"]):
            problems.append(f"{url}: a missing value shown as None")
        problems += [f"{url}: a link without a name to {href}" for href in found["blank"]]
        if "ssti49" in found["text"]:
            problems.append(f"{url}: {SSTI!r} rendered as a template")
        page.wait_for_timeout(50)  # late errors of the page's own script
        problems += [f"{url}: dialog {d}" for d in dialogs]
        problems += [f"{url}: page error {e}" for e in errors]
        for href in found["links"]:
            target = _followed(base, page.url, href)
            if target is None or target in seen:
                continue
            seen.add(target)
            pattern = _pattern(target)
            if per_pattern[pattern] >= PER_PATTERN:
                continue
            per_pattern[pattern] += 1
            queue.append(target)
    page.close()

    for url in visited:
        answer = viewer_context.request.get(url)
        if answer.status >= 500:
            problems.append(f"viewer {url}: {answer.status}")
    problems += _odd_requests(breeder_context, visited)
    elapsed = time.monotonic() - started
    print(f"crawled {len(visited)} pages in {elapsed:.1f}s")
    assert len(visited) >= 30, visited
    assert shown >= 10, shown
    assert problems == [], "\n".join(problems)
