"""The attacks of issue 17 against the four services as processes: each probe that once cost
gigabytes, a wrong status or a lost event is a permanent test here (one stack for all)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import socket
import ssl
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import psutil
import pytest
from bijmantra.adapters.grpc.resources import ResourceClient
from bijmantra.application.console.sessions import SIGN_IN_STARTS
from bijmantra.contracts.brapi.v1 import resource_service_pb2
from bijmantra.devstack.cli import token
from bijmantra.devstack.ports import Ports
from bijmantra.devstack.stack import DEMO_EMAIL, DEMO_PASSWORD, DevStack, running_stack
from bijmantra.kernel import PageRequest, Unauthorized
from bijmantra.testkit.certificates import CertificateFiles, LocalCertificateAuthority
from bijmantra.testkit.servers import free_port
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis import Redis
from websockets.asyncio.client import connect

pytestmark = [pytest.mark.e2e]
RESOURCE_SERVICE = resource_service_pb2.DESCRIPTOR.services_by_name["ResourceService"].full_name
MiB = 1 << 20


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """The stack, started while domain-api's picked port is taken by someone else (as once
    happened to ``just up``): it must come up anyway, on another port."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = Ports(gateway=free_port(), domain_api=taken, fixed=frozenset())
        workdir = tmp_path_factory.mktemp("stack")
        with running_stack(workdir, testdata=True, ports=ports) as stack:
            assert stack.ports.domain_api != taken
            log = (workdir / "logs" / "domain-api.log").read_text(errors="replace").lower()
            assert "address already in use" in log or "failed to bind" in log
            squatter.close()
            yield stack


@pytest.fixture(scope="module")
async def client(stack: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {stack.login()}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60, headers=headers) as c:
        yield c


def peak_and_current_rss(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of a process in bytes: its high-water mark and what it holds now."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                fields[name] = int(value.split()[0]) * 1024
    return fields["VmHWM"], fields["VmRSS"]


async def test_memory_attacks_are_refused_and_domain_api_stays_near_its_start(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    domain_api = psutil.Process(stack.services["domain-api"].pid)
    warm = await client.get("/brapi/v2/germplasm", params={"pageSize": 10})
    assert warm.status_code == 200
    _, start = peak_and_current_rss(domain_api.pid)

    million = b"[" + b",".join([b"{}"] * 1_000_000) + b"]"
    bulk = await client.post(
        "/brapi/v2/germplasm", content=million, headers={"Content-Type": "application/json"}
    )
    assert bulk.status_code == 400, bulk.text
    assert "Too many items" in json.dumps(bulk.json()["metadata"]["status"])

    ids = [str(uuid.uuid4()) for _ in range(60_000)]
    search = await client.post("/brapi/v2/search/germplasm", json={"germplasmDbIds": ids})
    assert search.status_code == 400, search.text
    assert "at most 10000 values per filter" in json.dumps(search.json()["metadata"]["status"])

    header = b"##fileformat=VCFv4.3\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n"
    deflate = zlib.compressobj(9, wbits=31)  # gzip of a 64 MiB line, twice the line cap
    zeros = b"0" * MiB
    bomb = b"".join(
        [deflate.compress(header + b"2\t1\t"), *(deflate.compress(zeros) for _ in range(64))]
    )
    bomb += deflate.flush()
    assert len(bomb) < MiB
    upload = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": "bomb", "commonCropName": "Cassava"},
        content=bomb,
    )
    assert upload.status_code == 422, upload.text
    assert "line longer than" in upload.json()["error"]["message"]

    peak, now = peak_and_current_rss(domain_api.pid)
    # Unbounded, these three took domain-api from ~130 MB to 1.9-4.2 GB and kept it there.
    assert now < 1.5 * start, (start, now)
    assert peak < 2 * start, (start, peak)


async def test_dosages_npy_is_streamed_not_built_whole(client: httpx.AsyncClient) -> None:
    rows = [f"2\t{i + 1}\tv{i}\tC\tT\t.\t.\t.\tGT\t0/1\t1/1\t0/0".encode() for i in range(5000)]
    vcf = b"##fileformat=VCFv4.3\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
    vcf += b"a\tb\tc\n" + b"\n".join(rows) + b"\n"
    imported = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": f"stream-{uuid.uuid4().hex[:6]}", "commonCropName": "Cassava"},
        content=vcf,
    )
    assert imported.status_code == 201, imported.text
    variant_set = imported.json()["data"]["variantSetDbId"]
    async with client.stream("GET", f"/api/v1/variantsets/{variant_set}/dosages.npy") as reply:
        assert reply.status_code == 200
        # Sent as it is read (chunked), not as one body of known length built first.
        assert reply.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in reply.headers
        body = b"".join([piece async for piece in reply.aiter_bytes()])
    matrix = np.load(io.BytesIO(body))
    assert matrix.shape == (5000, 3)
    assert matrix[0].tolist() == [1, 2, 0]
    unknown = await client.get(
        f"/api/v1/variantsets/{variant_set}/dosages.npy", params={"callSetDbId": "nope"}
    )
    assert unknown.status_code in (404, 422), unknown.text


