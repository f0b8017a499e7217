"""``bijmantra-domain-api [serve | import-testdata …]``."""

from __future__ import annotations

import asyncio
import sys

from bijmantra.adapters.grpc.tls import require_transport_security
from bijmantra.domain_api.bootstrap import bootstrap
from bijmantra.domain_api.config import Settings
from bijmantra.domain_api.production import production_adapters
from bijmantra.observability import configure_logging, install_shutdown_handlers
from bijmantra.observability.tracing_setup import configure_tracing


async def _serve() -> None:
    settings = Settings.from_env()
    require_transport_security(settings.tls)
    configure_logging("domain-api", settings.log_level)
    tracing = configure_tracing("domain-api")
    stop = install_shutdown_handlers()
    app = await bootstrap(settings, await production_adapters(settings, tracing), tracing)
    try:
        await app.serve(stop)
    finally:
        tracing.shutdown()


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "serve":
        asyncio.run(_serve())
    elif command == "import-testdata":
        from bijmantra.domain_api.testdata import main as import_main

        import_main(sys.argv[2:])
    else:
        sys.exit(f"unknown command {command!r}; use 'serve' or 'import-testdata'")


if __name__ == "__main__":
    main()
