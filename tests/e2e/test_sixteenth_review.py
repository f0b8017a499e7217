"""The sixteenth adversarial review (ADR 0387): races, replays and killed processes. Two
members acting on one record at once, one key or token or code used twice at once, and a
domain-api killed in the middle of a write: one winner, a clean refusal for the others,
nothing half-written. Each on a running stack (the shared one; the kills have their own)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from bijmantra.devstack.stack import DevStack, running_stack
from bijmantra.testkit.vcf import diploid_gt_vcf

from .test_fifteenth_review import (
    APP_CALLBACK,
    PASSWORD,
    client,
    consented,
    console,
    hidden,
    machine_client,
    machine_token,
    member,
    organization_of,
    organizations_app,
    verifier_of,
)
from .test_identity_through_gateway import _mailed_token
from .test_sensors import PROFILE, new_place

pytestmark = [pytest.mark.e2e]
AT_ONCE = 4  # requests sent together in each race
RICE = {"commonCropName": "Rice", "genus": "Oryza"}


@pytest.fixture(scope="module")
def stack(shared_stack: DevStack) -> DevStack:
    """The e2e modules' shared stack: this module's organizations are its own (conftest.py)."""
    return shared_stack


@pytest.fixture(scope="module")
def admin(stack: DevStack) -> str:
    """The admin of a new organization of this module's own."""
    return member(stack, ["admin"])


def api(stack: DevStack, email: str) -> httpx.AsyncClient:
    token = stack.login(email, PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=60)


async def at_once(send: Callable[[int], Awaitable[httpx.Response]]) -> list[int]:
    """``send(i)`` for AT_ONCE values of ``i`` together: their statuses, in order."""
    answers = await asyncio.gather(*(send(i) for i in range(AT_ONCE)))
    return [a.status_code for a in answers]


async def data(response: Awaitable[httpx.Response], status: int = 200) -> Any:
    answer = await response
    assert answer.status_code == status, answer.text
    return answer.json()["data"]


async def brapi(http: httpx.AsyncClient, path: str, *documents: dict[str, Any]) -> list[Any]:
    answer = await http.post(f"/brapi/v2/{path}", json=list(documents))
    assert answer.status_code == 200, answer.text
    found: list[Any] = answer.json()["result"]["data"]
    return found


async def amount(http: httpx.AsyncClient, lot: str) -> float:
    return float((await http.get(f"/brapi/v2/seedlots/{lot}")).json()["result"]["amount"])


async def germplasm_and_lot(http: httpx.AsyncClient, seeds: int) -> tuple[str, str]:
    name = f"r16-{uuid.uuid4().hex[:8]}"
    [plant] = await brapi(
        http,
        "germplasm",
        {"germplasmName": name, "germplasmPUI": f"urn:r16:{uuid.uuid4()}", **RICE},
    )
    mixture = [{"germplasmDbId": plant["germplasmDbId"]}]
    [lot] = await brapi(
        http,
        "seedlots",
        {"seedLotName": name, "amount": seeds, "units": "seeds", "contentMixture": mixture},
    )
    return plant["germplasmDbId"], lot["seedLotDbId"]


async def seed_request(http: httpx.AsyncClient, partner: str, plant: str) -> str:
    item = {"germplasm_id": plant, "quantity": "60", "units": "seeds"}
    body = {"partner_id": partner, "purpose": "breeding", "items": [item]}
    request = await data(http.post("/api/v1/seed-requests", json=body), 201)
    await data(http.post(f"/api/v1/seed-requests/{request['id']}/actions", json=ACT("submitted")))
    return str(request["id"])


def sign_in(stack: DevStack, email: str, password: str) -> httpx.Response:
    body = {"email": email, "password": password}
    return httpx.post(f"{stack.gateway_url}/api/v1/auth/login", json=body, timeout=30)


def ACT(action: str) -> dict[str, str]:
    return {"action": action}


async def new_partner(http: httpx.AsyncClient, name: str, **headers: str) -> httpx.Response:
    body = {
        "name": name,
        "country": "KE",
        "type": "research_institute",
        "contacts": [{"name": "W", "email": "seeds@r16.example"}],
    }
    return await http.post("/api/v1/partners", json=body, headers=headers)


