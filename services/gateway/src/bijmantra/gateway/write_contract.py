"""Write the committed contract, ``api-contracts/openapi.json``, from a freshly built app.

``python -m bijmantra.gateway.write_contract [path]``; a test fails when the file is stale.
It stands beside ``production``, outside the ``contract`` package that ``production`` imports.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bijmantra.gateway.config import Settings
from bijmantra.gateway.contract import document, render
from bijmantra.gateway.production import create_app


def main() -> None:
    # Building the app opens no connection; the console only insists that Redis is configured.
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "api-contracts/openapi.json")
    target.write_bytes(render(document(create_app(Settings.from_env()))))


if __name__ == "__main__":
    main()
