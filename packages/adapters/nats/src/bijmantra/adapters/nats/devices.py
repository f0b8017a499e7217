"""Devices over MQTT 3.1.1 through a NATS server's own MQTT listener (ADR 0207).

* ``DeviceAuthCallout`` answers the server's auth callout (``$SYS.REQ.USER.AUTH``): the MQTT
  password is the device credential; ``authenticate`` (domain-api's use case) says whose it
  is, and the answer is a user JWT, signed with the issuing account's nkey, that may publish
  on its own topic only (``bijmantra/t/<organization>/<device>``, NATS subject
  ``bijmantra.t.<organization>.<device>``) and subscribe to nothing, under MQTT client id
  ``<device>`` only (ADR 0348). Asked at every connect,
  so a revoked or wrong credential is refused at connect with nothing restarted.
* ``DeviceTelemetryBridge`` subscribes to every device subject (a queue group, so replicas
  share the work) and hands each message, with the organization and device its subject
  names, to the ingestion use case: several batches at once, one device's in order.
  Revocation also stops a live connection's batches there.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import nkeys
from bijmantra.kernel import BijmantraError, TenantId, Unauthorized
from bijmantra.observability import get_logger

from nats.aio.client import Client
from nats.aio.msg import Msg

log = get_logger(__name__)
CALLOUT_SUBJECT = "$SYS.REQ.USER.AUTH"
DEVICE_SUBJECTS = "bijmantra.t.*.*"
DEVICE_QUEUE = "bijmantra-telemetry"
DEVICE_ACCOUNT = "DEVICES"
# A batch's bound in bytes, as on HTTPS (the gateway's ``TELEMETRY_BODY``). The listener's
# ``max_payload`` must be set to it too; a PUBLISH over it ends that device's connection,
# the one refusal MQTT 3.1.1 has (ADR 0306).
MAX_PAYLOAD = 4 * 1024 * 1024
# Batches waiting in the bridge, in bytes: all organizations' (nats-py's default bound on a
# subscription's pending messages, which the bridge now keeps itself) and one's (eight full
# batches; thousands of a device's usual few kilobytes). ADR 0348.
MAX_QUEUED_BYTES = 128 * 1024 * 1024
MAX_QUEUED_BYTES_PER_ORGANIZATION = 32 * 1024 * 1024
Authenticate = Callable[[str], Awaitable[tuple[str, str]]]  # credential -> (tenant, device)
# tenant, device, batch, and the batch's turn among its device's (held around its transaction)
Ingest = Callable[[TenantId, str, bytes, AbstractAsyncContextManager[None]], Awaitable[Any]]


def device_subject(tenant_id: str, device_id: str) -> str:
    return f"bijmantra.t.{tenant_id}.{device_id}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: bytes) -> dict[str, Any]:
    body = token.split(b".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
    return claims


class JwtSigner:
    """NATS JWTs (``ed25519-nkey``) signed by an account nkey seed."""

    def __init__(self, seed: str) -> None:
        self._keys = nkeys.from_seed(bytearray(seed.encode()))
        self.issuer = self._keys.public_key.decode()

    def sign(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
        now = int(time.time())
        body = _b64(
            json.dumps(
                {"jti": secrets.token_hex(16), "iat": now, "iss": self.issuer, **claims}
            ).encode()
        )
        signature = self._keys.sign(f"{header}.{body}".encode())
        return f"{header}.{body}.{_b64(signature)}"


def new_issuer_seed() -> str:
    """A fresh account nkey seed (local stacks and tests; production keeps one in a secret)."""
    return bytes(nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_ACCOUNT)).decode()


def issuer_public_key(seed: str) -> str:
    return str(JwtSigner(seed).issuer)


class DeviceAuthCallout:
    def __init__(self, nc: Client, signer: JwtSigner, authenticate: Authenticate) -> None:
        self._nc, self._signer, self._authenticate = nc, signer, authenticate

    async def start(self) -> None:
        await self._nc.subscribe(CALLOUT_SUBJECT, cb=self._answer)

    async def _answer(self, msg: Msg) -> None:
        request = _claims(msg.data)["nats"]
        user_nkey, server = request["user_nkey"], request["server_id"]["id"]
        credential = str(request.get("connect_opts", {}).get("pass") or "")
        reply: dict[str, Any] = {"type": "authorization_response", "version": 2}
        try:
            tenant, device = await self._authenticate(credential)
            _check_client_id(request.get("client_info") or {}, device)
        except BijmantraError as error:
            reply["error"] = error.message
            log.info("device connection refused", reason=error.message)
        else:
            subject = device_subject(tenant, device)
            reply["jwt"] = self._signer.sign(
                {
                    "name": device,
                    "sub": user_nkey,
                    "aud": DEVICE_ACCOUNT,
                    "nats": {
                        "pub": {"allow": [subject]},
                        "sub": {"deny": [">"]},
                        "subs": 10,
                        "data": -1,
                        "payload": MAX_PAYLOAD,
                        "type": "user",
                        "version": 2,
                    },
                }
            )
        await msg.respond(
            self._signer.sign({"aud": server, "sub": user_nkey, "nats": reply}).encode()
        )


def _check_client_id(client: dict[str, Any], device: str) -> None:
    """An MQTT connection's client id must be its device's id. Every device signs in to one
    account, where a client id is unique: a new connection with an id in use ends the one
    that holds it (MQTT's takeover). A device chose its id freely, so another
    organization's device, or a firmware's default id shared by many, ended its connection
    at every reconnect (ADR 0348). Its own id, the takeover is only its own reconnection."""
    if client.get("type") == "mqtt" and client.get("mqtt_id") != device:
        raise Unauthorized("The MQTT client id must be the device id")


class DeviceTurns:
    """Per device, the order its batches arrived in: each batch's transaction waits for the
    previous batch of the same device to finish, so a device's batches commit (and their
    events go out) in arrival order, while other devices' batches, and the decoding of
    this device's next ones, run meanwhile (ADR 0294)."""

    def __init__(self) -> None:
        self._last: dict[str, asyncio.Future[None]] = {}

    def reserve(self, device: str) -> DeviceTurn:
        """Take the next place in ``device``'s line (call in arrival order)."""
        done = asyncio.get_running_loop().create_future()
        previous, self._last[device] = self._last.get(device), done
        return DeviceTurn(self._last, device, previous, done)