async def test_a_seed_request_acted_on_at_once_moves_once(stack: DevStack, admin: str) -> None:
    """Four members approving one submitted request at once: one 200, three 409 (approved is
    not approved again), one ``approved`` in its history; approving and rejecting at once:
    one wins and the record is what the winner made it."""
    async with api(stack, admin) as http:
        partner = (await data(new_partner(http, "r16 partner"), 201))["id"]
        plant, _ = await germplasm_and_lot(http, 10)
        request = await seed_request(http, partner, plant)
        path = f"/api/v1/seed-requests/{request}"
        approved = await at_once(lambda _: http.post(f"{path}/actions", json=ACT("approved")))
        assert sorted(approved) == [200] + [409] * (AT_ONCE - 1), approved
        assert (await data(http.get(path)))["status"] == "approved"

        other = f"/api/v1/seed-requests/{await seed_request(http, partner, plant)}"
        choices = ("approved", "rejected")
        decided = await at_once(lambda i: http.post(f"{other}/actions", json=ACT(choices[i % 2])))
        assert decided.count(200) == 1, decided
        assert sorted(set(decided)) == [200, 409], decided
        winner = choices[decided.index(200) % 2]
        assert (await data(http.get(other)))["status"] == winner


async def test_a_lot_raced_by_transactions_and_shipments_never_goes_below_zero(
    stack: DevStack, admin: str
) -> None:
    """A lot never goes below zero (the domain's rule): four BrAPI transactions of 15 seeds
    from a lot of 40 at once take two (10 left), two packed dispatches of 30 each shipped at
    once ship one. An agreement's party signing twice at once signs once."""
    async with api(stack, admin) as http:
        plant, lot = await germplasm_and_lot(http, 40)
        [sink] = await brapi(
            http, "seedlots", {"seedLotName": "sink", "amount": 0, "units": "seeds"}
        )
        move = {"fromSeedLotDbId": lot, "toSeedLotDbId": sink["seedLotDbId"], "amount": 15}
        moved = await at_once(lambda _: http.post("/brapi/v2/seedlots/transactions", json=[move]))
        assert sorted(moved) == [200, 200] + [409] * (AT_ONCE - 2), moved
        assert (await amount(http, lot), await amount(http, sink["seedLotDbId"])) == (10, 30)
        listed = await http.get(f"/brapi/v2/seedlots/{lot}/transactions")
        assert listed.json()["metadata"]["pagination"]["totalCount"] == 2

        plant, lot = await germplasm_and_lot(http, 40)
        partner = (await data(new_partner(http, "r16 receiver"), 201))["id"]
        request = await seed_request(http, partner, plant)
        await data(http.post(f"/api/v1/seed-requests/{request}/actions", json=ACT("approved")))
        material = {
            "type": "smta",
            "partner_id": partner,
            "material": [plant],
            "provider": {"name": "Our Genebank", "email": "mta@r16.example", "country": "DE"},
        }
        agreement = await data(http.post("/api/v1/agreements", json=material), 201)
        path = f"/api/v1/agreements/{agreement['id']}"
        sent = await data(http.post(f"{path}/actions", json=ACT("sent for signature")))
        signature = {"party_role": "provider", "document_sha256": sent["document_sha256"]}
        signed = await at_once(lambda _: http.post(f"{path}/signatures", json=signature))
        assert sorted(signed) == [200] + [409] * (AT_ONCE - 1), signed
        signature["party_role"] = "recipient"
        assert (await data(http.post(f"{path}/signatures", json=signature)))["status"] == "active"

        dispatches = []
        for _ in range(2):
            line = {"seed_lot_id": lot, "amount": "30"}
            body = {"request_id": request, "lines": [line]}
            dispatch = await data(http.post("/api/v1/dispatches", json=body), 201)
            for action in ("approved", "picking", "packed"):
                await data(
                    http.post(f"/api/v1/dispatches/{dispatch['id']}/actions", json=ACT(action))
                )
            dispatches.append(f"/api/v1/dispatches/{dispatch['id']}")
        shipped = await asyncio.gather(
            *(http.post(f"{d}/actions", json=ACT("shipped")) for d in dispatches)
        )
        assert sorted(s.status_code for s in shipped) == [200, 409], shipped
        assert await amount(http, lot) == 10
        states = [(await data(http.get(d)))["status"] for d in dispatches]
        assert sorted(states) == ["packed", "shipped"]


