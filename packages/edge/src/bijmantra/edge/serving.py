"""How both edges serve their ASGI app: granian, graceful on SIGTERM, no access log (the
request log is ours, with request ids)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from granian import Granian
from granian.constants import Interfaces


@dataclass(frozen=True, slots=True)
class ListenerCertificate:
    """The certificate and key the listener presents, and the CA callers' must chain to."""

    cert_file: Path
    key_file: Path
    ca_file: Path


def serve(
    factory: str,
    *,
    address: str,
    port: int,
    workers: int = 1,
    tls: ListenerCertificate | None = None,
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
