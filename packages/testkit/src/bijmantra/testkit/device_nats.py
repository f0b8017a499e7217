"""A NATS server with its MQTT listener and an auth callout, as the device edge runs it.

Accounts: ``AUTH`` (the callout responder), ``DEVICES`` (devices, signed in by the callout,
and the platform's telemetry subscriber), ``SYS``. The responder and the subscriber are the
callout's ``auth_users`` (they sign in with a password); every other connection, each MQTT
device included, is decided by the callout. ``max_payload`` is a device batch's bound, the
same as the HTTPS body's (ADR 0306): NATS's default (1 MiB) would end the connection of a
device whose batch HTTPS accepts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from bijmantra.adapters.nats.devices import (
    DEVICE_ACCOUNT,
    MAX_PAYLOAD,
    issuer_public_key,
    new_issuer_seed,
)
from bijmantra.testkit.servers import _binary, _LocalProcess, free_port

CONFIG = """
server_name: bijmantra_devices
listen: 127.0.0.1:{port}
max_payload: {max_payload}
jetstream {{ store_dir: "{datadir}/jetstream"{store_limit} }}
mqtt {{ listen: 127.0.0.1:{mqtt_port} }}
accounts {{
  AUTH {{ users: [ {{ user: callout, password: "{callout_password}" }} ] }}
  {account} {{
    jetstream: enabled
    users: [ {{ user: ingest, password: "{ingest_password}" }} ]
  }}
  SYS {{}}
}}
system_account: SYS
authorization {{
  auth_callout {{
    issuer: {issuer}
    auth_users: [ callout, ingest ]
    account: AUTH
  }}
}}
"""


LOCAL_STREAM_BYTES = (
    64 * 1024 * 1024
)  # what a local edge keeps per stream of batches not yet stored


@dataclass
class LocalDeviceNats(_LocalProcess):
    mqtt_port: int = field(default_factory=free_port)
    issuer_seed: str = field(default_factory=new_issuer_seed)
    callout_password: str = field(default_factory=lambda: secrets.token_hex(16))
    ingest_password: str = field(default_factory=lambda: secrets.token_hex(16))
    # bytes JetStream may take (reserve) of the disk; 0: the server's own default
    max_file_store: int = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def callout_url(self) -> str:
        return f"nats://callout:{self.callout_password}@127.0.0.1:{self.port}"

    @property
    def ingest_url(self) -> str:
        return f"nats://ingest:{self.ingest_password}@127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """What domain-api needs to serve this listener's devices."""
        return {
            "DEVICE_NATS_CALLOUT_URL": self.callout_url,
            "DEVICE_NATS_INGEST_URL": self.ingest_url,
            "DEVICE_NATS_ISSUER_SEED": self.issuer_seed,
            # JetStream reserves a stream's max_bytes on the disk when it creates it: the
            # production default (4 GiB) would keep domain-api from starting on a laptop with
            # a few gigabytes free (ADR 0371).
            "DEVICE_STREAM_MAX_BYTES": str(LOCAL_STREAM_BYTES),
            "DEVICE_STREAM_MAX_BYTES_PER_ORGANIZATION": str(LOCAL_STREAM_BYTES),
        }

    def command(self) -> list[str]:
        config = Path(self.datadir) / "devices.conf"
        issuer = issuer_public_key(self.issuer_seed)
        # The template names this listener's fields: ports, data directory, passwords.
        config.write_text(
            CONFIG.format(
                **vars(self),
                account=DEVICE_ACCOUNT,
                issuer=issuer,
                max_payload=MAX_PAYLOAD,
                store_limit=f", max_file_store: {self.max_file_store}"
                if self.max_file_store
                else "",
            )
        )
        return [_binary("nats-server"), "-c", str(config)]