def brapi_messages(response: httpx.Response) -> list[str]:
    return [s["message"] for s in response.json()["metadata"]["status"]]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 10_000 + b"]" * 10_000, "nests too deeply"),
        (b'[{"germplasmName": "\xff\xfe"}]', "invalid UTF-8"),
    ],
)
async def test_deep_or_undecodable_json_is_400_not_503(
    client: httpx.AsyncClient, body: bytes, reason: str
) -> None:
    headers = {"Content-Type": "application/json"}
    for path in ("/brapi/v2/germplasm", "/brapi/v2/search/germplasm"):
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert any(reason in m for m in brapi_messages(response))


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[" * 10_000 + b"]" * 10_000, b'{"\xff\xfe": 1}'],
    ids=["syntax", "deep", "utf8"],
)
async def test_an_unreadable_platform_body_is_400_in_the_platform_envelope(
    client: httpx.AsyncClient, body: bytes
) -> None:
    """Unreadable JSON is 400 ``malformed`` on /api/v1 too (it was 422, the status of a
    readable request with wrong values), whichever service decodes it; nothing is created."""
    headers = {"Content-Type": "application/json", "X-Request-ID": "unreadable-1"}
    for path in ("/api/v1/seasons", "/api/v1/invoices", "/api/v1/device-profiles"):
        before = len((await client.get(path)).json()["data"])
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code == 400, (path, response.text)
        answer = response.json()
        assert answer["error"]["code"] == "malformed", (path, answer)
        assert answer["meta"]["request_id"] == "unreadable-1"
        assert len((await client.get(path)).json()["data"]) == before
    readable_but_wrong = await client.post("/api/v1/seasons", json={"name": 5})
    assert readable_but_wrong.status_code == 422, readable_but_wrong.text


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/devices/%00",
        "/api/v1/analyses/a%00b",
        "/api/v1/devices/x/telemetry?metric=a%00",
        "/brapi/v2/variants?variantSetDbId=%00",
    ],
)
async def test_a_nul_in_the_url_is_400_malformed_in_the_apis_envelope(
    client: httpx.AsyncClient, url: str
) -> None:
    """A NUL in a path id or filter once reached PostgreSQL, which cannot hold it: a 500."""
    response = await client.get(url)
    assert response.status_code == 400, response.text
    if url.startswith("/brapi/"):
        assert any("NUL" in m for m in brapi_messages(response))
    else:
        assert response.json()["error"]["code"] == "malformed"


async def test_thousands_of_field_errors_are_a_400_with_the_errors_not_a_429(
    client: httpx.AsyncClient,
) -> None:
    items = [{"germplasmName": 7, "germplasmPUI": [], "commonCropName": {}}] * 5000
    response = await client.post("/brapi/v2/germplasm", json=items)
    assert response.status_code == 400, response.text
    messages = brapi_messages(response)
    assert any(m.startswith("[0].germplasmName") for m in messages), messages[:5]
    assert messages[-1].endswith("more problems")  # the rest summarised, within bounds


