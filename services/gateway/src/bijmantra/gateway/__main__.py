"""``bijmantra-gateway``: serve the gateway with granian (graceful on SIGTERM)."""

from __future__ import annotations

import os

from bijmantra.adapters.grpc.tls import require_transport_security
from bijmantra.gateway.config import Settings
from granian import Granian
from granian.constants import Interfaces


def main() -> None:
    settings = Settings.from_env()
    require_transport_security(settings.tls)
    Granian(
        "bijmantra.gateway.production:create_app",
        factory=True,
        interface=Interfaces.ASGI,
        address=os.environ.get("GATEWAY_HOST", "0.0.0.0"),
        port=settings.port,
        workers=settings.workers,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main()
