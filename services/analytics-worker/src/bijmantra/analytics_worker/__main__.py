"""``bijmantra-analytics-worker``."""

from __future__ import annotations

import asyncio

from bijmantra.adapters.grpc.tls import require_transport_security
from bijmantra.analytics_worker.bootstrap import bootstrap
from bijmantra.analytics_worker.config import Settings
from bijmantra.analytics_worker.production import production_adapters
from bijmantra.observability import configure_logging, install_shutdown_handlers
from bijmantra.observability.tracing_setup import configure_tracing


async def _main() -> None:
    settings = Settings.from_env()
    require_transport_security(settings.tls)
    configure_logging("analytics-worker", settings.log_level)
    tracing = configure_tracing("analytics-worker")
    try:
        stop = install_shutdown_handlers()
        worker = bootstrap(settings, await production_adapters(settings, tracing))
        await worker.run(stop)
    finally:
        tracing.shutdown()


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
