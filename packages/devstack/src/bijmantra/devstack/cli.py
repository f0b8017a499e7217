"""``bijmantra``: the developer's command line (``up``, ``token``)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from bijmantra.devstack import backups
from bijmantra.devstack.ports import Ports
from bijmantra.devstack.stack import (
    DEDICATED_DEMO_DATABASE,
    DEDICATED_DEMO_EMAIL,
    DEDICATED_DEMO_ORGANIZATION_ID,
    DEMO_EMAIL,
    DEMO_ORGANIZATION_ID,
    DEMO_PASSWORD,
    DevStack,
)
from tqdm import tqdm
from tqdm.utils import CallbackIOWrapper

IMPORTS = "/api/v1/genotypes/imports"
UPLOAD_PIECE = 1 << 20


def up(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    stack = DevStack(
        workdir,
        Ports(gateway=int(os.environ.get("GATEWAY_PORT", "8000"))),
        log_dir=workdir / "logs",
        backup_dir=workdir / "backups",
        dedicated_org=args.dedicated_org or os.environ.get("BIJMANTRA_DEDICATED_ORG") == "1",
        device_edge=True,
    )

    def on_signal(signum: int, _: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(
            "Starting PostgreSQL, NATS (JetStream), the device NATS (MQTT), Redis and the "
            "mail catcher …",
            flush=True,
        )
        stack.start_servers()
        print("Migrated. Loading demo data …", flush=True)
        stack.seed(testdata=not args.no_demo_data)
        print("Starting identity, domain-api, analytics-worker, gateway …", flush=True)
        stack.start_services()
        assert stack.database is not None
        tls = (
            f"{workdir / 'tls'}   (mutual TLS between the services, a certificate each)"
            if stack.tls
            else "off (INTERNAL_TLS=off: the services talk plaintext)"
        )
        state = {
            "identity_url": stack.identity_url,
            "gateway_url": stack.gateway_url,
            "owner_url": stack.database.owner_url,
        }
        (workdir / "stack.json").write_text(json.dumps(state))
        print(
            f"\nBijmantra is up: {stack.gateway_url}\n"
            f"  BrAPI:  {stack.gateway_url}/brapi/v2/serverinfo\n"
            f"  Login:  {DEMO_EMAIL} / {DEMO_PASSWORD} (organization {DEMO_ORGANIZATION_ID})\n"
            + (
                f"  Login:  {DEDICATED_DEMO_EMAIL} / {DEMO_PASSWORD} (organization "
                f"{DEDICATED_DEMO_ORGANIZATION_ID}, in database {DEDICATED_DEMO_DATABASE.name})\n"
                if stack.dedicated_org
                else ""
            )
            + f"  Token:  just token   (or: uv run bijmantra token)\n"
            f"  MQTT:   {stack.mqtt_address}   (devices: client id <device>, user any, password ="
            " device credential, topic bijmantra/t/<organization>/<device>)\n"
            f"  Mail:   {stack.maildir / 'new' if stack.maildir else stack.smtp_host}"
            "   (every message the platform sends, one file each)\n"
            f"  TLS:    {tls}\n"
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
        # A second Ctrl-C (or one forwarded again by a wrapper) must not cut the shutdown
        # short and leave servers running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        (workdir / "stack.json").unlink(missing_ok=True)


def token(args: argparse.Namespace) -> None:
    """Signs in through the gateway, as every client does (identity's own listener asks
    for a service certificate, ADR 0176)."""
    state = Path(args.workdir) / "stack.json"
    gateway = os.environ.get("GATEWAY_URL") or (
        json.loads(state.read_text())["gateway_url"] if state.exists() else None
    )
    if gateway is None:
        sys.exit("Is `just up` running? (no .bijmantra/stack.json; or set GATEWAY_URL)")
    response = httpx.post(
        f"{gateway}/api/v1/auth/login",
        json={"email": args.email, "password": args.password},
        timeout=10,
    )
    response.raise_for_status()
    print(response.json()["data"]["access_token"])


def _access_token(args: argparse.Namespace) -> str:
    if args.token or os.environ.get("BIJMANTRA_TOKEN"):
        return str(args.token or os.environ["BIJMANTRA_TOKEN"])
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        token(args)
    return captured.getvalue().strip()


def _chunks(path: Path, bar: tqdm[Any]) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while piece := handle.read(UPLOAD_PIECE):
            bar.update(len(piece))
            yield piece


def import_genotypes(args: argparse.Namespace) -> None:
    """Upload a VCF (plain or bgzipped) or a PLINK .bed/.bim/.fam set with a progress bar."""
    path = Path(args.file)
    plink = path.suffix == ".bed"
    files = [path, path.with_suffix(".bim"), path.with_suffix(".fam")] if plink else [path]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        sys.exit(f"not found: {', '.join(missing)}")
    params = {"name": args.name or path.name, "commonCropName": args.crop}
    headers = {"Authorization": f"Bearer {_access_token(args)}"}
    with (
        tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=path.name) as bar,
        httpx.Client(
            base_url=args.gateway, timeout=httpx.Timeout(30, read=3600), headers=headers
        ) as client,
    ):
        if plink:
            with files[0].open("rb") as bed:
                parts = {
                    "bed": (files[0].name, CallbackIOWrapper(bar.update, bed, "read")),
                    "bim": (files[1].name, files[1].read_bytes()),
                    "fam": (files[2].name, files[2].read_bytes()),
                }
                response = client.post(IMPORTS, params=params, files=parts)
        else:
            response = client.post(IMPORTS, params=params, content=_chunks(path, bar))
    body = response.json()
    if response.status_code >= 400:
        sys.exit(f"import failed ({response.status_code}): {body['error']['message']}")
    summary = body["data"]
    skipped = (
        ", ".join(f"{k}: {v}" for k, v in sorted(summary["variantsSkipped"].items())) or "none"
    )
    print(
        f"variant set {summary['variantSetDbId']}: {summary['variantsImported']} variants x "
        f"{summary['samplesImported']} samples imported; skipped {skipped}; germplasm matched "
        f"{summary['germplasmMatched']}, created {summary['germplasmCreated']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="bijmantra")
    parser.add_argument("--workdir", default=".bijmantra")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start the whole platform locally")
    start.add_argument("--no-demo-data", action="store_true")
    start.add_argument(
        "--dedicated-org",
        action="store_true",
        help="also seed a second organization on a database of its own "
        "(or BIJMANTRA_DEDICATED_ORG=1)",
    )
    start.set_defaults(run=up)
    fetch = commands.add_parser("token", help="print an access token for the demo user")
    fetch.add_argument("--email", default=DEMO_EMAIL)
    fetch.add_argument("--password", default=DEMO_PASSWORD)
    fetch.set_defaults(run=token)
    genotypes = commands.add_parser(
        "import-genotypes", help="upload a VCF or PLINK .bed (with .bim/.fam)"
    )
    genotypes.add_argument(
        "file", help="file.vcf, file.vcf.gz, or file.bed next to file.bim and file.fam"
    )
    genotypes.add_argument("--name", help="variant set name (default: the file name)")
    genotypes.add_argument(
        "--crop", required=True, help="crop of germplasm created for new samples"
    )
    genotypes.add_argument(
        "--gateway", default=os.environ.get("GATEWAY_URL", "http://127.0.0.1:8000")
    )
    genotypes.add_argument(
        "--token", help="access token (default: $BIJMANTRA_TOKEN, else log in as --email)"
    )
    genotypes.add_argument("--email", default=DEMO_EMAIL)
    genotypes.add_argument("--password", default=DEMO_PASSWORD)
    genotypes.set_defaults(run=import_genotypes)
    commands.add_parser(
        "backup", help="take and verify a base backup of the running local database"
    ).set_defaults(run=backups.backup)
    restoring = commands.add_parser(
        "restore", help="restore the local database to a point in time (platform stopped)"
    )
    restoring.add_argument(
        "--to", type=backups.aware_time, help="ISO time with zone; default: end of the archive"
    )
    restoring.set_defaults(run=backups.restore)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
