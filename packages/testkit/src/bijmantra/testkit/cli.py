"""``bijmantra``: the developer's command line (``up``, ``token``)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

from bijmantra.testkit.devstack import DEMO_EMAIL, DEMO_ORGANIZATION_ID, DEMO_PASSWORD, DevStack, Ports

STATE_FILE = ".bijmantra/stack.json"


def up(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    stack = DevStack(workdir, Ports(gateway=int(os.environ.get("GATEWAY_PORT", "8000"))), log_dir=workdir / "logs")

    def on_signal(signum: int, _: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print("Starting PostgreSQL, NATS (JetStream) and Redis …", flush=True)
        stack.start_servers()
        print("Migrated. Loading demo data …", flush=True)
        stack.seed(testdata=not args.no_demo_data)
        print("Starting identity, domain-api, analytics-worker, gateway …", flush=True)
        stack.start_services()
        (workdir / "stack.json").write_text(json.dumps({"identity_url": stack.identity_url}))
        print(
            f"\nBijmantra is up: {stack.gateway_url}\n"
            f"  BrAPI:  {stack.gateway_url}/brapi/v2/serverinfo\n"
            f"  Login:  {DEMO_EMAIL} / {DEMO_PASSWORD} (organization {DEMO_ORGANIZATION_ID})\n"
            f"  Token:  just token   (or: uv run bijmantra token)\n"
            f"  Logs:   {workdir / 'logs'}\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        while all(p.poll() is None for p in stack.services.values()):
            time.sleep(1.0)
        dead = [n for n, p in stack.services.items() if p.poll() is not None]
        print(f"service(s) exited: {', '.join(dead)}; see {workdir / 'logs'}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nStopping …", flush=True)
    finally:
        stack.stop()
        (workdir / "stack.json").unlink(missing_ok=True)


def token(args: argparse.Namespace) -> None:
    state = Path(args.workdir) / "stack.json"
    identity = os.environ.get("IDENTITY_URL") or (
        json.loads(state.read_text())["identity_url"] if state.exists() else None
    )
    if identity is None:
        sys.exit("Is `just up` running? (no .bijmantra/stack.json; or set IDENTITY_URL)")
    body = json.dumps({"email": args.email, "password": args.password}).encode()
    request = urllib.request.Request(
        f"{identity}/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (local identity URL)
        print(json.load(response)["data"]["access_token"])


def main() -> None:
    parser = argparse.ArgumentParser(prog="bijmantra")
    parser.add_argument("--workdir", default=".bijmantra")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start the whole platform locally")
    start.add_argument("--no-demo-data", action="store_true")
    start.set_defaults(run=up)
    fetch = commands.add_parser("token", help="print an access token for the demo user")
    fetch.add_argument("--email", default=DEMO_EMAIL)
    fetch.add_argument("--password", default=DEMO_PASSWORD)
    fetch.set_defaults(run=token)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