async def test_a_task_completed_twice_at_once_with_one_etag_is_completed_once(
    stack: DevStack, admin: str
) -> None:
    """Two members finishing one task from the version they both read (``If-Match``): one
    200, the other 412 ``precondition_failed``; its activity shows one change of status."""
    async with api(stack, admin) as http:
        plan = await data(
            http.post("/api/v1/work-items", json={"kind": "plan", "title": "r16"}), 201
        )
        operation = {
            "kind": "operation",
            "title": "sow",
            "parent_id": plan["id"],
            "operation_type": "planting",
        }
        op = await data(http.post("/api/v1/work-items", json=operation), 201)
        task = {"kind": "task", "title": "sow block 1", "parent_id": op["id"]}
        item = await data(http.post("/api/v1/work-items", json=task), 201)
        path = f"/api/v1/work-items/{item['id']}"
        await data(http.patch(path, json={"status": "in_progress"}))
        etag = (await http.get(path)).headers["etag"]
        finished = await at_once(
            lambda _: http.patch(path, json={"status": "done"}, headers={"If-Match": etag})
        )
        assert sorted(finished) == [200] + [412] * (AT_ONCE - 1), finished
        activity = await data(http.get(f"{path}/activity"))
        changes = [c for entry in activity for c in entry["changes"]]
        done = [c for c in changes if c["field"] == "status" and c["new"] == "done"]
        assert len(done) == 1, activity


async def test_an_idempotency_key_is_one_request_raced_or_replayed_with_another_body(
    stack: DevStack, admin: str
) -> None:
    """One key sent four times at once with one body: one partner, the others told the first
    still runs (409) or given its answer; the same key with another body afterwards: 422,
    not the first's answer, and nothing created."""
    async with api(stack, admin) as http:
        key, name = uuid.uuid4().hex, f"r16-key-{uuid.uuid4().hex[:8]}"
        raced = await asyncio.gather(
            *(new_partner(http, name, **{"Idempotency-Key": key}) for _ in range(AT_ONCE))
        )
        statuses = sorted(r.status_code for r in raced)
        assert statuses[0] == 201, statuses
        assert set(statuses) <= {201, 409}, statuses
        assert len({r.json()["data"]["id"] for r in raced if r.status_code == 201}) == 1
        replay = await new_partner(http, name, **{"Idempotency-Key": key})
        assert replay.status_code == 201
        other = await new_partner(http, f"{name}-other", **{"Idempotency-Key": key})
        assert other.status_code == 422, other.text
        assert other.json()["error"]["code"] == "unprocessable"
        names = [p["name"] for p in await data(http.get("/api/v1/partners"))]
        assert sorted(n for n in names if n.startswith(name)) == [name]


async def test_a_refresh_token_redeemed_at_once_is_redeemed_once(
    stack: DevStack, admin: str
) -> None:
    """A refresh token sent four times at once (a client's retries, or a thief's race with
    the owner): at most one new pair; the others ``invalid_grant``; and a replay ends the
    family, so the one new refresh token is refused too (no branch survives)."""
    signed = sign_in(stack, admin, PASSWORD).json()["data"]
    body = {
        "grant_type": "refresh_token",
        "refresh_token": signed["refresh_token"],
        "client_id": "bijmantra-first-party",
    }
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        raced = await asyncio.gather(
            *(http.post("/oauth/token", data=body) for _ in range(AT_ONCE))
        )
        statuses = sorted(r.status_code for r in raced)
        assert statuses.count(200) <= 1, statuses
        assert set(statuses) <= {200, 400}, statuses
        assert {r.json()["error"] for r in raced if r.status_code == 400} == {"invalid_grant"}
        for won in (r for r in raced if r.status_code == 200):
            again = {**body, "refresh_token": won.json()["refresh_token"]}
            assert (await http.post("/oauth/token", data=again)).status_code == 400
            bearer = {"Authorization": f"Bearer {won.json()['access_token']}"}
            assert (await http.get("/api/v1/partners", headers=bearer)).status_code == 401