async def test_a_deeply_nested_websocket_frame_is_an_error_frame_not_a_4500_close(
    stack: DevStack,
) -> None:
    url = stack.gateway_url.replace("http://", "ws://") + "/ws"
    headers = {"Authorization": f"Bearer {stack.login()}"}
    async with connect(url, additional_headers=headers) as socket:
        assert json.loads(await socket.recv())["type"] == "ready"
        await socket.send('{"type":"subscribe","events":' + "[" * 5000 + "]" * 5000 + "}")
        error = json.loads(await socket.recv())
        assert error["type"] == "error"
        assert error["error"]["code"] == "malformed"  # nested past 64: unreadable (ADR 0143)
        await socket.send('{"type":"ping"}')  # the connection is still served
        assert json.loads(await socket.recv()) == {"type": "pong"}


async def created(client: httpx.AsyncClient, path: str, key: str, item: dict[str, object]) -> str:
    response = await client.post(f"/brapi/v2{path}", json=[item])
    assert response.status_code == 200, response.text
    [document] = response.json()["result"]["data"]
    return str(document[key])


@pytest.fixture(scope="module")
async def site(client: httpx.AsyncClient) -> dict[str, str]:
    """A program, trial, study, plot and a free-text variable (named like a formula)."""
    program = await created(client, "/programs", "programDbId", {"programName": "CSV program"})
    trial = await created(
        client, "/trials", "trialDbId", {"trialName": "CSV", "programDbId": program}
    )
    study = await created(
        client, "/studies", "studyDbId", {"studyName": "CSV 2026", "trialDbId": trial}
    )
    unit = await created(
        client,
        "/observationunits",
        "observationUnitDbId",
        {
            "observationUnitName": "P1",
            "studyDbId": study,
            "observationUnitPosition": {"observationLevel": {"levelName": "plot"}},
        },
    )
    scale = await created(
        client, "/scales", "scaleDbId", {"scaleName": "Note scale", "dataType": "Text"}
    )
    trait = await created(
        client, "/traits", "traitDbId", {"traitName": "Note", "traitClass": "other"}
    )
    method = await created(
        client, "/methods", "methodDbId", {"methodName": "Note", "methodClass": "Observed"}
    )
    variable = await created(
        client,
        "/variables",
        "observationVariableDbId",
        {
            "observationVariableName": "=cmd|' /C calc'!A0",
            "trait": {"traitDbId": trait, "traitName": "Note"},
            "method": {"methodDbId": method, "methodName": "Note"},
            "scale": {"scaleDbId": scale, "scaleName": "Note scale"},
        },
    )
    return {"program": program, "study": study, "unit": unit, "variable": variable}


async def observe(client: httpx.AsyncClient, site: dict[str, str], value: str) -> None:
    observation = {
        "observationUnitDbId": site["unit"],
        "observationVariableDbId": site["variable"],
        "studyDbId": site["study"],
        "value": value,
    }
    response = await client.post("/brapi/v2/observations", json=[observation])
    assert response.status_code == 200, response.text


async def test_observation_tables_neutralise_formulas_but_keep_numbers(
    client: httpx.AsyncClient, site: dict[str, str]
) -> None:
    values = ['=HYPERLINK("http://evil.example","x")', "-3.5", "@SUM(1)", "\tTab", "+1-1"]
    for value in values:
        await observe(client, site, value)
    for accept, delimiter in (("text/csv", ","), ("text/tsv", "\t")):
        table = await client.get(
            "/brapi/v2/observations/table",
            params={"studyDbId": site["study"]},
            headers={"Accept": accept},
        )
        assert table.status_code == 200, table.text
        rows = list(csv.reader(io.StringIO(table.text), delimiter=delimiter))
        column = rows[0].index(site["variable"])
        assert rows[1][column] == "'=cmd|' /C calc'!A0"
        cells = sorted(row[column] for row in rows[2:] if row[column] != "seen live")
        assert cells == sorted(["'" + values[0], "-3.5", "'@SUM(1)", "'\tTab", "'+1-1"])


