"""Mutual TLS between the services (ADR 0176): every internal listener demands a certificate
signed by the platform's CA, every client presents its own and checks the server's.

The files come from the environment (``TLS_CA_FILE``, ``TLS_CERT_FILE``, ``TLS_KEY_FILE``);
a process without them refuses to start unless ``INTERNAL_TLS=off`` says, on purpose, that
it runs without (a laptop, a test). Tokens are verified on top either way.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grpc_health.v1 import health_pb2_grpc

import grpc

INSECURE = "off"


class TransportSecurityMissing(RuntimeError):
    """Certificates are required and none were configured."""


@dataclass(frozen=True)
class InternalTls:
    """One service's certificate, its key, and the CA its peers' certificates must chain to."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InternalTls | None:
        """The configured files, or None when they are not all three set."""
        env = os.environ if env is None else env
        files = [env.get(name, "") for name in ("TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE")]
        return cls(*(Path(f) for f in files)) if all(files) else None

    def _pem(self) -> tuple[bytes, bytes, bytes]:
        return self.ca_file.read_bytes(), self.cert_file.read_bytes(), self.key_file.read_bytes()

    def server_credentials(self) -> grpc.ServerCredentials:
        ca, cert, key = self._pem()
        return grpc.ssl_server_credentials([(key, cert)], ca, require_client_auth=True)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        ca, cert, key = self._pem()
        return grpc.ssl_channel_credentials(ca, key, cert)

    def client_ssl_context(self) -> ssl.SSLContext:
        """For HTTP clients of identity (httpx): verify identity, present our certificate."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context


def require_transport_security(
    tls: InternalTls | None, env: Mapping[str, str] | None = None
) -> None:
    """Called before a service serves: without certificates it refuses to start unless
    ``INTERNAL_TLS=off`` says, on purpose, that it runs without (a laptop, a test). An
    unprotected hop must be a decision, not an accident of a missing variable."""
    env = os.environ if env is None else env
    if tls is None and env.get("INTERNAL_TLS", "").strip().lower() != INSECURE:
        raise TransportSecurityMissing(
            "internal mutual TLS needs TLS_CA_FILE, TLS_CERT_FILE and TLS_KEY_FILE "
            f"(set INTERNAL_TLS={INSECURE} to run without, for local development only)"
        )
    if tls is not None:
        for path in (tls.ca_file, tls.cert_file, tls.key_file):
            if not path.is_file():
                raise TransportSecurityMissing(f"TLS file {path} does not exist")


def open_channel(
    target: str,
    tls: InternalTls | None,
    *,
    options: Sequence[tuple[str, Any]] | None = None,
    interceptors: Sequence[Any] | None = None,
) -> grpc.aio.Channel:
    """A channel to another service: mutual TLS when configured, else plaintext (dev only)."""
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(
        target, tls.channel_credentials(), options=options, interceptors=interceptors
    )


# gRPC sets SO_REUSEPORT by default: a second server binding a taken port succeeds and the
# kernel splits connections between them. A plaintext probe listener that drew the same port
# as a mutual-TLS one then answered half of its handshakes (seen in CI as "WRONG_VERSION_NUMBER"
# from identity's port). Every server we start owns its port, or fails to bind.
SERVER_OPTIONS: list[tuple[str, Any]] = [("grpc.so_reuseport", 0)]


def add_listener(server: grpc.aio.Server, address: str, tls: InternalTls | None) -> int:
    """Bind ``server`` to ``address``; with TLS, a peer without a certificate from our CA
    fails the handshake before any method (or token check) runs."""
    if tls is None:
        return int(server.add_insecure_port(address))
    return int(server.add_secure_port(address, tls.server_credentials()))


async def start_probe_listener(health: Any, host: str, port: int) -> grpc.aio.Server | None:
    """Kubernetes' gRPC probes present no certificate: a plaintext listener that carries
    grpc.health.v1 alone, answering from the same servicer as the mutual-TLS one (so it
    reports draining and a lost database alike). Port 0: none."""
    if not port:
        return None
    server = grpc.aio.server(options=SERVER_OPTIONS)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    return server


def http_verify(tls: InternalTls | None) -> ssl.SSLContext | bool:
    """httpx's ``verify=`` for a client of identity's HTTP listener."""
    return True if tls is None else tls.client_ssl_context()