async def test_an_invitation_accepted_twice_at_once_makes_one_member(
    stack: DevStack, admin: str
) -> None:
    """The mailed invitation accepted four times at once (two tabs, a double click): one
    account, one membership; the others are refused and set no password of their own."""
    organization = organization_of(stack, admin)
    invitee = f"r16-invitee-{uuid.uuid4().hex[:8]}@example.org"
    async with api(stack, admin) as http:
        path = f"/api/v1/organizations/{organization}/members"
        invited = await http.post(path, json={"email": invitee, "roles": ["breeder"]})
        assert invited.status_code == 202, invited.text
        token = await asyncio.to_thread(_mailed_token, stack, invitee)
        accept = "/api/v1/auth/invitations/accept"
        accepted = await asyncio.gather(
            *(
                http.post(accept, json={"token": token, "password": f"r16-password-{i}"})
                for i in range(AT_ONCE)
            )
        )
        statuses = [a.status_code for a in accepted]
        assert statuses.count(200) == 1, [a.text for a in accepted]
        assert all(400 <= s < 500 for s in statuses if s != 200), statuses
        winner = statuses.index(200)
        members = await data(http.get(path))
        assert [m["email"] for m in members].count(invitee) == 1
    for i in range(AT_ONCE):
        answer = await asyncio.to_thread(sign_in, stack, invitee, f"r16-password-{i}")
        assert answer.status_code == (200 if i == winner else 401), (i, answer.status_code)


async def test_a_device_claim_code_claimed_at_once_gives_one_credential(
    stack: DevStack, admin: str
) -> None:
    """One claim code sent by four devices at once: one credential, the others 409."""
    with client(stack, admin) as sync:
        location = new_place(sync, "location", {"locationName": "r16 store"})
        profile = sync.post("/api/v1/device-profiles", json=PROFILE)
        assert profile.status_code == 201, profile.text
        body = {"name": "r16", "profileId": profile.json()["data"]["profileId"]}
        device = sync.post("/api/v1/devices", json={**body, "locationDbId": location})
        assert device.status_code == 201, device.text
        code = sync.post(f"/api/v1/devices/{device.json()['data']['deviceId']}/claim-code")
        assert code.status_code == 201, code.text
    claim = {"claimCode": code.json()["data"]["claimCode"]}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as devices:
        claimed = await at_once(lambda _: devices.post("/api/v1/devices/claim", json=claim))
    assert sorted(claimed) == [200] + [409] * (AT_ONCE - 1), claimed