async def test_every_event_type_reaches_a_permitted_live_feed_subscriber(
    client: httpx.AsyncClient, stack: DevStack, site: dict[str, str]
) -> None:
    """``program.updated`` and ``observation.created`` once reached no /ws subscriber."""
    url = stack.gateway_url.replace("http://", "ws://") + "/ws"
    headers = {"Authorization": f"Bearer {stack.login()}"}
    async with connect(url, additional_headers=headers) as socket:
        assert json.loads(await socket.recv())["type"] == "ready"
        wanted = ["program.updated", "observation.created", "study.updated"]
        await socket.send(json.dumps({"type": "subscribe", "events": wanted}))
        assert json.loads(await socket.recv())["type"] == "subscribed"
        renamed = await client.put(
            f"/brapi/v2/programs/{site['program']}", json={"programName": "CSV program 2"}
        )
        assert renamed.status_code == 200, renamed.text
        await observe(client, site, "seen live")
        seen = set()
        async with asyncio.timeout(30):
            while seen != {"program.updated", "observation.created"}:
                frame = json.loads(await socket.recv())
                assert frame["type"] == "event", frame
                seen.add(frame["event"]["type"])


async def test_api_answers_are_nosniff_and_not_stored_and_metrics_are_not_public(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    answer = await client.get("/brapi/v2/germplasm", params={"pageSize": 1})
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    refused = await client.get(f"/brapi/v2/germplasm/{uuid.uuid4()}")
    assert refused.status_code == 404
    assert refused.headers["cache-control"] == "no-store"
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as anonymous:
        probe = await anonymous.get("/health/live")
        assert probe.headers["x-content-type-options"] == "nosniff"
        assert "no-store" not in probe.headers.get("cache-control", "")
        assert (await anonymous.get("/metrics")).status_code == 404
    metrics = await client.get(f"http://127.0.0.1:{stack.ports.gateway_metrics}/metrics")
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text


# --------------------------------------------------------------------------- mutual TLS inside


def _stranger(tmp_path: Path, service: str) -> CertificateFiles:
    """A well-formed certificate for a real service name, from a CA the platform never saw."""
    return LocalCertificateAuthority(tmp_path / "other-ca", name="Other CA").issue(service)


async def test_internal_grpc_refuses_peers_without_a_platform_certificate(
    stack: DevStack, tmp_path: Path
) -> None:
    """domain-api and identity's gRPC listeners: plaintext, certificate-less TLS and a
    certificate from another CA all fail in the handshake, before any method runs."""
    ca = stack.certificate("devstack").ca_file.read_bytes()
    stranger = _stranger(tmp_path, "gateway")
    for port in (stack.ports.domain_api, stack.ports.identity_grpc):
        target = f"127.0.0.1:{port}"
        peers = {
            "plaintext": grpc.aio.insecure_channel(target),
            "no certificate": grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(ca)),
            "another CA": grpc.aio.secure_channel(
                target,
                grpc.ssl_channel_credentials(
                    ca, stranger.key_file.read_bytes(), stranger.cert_file.read_bytes()
                ),
            ),
        }
        for peer, channel in peers.items():
            async with channel:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=5
                    )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, (port, peer)
        async with stack.grpc_channel(target) as channel:
            served = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert served.status == health_pb2.HealthCheckResponse.SERVING


