"""``bijmantra-analytics-worker``."""

from __future__ import annotations

import asyncio

from bijmantra.adapters.grpc.tls import require_transport_security
from bijmantra.analytics_worker.bootstrap import run
from bijmantra.analytics_worker.config import Settings
from bijmantra.observability import configure_logging, install_shutdown_handlers
from bijmantra.observability.tracing_setup import configure_tracing


async def _main() -> None:
    settings = Settings.from_env()
    require_transport_security(settings.tls)
    configure_logging("analytics-worker", settings.log_level)
    tracing = configure_tracing("analytics-worker")
    try:
        await run(settings, install_shutdown_handlers(), tracing)
    finally:
        tracing.shutdown()


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
