"""The fifteenth adversarial review (ADR 0383): tenant isolation, authorization and bounds on
the surfaces attacked least (search results, downloads and figures, the export archive,
identity's organization choice and refresh, console forms, odd paging). Each hole it found,
and what held, as an attack on a running stack (the e2e modules' shared one)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import re
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from argon2 import PasswordHasher
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.identity import register_client, register_member
from bijmantra.application.tenancy.tokens import hash_secret
from bijmantra.devstack.stack import DevStack

pytestmark = [pytest.mark.e2e]
PASSWORD = "pw-review15-member"
PATIENCE = 60.0  # seconds an export or analysis may take on a loaded machine (not a bound)


@pytest.fixture(scope="module")
def stack(shared_stack: DevStack) -> DevStack:
    """The e2e modules' shared stack: this module's organizations are its own (conftest.py)."""
    return shared_stack


def member(stack: DevStack, roles: list[str], organization: uuid.UUID | None = None) -> str:
    """The e-mail of a new member with ``roles``: of ``organization``, or of a new one."""
    email = f"r15-{uuid.uuid4().hex[:8]}@example.org"
    if organization is None:
        stack.register_member(email, PASSWORD, roles)
        return email
    assert stack.database is not None

    async def join() -> None:
        engine = create_engine(stack.database.identity_url)
        try:  # the organization is kept as it is (ON CONFLICT DO NOTHING)
            await register_member(
                engine,
                organization_id=organization,
                organization_name="kept",
                user_id=uuid.uuid4(),
                email=email,
                display_name="Member",
                password_hash=PasswordHasher().hash(PASSWORD),
                roles=roles,
            )
        finally:
            await engine.dispose()

    asyncio.run(join())
    return email


def organization_of(stack: DevStack, email: str) -> uuid.UUID:
    signed_in = sign_in(stack, email)
    return uuid.UUID(signed_in.json()["data"]["organization_id"])


def sign_in(stack: DevStack, email: str, organization: str | None = None) -> httpx.Response:
    body = {"email": email, "password": PASSWORD, "organizationId": organization}
    return httpx.post(f"{stack.gateway_url}/api/v1/auth/login", json=body, timeout=30)


def client(stack: DevStack, email: str) -> httpx.Client:
    token = sign_in(stack, email).json()["data"]["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def first(stack: DevStack) -> dict[str, str]:
    """An organization with an admin, a breeder and a viewer."""
    admin = member(stack, ["admin"])
    organization = organization_of(stack, admin)
    return {
        "admin": admin,
        "breeder": member(stack, ["breeder"], organization),
        "viewer": member(stack, ["viewer"], organization),
        "id": str(organization),
    }


@pytest.fixture(scope="module")
def stranger(stack: DevStack) -> str:
    """The admin of another organization in the same database."""
    return member(stack, ["admin"])


# --- the console, signed in through the real OAuth flow -------------------------------------


class Browser:
    """A browser's cookies over plain HTTP: the console's cookies are ``Secure``, which
    httpx's jar keeps for HTTPS only, so the jar here is a dict."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.cookies: dict[str, str] = {}

    def send(self, method: str, url: str, **options: Any) -> httpx.Response:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers = {"Cookie": cookie, **options.pop("headers", {})}
        answer = self.http.request(method, url, headers=headers, **options)
        for cookie in answer.headers.get_list("set-cookie"):
            name, _, rest = cookie.partition("=")
            value = rest.split(";")[0]
            if value and "max-age=0" not in cookie.lower():
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return answer

    def form(self, path: str, fields: str) -> httpx.Response:
        """``fields`` url-encoded as given, with the session's CSRF token (a page's form's)."""
        csrf = hidden(self.send("GET", "/app/partners").text, "csrf_token")
        body = f"csrf_token={csrf}&{fields}".encode()
        content_type = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.send("POST", path, content=body, headers=content_type)


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, page[:500]
    return found.group(1)