async def test_the_probe_listeners_carry_health_alone(stack: DevStack) -> None:
    """Kubernetes' probes present no certificate, so domain-api and identity answer
    grpc.health.v1 in plaintext on a port of its own, and nothing else there."""
    listing = "/" + RESOURCE_SERVICE + "/List"
    for port in (stack.ports.domain_health, stack.ports.identity_health):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            served = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert served.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await channel.unary_unary(listing)(b"", timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED, port


async def test_a_valid_certificate_does_not_replace_the_token(stack: DevStack) -> None:
    """mTLS says which service is calling, never on whose behalf: domain-api still verifies
    the bearer token on every call made over an authenticated connection."""
    token = stack.login()
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    async with stack.grpc_channel(f"127.0.0.1:{stack.ports.domain_api}", "gateway") as channel:
        resources = ResourceClient(channel)
        for bad in ("", "not-a-token", forged):
            with pytest.raises(Unauthorized):
                await resources.list(bad, "germplasm", {}, PageRequest(0, 1))
        page = await resources.list(token, "germplasm", {}, PageRequest(0, 1))
        assert page.total_count > 0  # the demo data, read over mTLS with a good token


def test_identity_http_demands_a_client_certificate(stack: DevStack, tmp_path: Path) -> None:
    """The gateway → identity hop (and the worker's token calls): HTTPS that refuses a peer
    without a certificate from the platform's CA; the gateway's own route still works."""
    login = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    url = f"{stack.identity_url}/api/v1/auth/login"
    assert url.startswith("https://")
    files = stack.certificate("devstack")
    trusting = ssl.create_default_context(cafile=str(files.ca_file))
    stranger = _stranger(tmp_path, "gateway")
    impostor = ssl.create_default_context(cafile=str(files.ca_file))
    impostor.load_cert_chain(str(stranger.cert_file), str(stranger.key_file))
    for verify in (trusting, impostor):
        with pytest.raises(httpx.TransportError):
            httpx.post(url, json=login, timeout=10, verify=verify)
    with pytest.raises(httpx.TransportError):
        httpx.post(url.replace("https://", "http://"), json=login, timeout=10)
    direct = httpx.post(url, json=login, timeout=10, verify=stack.http_verify("gateway"))
    assert direct.status_code == 200, direct.text
    proxied = httpx.post(f"{stack.gateway_url}/api/v1/auth/login", json=login, timeout=10)
    assert proxied.status_code == 200, proxied.text


def test_the_token_command_signs_in_through_the_gateway(
    stack: DevStack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`just token` holds no service certificate: it asks the gateway, as clients do."""
    monkeypatch.setenv("GATEWAY_URL", stack.gateway_url)
    token(argparse.Namespace(workdir=str(tmp_path), email=DEMO_EMAIL, password=DEMO_PASSWORD))
    printed = capsys.readouterr().out.strip()
    who = httpx.get(
        f"{stack.gateway_url}/api/v1/users/me",
        headers={"Authorization": f"Bearer {printed}"},
        timeout=10,
    )
    assert who.status_code == 200, who.text


def test_one_address_starts_a_bounded_number_of_console_sign_ins(stack: DevStack) -> None:
    """A sign-in start is anonymous and keeps a pending sign-in in Redis for ten minutes:
    past ``SIGN_IN_STARTS`` an address gets 429 with ``Retry-After`` and nothing more is kept;
    an over-long ``return_to`` is not kept either (ADR 0335)."""
    redis = Redis.from_url(stack.redis_url)

    def pending() -> int:
        return len(list(redis.scan_iter(match="*:pending:*", count=1000)))

    before = pending()
    quota = SIGN_IN_STARTS
    with httpx.Client(base_url=stack.gateway_url, follow_redirects=False, timeout=10) as web:
        long_target = "/app/" + "x" * 4000
        started_at = time.monotonic()
        answers = []
        while len(answers) < quota.limit + 200 and not any(
            a.status_code == 429 for a in answers[-1:]
        ):
            answers.append(web.get("/app/auth/login", params={"return_to": long_target}))
        elapsed = time.monotonic() - started_at
    admitted = [a for a in answers if a.status_code == 302]
    refused = [a for a in answers if a.status_code == 429]
    assert len(admitted) + len(refused) == len(answers)
    # The quota, plus what its rate gave back while the requests ran (a start each
    # window/limit seconds); never more.
    assert (
        quota.limit
        <= len(admitted)
        <= quota.limit + 1 + elapsed * quota.limit / quota.window_seconds
    )
    assert answers[-1].status_code == 429  # the quota ran out
    assert all(int(answer.headers["retry-after"]) >= 1 for answer in refused)
    assert pending() - before == len(admitted)  # a refused start kept nothing
    kept = [redis.get(key) or b"" for key in redis.scan_iter(match="*:pending:*", count=1000)]
    assert max(len(value) for value in kept) < 400  # the long target was sent home, not kept
    redis.close()
