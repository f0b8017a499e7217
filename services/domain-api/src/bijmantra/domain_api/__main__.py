"""``bijmantra-domain-api [serve | import-testdata …]``."""

from __future__ import annotations

import asyncio
import sys

from bijmantra.domain_api.bootstrap import bootstrap
from bijmantra.domain_api.config import Settings
from bijmantra.observability import configure_logging, install_shutdown_handlers


async def _serve() -> None:
    settings = Settings.from_env()
    configure_logging("domain-api", settings.log_level)
    stop = install_shutdown_handlers()
    app = await bootstrap(settings)
    await app.serve(stop)


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