def console(stack: DevStack, email: str) -> Browser:
    browser = Browser(stack.gateway_url)
    authorize = browser.send("GET", "/app/auth/login").headers["location"]
    login = {"action": "login", "email": email, "password": PASSWORD}
    page = browser.send("GET", authorize).text
    signed = browser.send(
        "POST", authorize, data={**login, "csrf_token": hidden(page, "csrf_token")}
    )
    assert signed.status_code == 303, signed.text
    consent = browser.send("GET", authorize).text
    chosen = re.search(r'<option value="([0-9a-f-]{36})"', consent)
    assert chosen, consent[:500]
    allow = {"action": "allow", "organization_id": chosen.group(1)}
    granted = browser.send(
        "POST", authorize, data={**allow, "csrf_token": hidden(consent, "csrf_token")}
    )
    assert granted.status_code in (302, 303), granted.text
    callback = browser.send("GET", granted.headers["location"])
    assert callback.status_code in (302, 303), callback.text
    return browser


def test_a_nul_in_a_console_form_is_a_4xx_and_stores_nothing(
    stack: DevStack, first: dict[str, str]
) -> None:
    """A NUL in a console form's text (a partner's name, a plan's title) reached domain-api,
    which refused it as ``malformed``; the console knew no status for that code and answered
    500 (logged as our error). Now the form says why beside its fields, and nothing is kept."""
    browser = console(stack, first["admin"])
    partner = "name=r15%00x&country=NL&type=company&contact_name=A&contact_email=a%40b.org"
    for path, fields in (("/app/partners", partner), ("/app/operations/plans", "title=r15%00x")):
        refused = browser.form(path, fields)
        assert refused.status_code in (400, 422), (path, refused.status_code)
        assert "NUL" in refused.text, path
    with client(stack, first["admin"]) as api:
        names = [p["name"] for p in api.get("/api/v1/partners").json()["data"]]
        titles = [i["title"] for i in api.get("/api/v1/work-items").json()["data"]]
    assert not [n for n in names + titles if n.startswith("r15")]


def test_a_console_form_field_that_is_not_utf8_is_a_400_and_stores_nothing(
    stack: DevStack, first: dict[str, str]
) -> None:
    """An url-encoded form's bytes that are not UTF-8 (``%FF``, an encoded lone surrogate)
    were replaced by U+FFFD and kept: the partner was created under another name than sent,
    where the APIs and the multipart forms (ADR 0376) refuse such text. Now a 400 naming the
    field, as a multipart form's."""
    browser = console(stack, first["admin"])
    mark = uuid.uuid4().hex[:8]
    for bad in ("%FF%FE", "%ED%A0%80"):
        fields = (
            f"name=r15{mark}{bad}&country=NL&type=company&contact_name=A&contact_email=a%40b.org"
        )
        refused = browser.form("/app/partners", fields)
        assert refused.status_code == 400, (bad, refused.status_code)
        assert "not UTF-8" in refused.text
    with client(stack, first["admin"]) as api:
        names = [p["name"] for p in api.get("/api/v1/partners").json()["data"]]
    assert not [n for n in names if mark in n]


# --- what held -------------------------------------------------------------------------------


def vcf(samples: list[str], variants: int) -> bytes:
    header = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples)
    lines = ["##fileformat=VCFv4.2", '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">']
    lines.append(header)
    calls = ("0/0", "0/1", "1/1")
    for i in range(variants):
        row = "\t".join(calls[(i + j) % 3] for j in range(len(samples)))
        lines.append(f"chr1\t{1000 + i}\tsnp{i}\tA\tG\t50\tPASS\t.\tGT\t{row}")
    return ("\n".join(lines) + "\n").encode()


def new_germplasm(api: httpx.Client, name: str, headers: dict[str, str] | None = None) -> None:
    body = {"germplasmName": name, "germplasmPUI": f"urn:r15:{uuid.uuid4()}"}
    created = api.post(
        "/brapi/v2/germplasm", json=[{**body, "commonCropName": "Rice"}], headers=headers
    )
    assert created.status_code == 200, created.text


