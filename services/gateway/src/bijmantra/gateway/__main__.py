"""``bijmantra-gateway``: serve the gateway with granian (graceful on SIGTERM)."""

from __future__ import annotations

import os

from bijmantra.adapters.grpc.tls import require_transport_security
from bijmantra.edge.serving import serve
from bijmantra.gateway.config import Settings


def main() -> None:
    settings = Settings.from_env()
    require_transport_security(settings.tls)
    serve(
        "bijmantra.gateway.production:create_app",
        address=os.environ.get("GATEWAY_HOST", "0.0.0.0"),
        port=settings.port,
        workers=settings.workers,
    )


if __name__ == "__main__":
    main()