class DeviceTurn(AbstractAsyncContextManager[None]):
    """One batch's place in its device's line: ``async with`` waits for the batches ahead."""

    def __init__(
        self,
        lines: dict[str, asyncio.Future[None]],
        device: str,
        previous: asyncio.Future[None] | None,
        done: asyncio.Future[None],
    ) -> None:
        self._lines, self._device = lines, device
        self._previous, self._done = previous, done

    async def __aenter__(self) -> None:
        if self._previous is not None:
            await asyncio.shield(self._previous)

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def finish(self) -> None:
        """Let the next batch go: after the one ahead, even if this batch never took its turn
        (refused before its transaction), so no batch overtakes another of its device."""
        if self._previous is not None:
            await asyncio.shield(self._previous)
        self._done.set_result(None)
        if self._lines.get(self._device) is self._done:
            del self._lines[self._device]


class DeviceTelemetryBridge:
    """Up to ``in_flight`` batches at once; a device's own batches keep their order
    (``DeviceTurns``), and organizations take turns (ADR 0348).

    The subscription's callback never waits: it puts each batch in its organization's line,
    and ``in_flight`` runners take one batch from each organization with batches waiting in
    turn. A line holds at most ``max_queued_per_organization`` bytes and all lines together
    ``max_queued`` (nats-py's own bound on a subscription's pending messages): a batch
    beyond either is dropped and logged. Before, the callback waited for a free place, so one
    organization's flood queued ahead of every other's batches in the client's buffer, and
    once that held 128 MiB the client dropped whatever came next, whoever sent it."""

    def __init__(
        self,
        nc: Client,
        ingest: Ingest,
        *,
        in_flight: int = 4,
        max_queued: int = MAX_QUEUED_BYTES,
        max_queued_per_organization: int = MAX_QUEUED_BYTES_PER_ORGANIZATION,
    ) -> None:
        self._nc, self._ingest = nc, ingest
        self._in_flight = in_flight
        self._max_queued, self._max_own = max_queued, max_queued_per_organization
        self._turns = DeviceTurns()
        self._lines: dict[str, deque[tuple[str, bytes, DeviceTurn]]] = {}
        self._ready: deque[str] = deque()  # organizations with batches waiting, in turn
        self._waiting = asyncio.Semaphore(0)  # one release per batch in a line
        self._held: dict[str, int] = {}  # bytes per organization, queued or being stored
        self._held_total = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._runners: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._runners = [asyncio.create_task(self._runner()) for _ in range(self._in_flight)]
        await self._nc.subscribe(DEVICE_SUBJECTS, queue=DEVICE_QUEUE, cb=self._deliver)

    async def _deliver(self, msg: Msg) -> None:
        subject, data = msg.subject, msg.data
        organization = subject.split(".")[2]  # the subject matched bijmantra.t.*.*
        size = len(data)
        own = self._held.get(organization, 0)
        if own + size > self._max_own or self._held_total + size > self._max_queued:
            log.warning(
                "device batch dropped: too many waiting",
                organization=organization,
                device=subject.rsplit(".", 1)[1],
                organization_bytes=own,
                all_bytes=self._held_total,
            )
            return
        self._held[organization] = own + size
        self._held_total += size
        self._idle.clear()
        line = self._lines.get(organization)
        if line is None:
            line = self._lines[organization] = deque()
            self._ready.append(organization)
        line.append((subject, data, self._turns.reserve(subject)))
        self._waiting.release()

    async def _runner(self) -> None:
        while True:
            await self._waiting.acquire()
            organization = self._ready.popleft()
            line = self._lines[organization]
            subject, data, turn = line.popleft()
            if line:
                self._ready.append(organization)  # its next batch after the others' turn
            else:
                del self._lines[organization]
            try:
                await self._run(subject, data, turn)
            finally:
                self._release(organization, len(data))

    def _release(self, organization: str, size: int) -> None:
        left = self._held[organization] - size
        if left:
            self._held[organization] = left
        else:
            del self._held[organization]
        self._held_total -= size
        if not self._held_total:
            self._idle.set()

    async def _run(self, subject: str, data: bytes, turn: DeviceTurn) -> None:
        _, _, tenant, device = subject.split(".")
        try:
            await self._ingest(TenantId(uuid.UUID(tenant)), device, data, turn)
        except (BijmantraError, ValueError) as error:
            # The publisher is a device, not a caller: nothing to answer; keep the reason.
            log.info("device batch refused", device=device, reason=str(error))
        except Exception:
            log.exception("device batch failed", device=device)
        finally:
            await turn.finish()

    async def finish(self) -> None:
        """Store the batches waiting and in flight (after the subscription is drained)."""
        await self._idle.wait()
        for runner in self._runners:
            runner.cancel()
        await asyncio.gather(*self._runners, return_exceptions=True)
