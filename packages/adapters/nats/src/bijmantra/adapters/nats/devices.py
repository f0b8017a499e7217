"""Devices over MQTT 3.1.1 through a NATS server's own MQTT listener (ADR 0207).

* ``DeviceAuthCallout`` answers the server's auth callout (``$SYS.REQ.USER.AUTH``): the MQTT
  password is the device credential; ``authenticate`` (domain-api's use case) says whose it
  is, and the answer is a user JWT, signed with the issuing account's nkey, that may publish
  on its own topic only (``bijmantra/t/<organization>/<device>``, NATS subject
  ``bijmantra.t.<organization>.<device>``) and subscribe to nothing, under MQTT client id
  ``<device>`` only (ADR 0348). Asked at every connect,
  so a revoked or wrong credential is refused at connect with nothing restarted.
* What devices publish is kept on the edge's ``DEVICE_TELEMETRY`` stream until stored
  (``device_stream``) and stored by ``device_bridge.DeviceTelemetryBridge`` (ADR 0371).
  Revocation also stops a live connection's batches there.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nkeys
from bijmantra.kernel import BijmantraError, Unauthorized
from bijmantra.observability import get_logger

from nats.aio.client import Client
from nats.aio.msg import Msg

log = get_logger(__name__)
CALLOUT_SUBJECT = "$SYS.REQ.USER.AUTH"
DEVICE_SUBJECTS = "bijmantra.t.*.*"
DEVICE_ACCOUNT = "DEVICES"
# A batch's bound in bytes, as on HTTPS (the gateway's ``TELEMETRY_BODY``). The listener's
# ``max_payload`` must be set to it too; a PUBLISH over it ends that device's connection,
# the one refusal MQTT 3.1.1 has (ADR 0306).
MAX_PAYLOAD = 4 * 1024 * 1024
Authenticate = Callable[[str], Awaitable[tuple[str, str]]]  # credential -> (tenant, device)
Admit = Callable[[str], Awaitable[None]]  # tenant -> None, or a refusal (``BijmantraError``)


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
    """``admit``: asked of the device's organization before it is let in (its stream on the
    edge is made and has room, ADR 0386)."""

    def __init__(
        self, nc: Client, signer: JwtSigner, authenticate: Authenticate, admit: Admit | None = None
    ) -> None:
        self._nc, self._signer, self._authenticate = nc, signer, authenticate
        self._admit = admit

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
            if self._admit is not None:
                await self._admit(tenant)
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