def finished(api: httpx.Client, path: str, done: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + PATIENCE
    while True:
        document: dict[str, Any] = api.get(path).json()["data"]
        if document["status"] in done or time.monotonic() > deadline:
            return document
        time.sleep(0.3)


def test_another_organizations_genotypes_downloads_and_figures_are_not_found(
    stack: DevStack, first: dict[str, str], stranger: str
) -> None:
    """A variant set's dosages (``dosages.npy``), its file, its calls, an analysis, its result
    pages and its figures: the first organization's viewer reads each, another
    organization's admin gets 404 for each, and cannot run an analysis over the set."""
    samples = [f"r15-{uuid.uuid4().hex[:8]}" for _ in range(4)]
    with client(stack, first["breeder"]) as ours:
        params = {"name": f"r15-{uuid.uuid4().hex[:8]}", "commonCropName": "Cassava"}
        imported = ours.post("/api/v1/genotypes/imports", params=params, content=vcf(samples, 6))
        assert imported.status_code == 201, imported.text
        variant_set = imported.json()["data"]["variantSetDbId"]
        asked = ours.post("/api/v1/analyses", json={"type": "qc", "variantSetDbId": variant_set})
        assert asked.status_code == 202, asked.text
        analysis = asked.json()["data"]["analysisDbId"]
        done = finished(ours, f"/api/v1/analyses/{analysis}", ("completed", "failed"))
        assert done["status"] == "completed", done
    paths = [
        f"/api/v1/variantsets/{variant_set}",
        f"/api/v1/variantsets/{variant_set}/dosages.npy",
        f"/api/v1/variantsets/{variant_set}/files/vcf",
        f"/brapi/v2/variantsets/{variant_set}",
        f"/brapi/v2/variantsets/{variant_set}/calls",
        f"/api/v1/analyses/{analysis}",
        f"/api/v1/analyses/{analysis}/results/variants",
        f"/api/v1/analyses/{analysis}/artifacts/maf.png",
        f"/api/v1/analyses/{analysis}/artifacts/maf.svg",
    ]
    with client(stack, first["viewer"]) as viewer, client(stack, stranger) as theirs:
        assert [viewer.get(p).status_code for p in paths] == [200] * len(paths)
        assert [theirs.get(p).status_code for p in paths] == [404] * len(paths)
        npy = viewer.get(paths[1]).content
        assert npy.startswith(b"\x93NUMPY")
        assert samples[0].encode() not in theirs.get(paths[2]).content
        body = {"type": "qc", "variantSetDbId": variant_set}
        refused = theirs.post("/api/v1/analyses", json=body)
        assert refused.status_code in (404, 422), refused.text
        assert theirs.get("/api/v1/analyses").json()["data"] == []
        assert theirs.get(f"/api/v1/variantsets/{variant_set}/analyses").json()["data"] == []
        for name in ("..%2F..%2Fetc%2Fpasswd", "MAF.PNG", "x" * 2000):
            path = f"/api/v1/analyses/{analysis}/artifacts/{name}"
            assert viewer.get(path).status_code == 404, name


def test_search_results_are_the_searching_organizations(
    stack: DevStack, first: dict[str, str], stranger: str
) -> None:
    """A BrAPI search's results by id: another member of the organization reads them (one
    organization reads one set of records), another organization's admin gets 404, as does
    the id asked for as another kind of search. Its own search finds none of the first's."""
    name = f"r15-search-{uuid.uuid4().hex[:8]}"
    with client(stack, first["breeder"]) as ours:
        new_germplasm(ours, name)
        asked = ours.post("/brapi/v2/search/germplasm", json={"germplasmNames": [name]})
        assert asked.status_code in (200, 202), asked.text
        search = asked.json()["result"]["searchResultsDbId"]
        found = ours.get(f"/brapi/v2/search/germplasm/{search}").json()["result"]["data"]
        assert [g["germplasmName"] for g in found] == [name]
    with client(stack, first["viewer"]) as colleague:
        again = colleague.get(f"/brapi/v2/search/germplasm/{search}").json()["result"]["data"]
        assert [g["germplasmName"] for g in again] == [name]
    with client(stack, stranger) as theirs:
        assert theirs.get(f"/brapi/v2/search/germplasm/{search}").status_code == 404
        assert theirs.get(f"/brapi/v2/search/studies/{search}").status_code == 404
        own = theirs.post("/brapi/v2/search/germplasm", json={"germplasmNames": [name]})
        mine = own.json()["result"]["searchResultsDbId"]
        assert theirs.get(f"/brapi/v2/search/germplasm/{mine}").json()["result"]["data"] == []


def test_an_export_archive_is_its_organizations_admins_alone(
    stack: DevStack, first: dict[str, str], stranger: str
) -> None:
    """An organization export (every row it owns, identity's included): its status and
    archive are 404 to another organization's admin and 403 to the organization's breeder
    and viewer; the archive holds none of another organization's rows."""
    with client(stack, stranger) as theirs:
        marker = f"r15-theirs-{uuid.uuid4().hex[:8]}"
        new_germplasm(theirs, marker)
        their_organization = sign_in(stack, stranger).json()["data"]["organization_id"]
    with client(stack, first["admin"]) as ours:
        asked = ours.post("/api/v1/organization/exports")
        assert asked.status_code == 202, asked.text
        job = asked.headers["location"]
        assert finished(ours, job, ("ready", "failed"))["status"] == "ready"
        archive = ours.get(f"{job}/archive")
        assert archive.status_code == 200
    for email, status in ((stranger, 404), (first["breeder"], 403), (first["viewer"], 403)):
        with client(stack, email) as other:
            assert other.get(job).status_code == status, email
            assert other.get(f"{job}/archive").status_code == status, email
    with tarfile.open(fileobj=io.BytesIO(archive.content)) as tar:
        contents = b"".join(
            extracted.read() for m in tar.getmembers() if (extracted := tar.extractfile(m))
        )
    assert first["id"].encode() in contents
    for foreign in (marker, their_organization, stranger, first["admin"]):
        assert foreign.encode() not in contents, foreign  # no e-mail of anyone, either


def refresh(stack: DevStack, token: str, **more: str) -> httpx.Response:
    body = {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": "bijmantra-first-party",
    }
    return httpx.post(f"{stack.gateway_url}/oauth/token", data={**body, **more}, timeout=30)


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def test_a_member_reaches_no_other_organization_through_identity(
    stack: DevStack, first: dict[str, str], stranger: str
) -> None:
    """Signing in to another organization, choosing it on the consent page, a refresh after
    a demotion or a removal, a refresh asking for more scope, the platform worker's client
    credentials from outside: each refused or narrowed."""
    theirs = sign_in(stack, stranger).json()["data"]["organization_id"]
    refused = sign_in(stack, first["admin"], theirs)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "forbidden"
    browser = Browser(stack.gateway_url)
    authorize = browser.send("GET", "/app/auth/login").headers["location"]
    page = browser.send("GET", authorize).text
    login = {"action": "login", "email": first["viewer"], "password": PASSWORD}
    browser.send("POST", authorize, data={**login, "csrf_token": hidden(page, "csrf_token")})
    consent = browser.send("GET", authorize).text
    allow = {
        "action": "allow",
        "organization_id": theirs,
        "csrf_token": hidden(consent, "csrf_token"),
    }
    chosen = browser.send("POST", authorize, data=allow)
    assert chosen.status_code == 422
    assert "location" not in chosen.headers
    # a breeder demoted, then removed, refreshes the token it had
    email = member(stack, ["breeder"], uuid.UUID(first["id"]))
    signed = sign_in(stack, email).json()["data"]
    user = claims(signed["access_token"])["sub"]
    members = f"/api/v1/organizations/{first['id']}/members/{user}"
    with client(stack, first["admin"]) as admin:
        assert admin.patch(members, json={"roles": ["viewer"]}).status_code == 200
        demoted = refresh(stack, signed["refresh_token"])
        assert demoted.status_code == 200, demoted.text
        assert claims(demoted.json()["access_token"])["roles"] == ["viewer"]
        wider = refresh(stack, demoted.json()["refresh_token"], scope="openid brapi admin")
        assert wider.json()["error"] == "invalid_scope"
        assert admin.delete(members).status_code == 204
    removed = refresh(stack, demoted.json()["refresh_token"])
    assert removed.json()["error"] == "invalid_grant"
    bearer = {"Authorization": f"Bearer {demoted.json()['access_token']}"}
    assert httpx.get(f"{stack.gateway_url}/brapi/v2/germplasm", headers=bearer).status_code == 401
    worker = {"grant_type": "client_credentials", "scope": "brapi"}
    outside = httpx.post(
        f"{stack.gateway_url}/oauth/token",
        data=worker,
        auth=("analytics-worker", stack.worker_client_secret),
        timeout=30,
    )
    assert outside.status_code in (400, 401)
    assert "access_token" not in outside.text
    public = {"grant_type": "client_credentials", "client_id": "bijmantra-first-party"}
    anonymous = httpx.post(f"{stack.gateway_url}/oauth/token", data=public, timeout=30)
    assert anonymous.json()["error"] == "unauthorized_client"


ODD_PAGING = (
    ("page_size", "0"),
    ("page_size", "-1"),
    ("page_size", "100001"),
    ("page_size", "abc"),
    ("page_size", "9223372036854775808"),
    ("page", "-1"),
    ("page", "99999999999999999999999"),
    ("page", "1.5"),
)


def test_odd_paging_is_a_4xx_with_the_house_envelope(
    stack: DevStack, first: dict[str, str]
) -> None:
    """``page``/``pageSize`` at and past their extremes on the paged lists of both APIs: each
    a 400 or 422 in the API's own envelope naming the parameter, never a 200 or a 5xx."""
    platform = ["partners", "work-items", "seasons", "devices", "alerts", "invoices", "audit"]
    brapi = ["germplasm", "calls", "variants", "observations", "seedlots/transactions"]
    with client(stack, first["admin"]) as api:  # the audit trail is the admins'
        for route in platform:
            for name, value in ODD_PAGING:
                answer = api.get(f"/api/v1/{route}", params={name: value})
                assert answer.status_code in (400, 422), (route, name, value, answer.status_code)
                assert answer.json()["error"]["code"] in ("validation", "malformed"), route
        for route in brapi:
            for name, value in ODD_PAGING:
                brapi_name = "pageSize" if name == "page_size" else name
                answer = api.get(f"/brapi/v2/{route}", params={brapi_name: value})
                assert answer.status_code == 400, (route, brapi_name, value, answer.status_code)
                assert answer.json()["metadata"]["status"][0]["messageType"] == "ERROR"
        assert api.get("/api/v1/analyses", params={"limit": "1000"}).status_code == 422


def test_an_idempotency_key_replayed_by_another_organization_is_its_own_request(
    stack: DevStack, first: dict[str, str], stranger: str
) -> None:
    """The same ``Idempotency-Key`` sent by another organization's admin with another body:
    its own partner is created (not the first's answer replayed, nor a mismatch), and the
    first's replay still answers the first's partner."""
    key = {"Idempotency-Key": f"r15-{uuid.uuid4()}"}

    def partner(name: str) -> dict[str, Any]:
        contact = [{"name": "A", "email": "a@example.org"}]
        return {"name": name, "country": "NL", "type": "company", "contacts": contact}

    with client(stack, first["admin"]) as ours, client(stack, stranger) as theirs:
        made = ours.post("/api/v1/partners", json=partner("r15 ours"), headers=key)
        assert made.status_code == 201, made.text
        other = theirs.post("/api/v1/partners", json=partner("r15 theirs"), headers=key)
        assert other.status_code == 201, other.text
        assert other.json()["data"]["name"] == "r15 theirs"
        assert other.json()["data"]["id"] != made.json()["data"]["id"]
        replay = ours.post("/api/v1/partners", json=partner("r15 ours"), headers=key)
        assert replay.json()["data"]["id"] == made.json()["data"]["id"]
        assert [p["name"] for p in theirs.get("/api/v1/partners").json()["data"]] == ["r15 theirs"]


BRAPI_CONTRACT = "services/gateway/src/bijmantra/gateway/contract/brapi_v2.json"


def test_a_viewer_writes_nothing_through_brapi(stack: DevStack, first: dict[str, str]) -> None:
    """Every BrAPI write the contract names (searches apart, which read): 403 for a viewer,
    whatever the path's id; nothing is created."""
    contract = json.loads((Path(__file__).parents[2] / BRAPI_CONTRACT).read_text())
    some_id = str(uuid.uuid4())
    writes = [
        (method.upper(), re.sub(r"\{[^}]+\}", some_id, path))
        for path, operations in contract["paths"].items()
        if "/search/" not in path
        for method in ("post", "put", "delete", "patch")
        if method in operations
    ]
    assert len(writes) > 50
    with client(stack, first["viewer"]) as viewer:
        before = viewer.get("/brapi/v2/germplasm").json()["metadata"]["pagination"]["totalCount"]
        refused = {
            (method, url): viewer.request(method, url, json=[{"germplasmName": "r15"}]).status_code
            for method, url in writes
        }
        assert {k: v for k, v in refused.items() if v != 403} == {}
        after = viewer.get("/brapi/v2/germplasm").json()["metadata"]["pagination"]["totalCount"]
    assert after == before


def test_a_tenant_header_names_no_organization(
    stack: DevStack, first: dict[str, str], stranger: str
) -> None:
    """The organization is the token's alone: headers naming another one (as a tenant
    header, a forwarded organization, the events' own ``Bijmantra-Tenant``) change nothing,
    neither what is read nor where a write goes."""
    theirs = sign_in(stack, stranger).json()["data"]["organization_id"]
    headers = {
        name: theirs
        for name in ("X-Tenant-Id", "X-Organization-Id", "Bijmantra-Tenant", "Organization")
    }
    name = f"r15-header-{uuid.uuid4().hex[:8]}"
    with client(stack, first["breeder"]) as ours, client(stack, stranger) as them:
        new_germplasm(ours, name, headers)
        query = {"germplasmName": name}
        mine = ours.get("/brapi/v2/germplasm", params=query, headers=headers)
        assert [g["germplasmName"] for g in mine.json()["result"]["data"]] == [name]
        assert them.get("/brapi/v2/germplasm", params=query).json()["result"]["data"] == []
        whoami = ours.get("/api/v1/permissions", headers=headers).json()["data"]
        assert theirs not in json.dumps(whoami)


def test_huge_and_deep_input_is_a_4xx_and_changes_nothing(
    stack: DevStack, first: dict[str, str]
) -> None:
    """Past the bounds: a BrAPI write of 10,001 documents, a filter of 10,001 values, JSON
    nested 10,000 deep, a console form past 128 KiB. Each a 4xx in its envelope; nothing
    stored."""
    name = f"r15-bulk-{uuid.uuid4().hex[:8]}"
    many = [{"germplasmName": name, "commonCropName": "Rice"}] * 10_001
    deep = ("[" * 10_000 + "]" * 10_000).encode()
    with client(stack, first["breeder"]) as api:
        bulk = api.post("/brapi/v2/germplasm", json=many)
        assert bulk.status_code in (400, 413), bulk.status_code
        assert bulk.json()["metadata"]["status"][0]["messageType"] == "ERROR"
        nested = api.post(
            "/brapi/v2/germplasm", content=deep, headers={"Content-Type": "application/json"}
        )
        assert nested.status_code == 400, nested.status_code
        nested_platform = api.post(
            "/api/v1/partners", content=deep, headers={"Content-Type": "application/json"}
        )
        assert nested_platform.status_code in (400, 422), nested_platform.status_code
        assert nested_platform.json()["error"]["code"] in ("malformed", "validation")
        ids = {"germplasmDbIds": [str(uuid.uuid4()) for _ in range(10_001)]}
        search = api.post("/brapi/v2/search/germplasm", json=ids)
        assert search.status_code == 400, search.status_code
        found = api.get("/brapi/v2/germplasm", params={"germplasmName": name})
        assert found.json()["result"]["data"] == []
    browser = console(stack, first["admin"])
    huge = browser.form("/app/partners", "name=" + "x" * (129 * 1024))
    assert huge.status_code == 413, huge.status_code


def test_an_organizations_machine_client_stays_in_its_organization_and_scope(
    stack: DevStack, first: dict[str, str], stranger: str
) -> None:
    """An organization's own client (``client_credentials``, a viewer's role, scope
    ``brapi``): naming another organization is ``unauthorized_client``, asking for more scope
    ``invalid_scope``; its token reads its organization, writes nothing, and acts as no
    person (no account, no organization founded)."""
    client_id, secret = machine_client(stack, first["id"], "brapi", ["viewer"])
    theirs = sign_in(stack, stranger).json()["data"]["organization_id"]

    def token(**asked: str) -> httpx.Response:
        return machine_token(stack, client_id, secret, **asked)

    assert token(organization_id=theirs).json()["error"] == "unauthorized_client"
    assert token(scope="brapi openid").json()["error"] == "invalid_scope"
    issued = token()
    assert issued.status_code == 200, issued.text
    assert claims(issued.json()["access_token"])["tid"] == first["id"]
    bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    with httpx.Client(base_url=stack.gateway_url, headers=bearer, timeout=30) as machine:
        assert machine.get("/brapi/v2/germplasm").status_code == 200
        write = [{"germplasmName": "r15 machine", "commonCropName": "Rice"}]
        assert machine.post("/brapi/v2/germplasm", json=write).status_code == 403
        assert machine.get("/api/v1/users/me").status_code == 403
        founded = machine.post("/api/v1/organizations", json={"name": "r15 by a machine"})
        assert founded.status_code == 403


def _registered(stack: DevStack, organization: str, client_id: str, **client: Any) -> None:
    """Register ``client_id`` at identity as a client of ``organization``."""
    assert stack.database is not None
    identity_url = stack.database.identity_url

    async def registered() -> None:
        engine = create_engine(identity_url)
        try:
            await register_client(
                engine, client_id=client_id, tenant_id=uuid.UUID(organization), **client
            )
        finally:
            await engine.dispose()

    asyncio.run(registered())


def machine_client(
    stack: DevStack, organization: str, scope: str, roles: list[str]
) -> tuple[str, str]:
    """A new ``client_credentials`` client of ``organization``: its id and secret."""
    client_id, secret = f"r15-{uuid.uuid4().hex[:8]}", "r15-secret-" + "x" * 40
    _registered(
        stack,
        organization,
        client_id,
        name="r15 machine",
        secret_hash=hash_secret(secret),
        grant_types=["client_credentials"],
        scope=scope,
        roles=roles,
    )
    return client_id, secret


def machine_token(stack: DevStack, client_id: str, secret: str, **asked: str) -> httpx.Response:
    body = {"grant_type": "client_credentials", **asked}
    url = f"{stack.gateway_url}/oauth/token"
    return httpx.post(url, data=body, auth=(client_id, secret), timeout=30)


def test_a_token_without_the_api_scope_reaches_no_api(
    stack: DevStack, first: dict[str, str]
) -> None:
    """A token whose scope is only ``openid`` (a sign-in-only app, or a client registered
    for it) reached every API with its holder's roles: an admin's exported the organization,
    listed its members, wrote germplasm. The scope was kept in the token and never read. Now
    the gateway refuses a token without ``brapi`` (403); identity's ``/userinfo``, what
    ``openid`` is for, still answers it."""
    client_id, secret = machine_client(stack, first["id"], "openid", ["admin"])
    issued = machine_token(stack, client_id, secret)
    assert issued.status_code == 200, issued.text
    assert claims(issued.json()["access_token"])["scope"] == "openid"
    bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    members = f"/api/v1/organizations/{first['id']}/members"
    name, pui = f"r15-scope-{uuid.uuid4().hex[:8]}", f"urn:r15:{uuid.uuid4()}"
    write = [{"germplasmName": name, "germplasmPUI": pui, "commonCropName": "Rice"}]
    with httpx.Client(base_url=stack.gateway_url, headers=bearer, timeout=30) as app:
        refused = {
            "germplasm": app.get("/brapi/v2/germplasm").status_code,
            "write": app.post("/brapi/v2/germplasm", json=write).status_code,
            "members": app.get(members).status_code,
            "export": app.post("/api/v1/organization/exports").status_code,
            "partners": app.get("/api/v1/partners").status_code,
        }
        assert refused == dict.fromkeys(refused, 403)
        assert app.get("/userinfo").status_code == 200
    with client(stack, first["viewer"]) as ours:
        query = {"germplasmName": name}
        assert ours.get("/brapi/v2/germplasm", params=query).json()["result"]["data"] == []


def test_an_organizations_app_is_granted_no_other_organizations_token(
    stack: DevStack, first: dict[str, str], stranger: str
) -> None:
    """An app registered for one organization (authorization code with PKCE) could be given
    another organization's token: a member of the first organization signing in to the
    other's app chose their own organization on the consent page and the app got a code,
    then a token with their roles there. An organization's machine client was already held
    to its organization; now its app is too: no code is issued for another organization."""
    theirs = sign_in(stack, stranger).json()["data"]["organization_id"]
    app = organizations_app(stack, theirs, "openid brapi")
    _, answer = consented(stack, app, "openid brapi", first["admin"], first["id"])
    assert "code=" not in answer.headers.get("location", ""), answer.headers.get("location")
    assert answer.status_code in (403, 422), answer.status_code


APP_CALLBACK = "https://app.example.org/callback"


def organizations_app(stack: DevStack, organization: str, scope: str) -> str:
    """The client id of a new app of ``organization`` (authorization code with PKCE, no
    secret, redirecting to :data:`APP_CALLBACK`) registered for ``scope``."""
    app = f"r15-app-{uuid.uuid4().hex[:8]}"
    _registered(
        stack,
        organization,
        app,
        name="Their app",
        secret_hash=None,
        grant_types=["authorization_code"],
        scope=scope,
        redirect_uris=[APP_CALLBACK],
    )
    return app


def consented(
    stack: DevStack, app: str, scope: str, email: str, organization: str
) -> tuple[Browser, httpx.Response]:
    """``email`` signs in to ``app`` in a new browser and allows it for ``organization``: the
    browser and the consent's answer (a redirect with the code, or a refusal). The PKCE
    verifier is :func:`verifier_of` ``app``."""
    challenge = hashlib.sha256(verifier_of(app).encode()).digest()
    query = {
        "response_type": "code",
        "client_id": app,
        "redirect_uri": APP_CALLBACK,
        "scope": scope,
        "state": "r15",
        "code_challenge": base64.urlsafe_b64encode(challenge).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    authorize = "/oauth/authorize?" + urlencode(query)
    browser = Browser(stack.gateway_url)
    page = browser.send("GET", authorize).text
    login = {"action": "login", "email": email, "password": PASSWORD}
    browser.send("POST", authorize, data={**login, "csrf_token": hidden(page, "csrf_token")})
    consent = browser.send("GET", authorize).text
    allow = {"action": "allow", "organization_id": organization}
    answer = browser.send(
        "POST", authorize, data={**allow, "csrf_token": hidden(consent, "csrf_token")}
    )
    return browser, answer


def verifier_of(app: str) -> str:
    """The PKCE verifier :func:`consented` uses for ``app`` (43+ characters)."""
    return hashlib.sha256(f"verifier:{app}".encode()).hexdigest()
