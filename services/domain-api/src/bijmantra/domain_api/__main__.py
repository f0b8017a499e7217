"""``bijmantra-domain-api [serve | export-runner | import-testdata …]``."""

from __future__ import annotations

import asyncio
import os
import sys

from bijmantra.adapters.grpc.tls import require_transport_security
from bijmantra.domain_api.bootstrap import bootstrap
from bijmantra.domain_api.config import Settings
from bijmantra.domain_api.exports_api import run_exports_until
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


async def _run_exports() -> None:
    """Only the organization export runner, as the database owner (ADR 0287)."""
    owner_url = os.environ.get("DATABASE_OWNER_URL", "")
    if not owner_url:
        sys.exit("export-runner needs DATABASE_OWNER_URL (the database owner's URL)")
    configure_logging("domain-api-export-runner", os.environ.get("LOG_LEVEL", "INFO"))
    stop = install_shutdown_handlers()
    await run_exports_until(stop, owner_url, os.environ.get("EXPORT_SCRATCH_DIR", ""))


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "serve":
        asyncio.run(_serve())
    elif command == "export-runner":
        asyncio.run(_run_exports())
    elif command == "import-testdata":
        from bijmantra.domain_api.testdata import main as import_main

        import_main(sys.argv[2:])
    else:
        sys.exit(f"unknown command {command!r}; use 'serve', 'export-runner' or 'import-testdata'")


if __name__ == "__main__":
    main()