async def test_one_brapi_record_written_at_once_is_one_of_the_writes_whole(
    stack: DevStack, admin: str
) -> None:
    """Four PUTs of one germplasm at once, each with its own name and accession number: the
    record is one of them whole (its name with its number), never a mix."""
    async with api(stack, admin) as http:
        pui = {"germplasmPUI": f"urn:r16:{uuid.uuid4()}", **RICE}
        [plant] = await brapi(http, "germplasm", {"germplasmName": "r16-put", **pui})
        path = f"/brapi/v2/germplasm/{plant['germplasmDbId']}"
        written = await at_once(
            lambda i: http.put(
                path,
                json={"germplasmName": f"r16-put-{i}", "accessionNumber": f"acc-{i}", **pui},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
        )
        assert written == [200] * AT_ONCE, written
        stored = (await http.get(path)).json()["result"]
        number = stored["germplasmName"].removeprefix("r16-put-")
        assert stored["accessionNumber"] == f"acc-{number}", stored


def test_paging_is_written_in_ascii_digits(stack: DevStack, admin: str) -> None:
    """``page``/``pageSize`` given in full-width (U+FF11) or Arabic-Indic (U+0663) digits, or
    as ``+1`` and ``1_0``, were pages: Python's ``int`` reads them. Now each is a 4xx
    naming the parameter, on both APIs; ASCII digits still page."""
    with client(stack, admin) as http:
        for value in ("\uff11", "\u0663", "+1", "1_0"):
            for path, name in (
                ("/brapi/v2/germplasm", "pageSize"),
                ("/brapi/v2/germplasm", "page"),
                ("/brapi/v2/variants", "pageSize"),
                ("/api/v1/partners", "page_size"),
                ("/api/v1/audit", "page"),
                ("/api/v1/analyses", "limit"),
            ):
                answer = http.get(path, params={name: value})
                assert answer.status_code in (400, 422), (path, name, value, answer.status_code)
        assert http.get("/brapi/v2/germplasm", params={"pageSize": "1"}).status_code == 200


def test_logout_everywhere_takes_a_sign_in_only_token_and_ends_only_sessions(
    stack: DevStack, admin: str
) -> None:
    """Kept as it is (ADR 0387): a person's token whose scope is only ``openid`` — all an app
    that signs people in with Bijmantra holds — ends that person's identity sessions (what
    the app would have them sign out of) and nothing else: the same token still reads no
    API, and a token of no person (a machine client's) is refused."""
    organization = str(organization_of(stack, admin))
    app = organizations_app(stack, organization, "openid")
    browser, granted = consented(stack, app, "openid", admin, organization)
    exchange = {
        "grant_type": "authorization_code",
        "code": parse_qs(urlsplit(granted.headers["location"]).query)["code"][0],
        "redirect_uri": APP_CALLBACK,
        "client_id": app,
        "code_verifier": verifier_of(app),
    }
    token = httpx.post(f"{stack.gateway_url}/oauth/token", data=exchange, timeout=30)
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    with httpx.Client(base_url=stack.gateway_url, headers=bearer, timeout=30) as app_http:
        assert app_http.get("/api/v1/partners").status_code == 403
        assert app_http.post("/api/v1/auth/logout-everywhere").status_code == 204
        assert app_http.get("/api/v1/partners").status_code == 403
    again = browser.send("GET", str(granted.request.url)).text
    assert 'value="login"' in again, "the person signs in again: their session ended"
    machine = machine_token(stack, *machine_client(stack, organization, "openid", ["admin"]))
    no_person = {"Authorization": f"Bearer {machine.json()['access_token']}"}
    signed_out = httpx.post(
        f"{stack.gateway_url}/api/v1/auth/logout-everywhere", headers=no_person, timeout=30
    )
    assert signed_out.status_code == 403, signed_out.text


# --- killed processes (a stack of their own) ----------------------------------------------


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(tmp_path_factory.mktemp("review16-kills")) as stack:
        yield stack


def owner(stack: DevStack, query: str, *args: object) -> Any:
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        row = conn.execute(query, args).fetchone()
    return None if row is None else row[0]


def kill_domain_api_when(stack: DevStack, moment: str) -> None:
    """SIGKILL domain-api (its process group: nothing drains) once ``moment``, a query of
    the database's owner, answers true; then start it again and wait until it serves."""
    deadline = time.monotonic() + 60
    while not owner(stack, moment):
        assert time.monotonic() < deadline, "the write never began"
        time.sleep(0.02)
    process = stack.services.pop("domain-api")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    stack.start_service("domain-api")
    stack.wait_ready()


WRITING_GENOTYPES = """SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
    WHERE c.relname IN ('variant_sets', 'call_sets', 'variants', 'genotype_chunks')
    AND l.mode = 'RowExclusiveLock'
    AND l.pid <> pg_backend_pid())"""


def test_domain_api_killed_mid_import_keeps_nothing_of_it(own_stack: DevStack) -> None:
    """domain-api killed with SIGKILL while an import's transaction is writing: the caller
    gets an error, not a 201; PostgreSQL rolled the transaction back (no variant set, no
    calls of it); once domain-api is back the same file imports whole."""
    stack = own_stack
    email = f"r16-kill-{uuid.uuid4().hex[:8]}@example.org"
    organization = stack.register_member(email, PASSWORD, ["admin"])
    token = stack.login(email, PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    vcf = diploid_gt_vcf(200, 4_000)
    answers: list[int] = []

    def send() -> None:
        with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=120) as http:
            try:
                params = {"name": "r16-killed", "commonCropName": "Cassava"}
                answers.append(
                    http.post("/api/v1/genotypes/imports", params=params, content=vcf).status_code
                )
            except httpx.HTTPError:
                answers.append(0)

    sender = threading.Thread(target=send)
    sender.start()
    kill_domain_api_when(stack, WRITING_GENOTYPES)
    sender.join(120)
    assert len(answers) == 1, answers
    assert answers[0] != 201, answers
    sets = "SELECT count(*) FROM domain.variant_sets WHERE tenant_id = %s"
    assert owner(stack, sets, organization) == 0
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=120) as http:
        params = {"name": "r16-whole", "commonCropName": "Cassava"}
        again = http.post("/api/v1/genotypes/imports", params=params, content=vcf)
        assert again.status_code == 201, again.text
    assert owner(stack, sets, organization) == 1


