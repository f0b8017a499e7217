"""How both edges serve their ASGI app: granian, graceful on SIGTERM, no access log (the
request log is ours, with request ids)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from granian import Granian
from granian.constants import Interfaces


class CertificateFiles(Protocol):
    """A service's certificate for mutual TLS (``adapters.grpc.tls.InternalTls``)."""

    @property
    def ca_file(self) -> Path: ...
    @property
    def cert_file(self) -> Path: ...
    @property
    def key_file(self) -> Path: ...


def serve(
    factory: str,
    *,
    address: str,
    port: int,
    workers: int = 1,
    tls: CertificateFiles | None = None,
) -> None:
    """Serve ``factory`` (``module:function`` building the app) until SIGTERM. With ``tls`` the
    listener demands the caller's certificate too: a peer without one from the internal CA
    fails the handshake (ADR 0176)."""
    Granian(
        factory,
        factory=True,
        interface=Interfaces.ASGI,
        address=address,
        port=port,
        workers=workers,
        log_access=False,
        ssl_cert=tls.cert_file if tls else None,
        ssl_key=tls.key_file if tls else None,
        ssl_ca=tls.ca_file if tls else None,
        ssl_client_verify=tls is not None,
    ).serve()