def test_domain_api_killed_mid_relay_loses_and_repeats_no_event(own_stack: DevStack) -> None:
    """domain-api (the outbox relay and the audit trail's consumer) killed with SIGKILL while
    members create germplasm before, during and after: once it is back every event of the
    outbox is in the audit trail exactly once, every germplasm a member was told of (200)
    has its event, and the trail's hash chain verifies (a lost or repeated event breaks it)."""
    stack = own_stack
    email = f"r16-relay-{uuid.uuid4().hex[:8]}@example.org"
    organization = stack.register_member(email, PASSWORD, ["admin"])
    headers = {"Authorization": f"Bearer {stack.login(email, PASSWORD)}"}
    created: list[str] = []
    writing = threading.Event()
    writing.set()

    def create(worker: int) -> None:
        """Germplasm one after another until told to stop (at most 300)."""
        with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=30) as http:
            for n in range(300):
                if not writing.is_set():
                    return
                plant = {"germplasmName": f"r16-{worker}-{n}", **RICE}
                plant["germplasmPUI"] = f"urn:r16:{uuid.uuid4()}"
                try:
                    answer = http.post("/brapi/v2/germplasm", json=[plant])
                except httpx.HTTPError:
                    continue
                if answer.status_code == 200:
                    created.append(answer.json()["result"]["data"][0]["germplasmDbId"])

    senders = [threading.Thread(target=create, args=(w,)) for w in range(3)]
    for sender in senders:
        sender.start()
    relayed = f"SELECT count(*) >= 8 FROM domain.audit_log WHERE tenant_id = '{organization}'"
    kill_domain_api_when(stack, relayed)
    time.sleep(1.0)
    writing.clear()
    for sender in senders:
        sender.join(60)
    events = "SELECT count(*) FROM domain.outbox WHERE tenant_id = %s"
    entries = "SELECT count(*) FROM domain.audit_log WHERE tenant_id = %s"
    deadline = time.monotonic() + 60
    while owner(stack, entries, organization) < owner(stack, events, organization):
        assert time.monotonic() < deadline, "events were lost on the way to the audit trail"
        time.sleep(0.3)
    missing = """SELECT count(*) FROM domain.outbox o WHERE o.tenant_id = %s AND NOT EXISTS
        (SELECT 1 FROM domain.audit_log a WHERE a.tenant_id = o.tenant_id AND a.event_id = o.id)"""
    assert owner(stack, missing, organization) == 0
    assert owner(stack, entries, organization) == owner(stack, events, organization)
    told = """SELECT count(DISTINCT aggregate_id) FROM domain.outbox
        WHERE tenant_id = %s AND type = 'germplasm.created' AND aggregate_id = ANY(%s)"""
    assert len(created) > 8, "the members wrote too little around the kill"
    assert owner(stack, told, organization, created) == len(created)
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=30) as http:
        verdict = http.get("/api/v1/audit/verify").json()["data"]
    assert verdict["valid"] is True, verdict


def test_a_console_form_posted_with_another_sessions_csrf_token_is_refused(
    stack: DevStack, admin: str
) -> None:
    """A console form's CSRF token is its session's: replayed with another session of the
    same member (a token read from another browser or a logged page) it is refused, and
    nothing is created."""
    mine, theirs = console(stack, admin), console(stack, admin)
    token = hidden(theirs.send("GET", "/app/partners").text, "csrf_token")
    name = f"r16-csrf-{uuid.uuid4().hex[:8]}"
    fields = f"csrf_token={token}&name={name}&country=NL&type=company&contact_name=A"
    body = (fields + "&contact_email=a%40b.org").encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    refused = mine.send("POST", "/app/partners", content=body, headers=form)
    assert refused.status_code == 403, refused.status_code
    with client(stack, admin) as http:
        names = [p["name"] for p in http.get("/api/v1/partners").json()["data"]]
    assert name not in names
