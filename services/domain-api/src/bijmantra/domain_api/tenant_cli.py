"""``bijmantra-tenant export|erase|import|move|quota``: an organization's data out, away, back
in and between placements (ADRs 0101, 0103); its own daily quotas and its usage (ADR 0340),
its own standing caps and what it stores (ADR 0343).

An operator runs it as the database owner (it needs to bypass row-level security, and only
the owner may delete audit rows); ADR 0101 says why this is a CLI and not an API yet.
``erase`` takes the archive ``export`` wrote and refuses any other, then forgets the
organization in Redis as well, and with ``--device-edge-url`` deletes its device stream on
the edge with the batches waiting there (ADR 0386). Export and erasure follow the
organization's placement;
``import --database`` places the imported organization on a registered dedicated database.
Each command first finishes or undoes an erase or import that a dead process left half done
(ADR 0286); ``recover`` does only that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from bijmantra.adapters.nats.device_stream import erase_organization_stream
from bijmantra.adapters.postgres import libpq_url
from bijmantra.adapters.postgres.placement_admin import provision_database, registered_databases
from bijmantra.adapters.postgres.placement_move import MoveError, move_organization
from bijmantra.adapters.postgres.tenant_archive import (
    ArchiveError,
    export_tenant,
)
from bijmantra.adapters.postgres.tenant_journal import OperationKind, OrganizationBusy
from bijmantra.adapters.postgres.tenant_operations import (
    erase_tenant,
    import_tenant,
    recover_operations,
)
from bijmantra.adapters.postgres.usage import organization_quotas
from bijmantra.adapters.redis.client import redis_client
from bijmantra.adapters.redis.tenant_keys import erase_tenant_keys
from bijmantra.domain.tenancy.placement import (
    PlacementDatabase,
    PlacementKind,
    dedicated_database_name,
)
from bijmantra.domain.tenancy.quotas import DailyQuotas, Resource
from bijmantra.domain.tenancy.storage import StorageCaps, StoredResource
from bijmantra.kernel import TenantId, Unavailable, ValidationFailed


async def _forget(redis_url: str, tenant: uuid.UUID) -> int:
    redis = redis_client(redis_url)
    try:
        return await erase_tenant_keys(redis, tenant)
    finally:
        await redis.aclose()


def _forget_everywhere(args: argparse.Namespace, tenant: uuid.UUID) -> dict[str, object]:
    """What an erased organization left outside PostgreSQL: its Redis keys and, when the
    edge is given, its device stream."""
    forgotten: dict[str, object] = {}
    if args.redis_url:
        forgotten["redis_keys"] = asyncio.run(_forget(args.redis_url, tenant))
    if args.device_edge_url:
        erased = erase_organization_stream(args.device_edge_url, str(tenant))
        try:
            forgotten["device_batches"] = asyncio.run(erased)
        except Unavailable as error:
            raise Unavailable(
                f"Erased, but its device stream stays: {error.message} Its batches go at their"
                " age's end and the sweep then reclaims it; or delete the stream by hand."
            ) from error
    return forgotten


def _move(url: str, args: argparse.Namespace) -> dict[str, object]:
    """Provision the dedicated database when needed, then move (fence, copy, verify, switch)."""
    target: PlacementDatabase | None = None
    if args.to == PlacementKind.DEDICATED:
        name = args.database or dedicated_database_name(TenantId(args.organization))
        target = PlacementDatabase.parse(name, args.cluster)
        provision_database(url, target)
    report = move_organization(url, args.organization, target)
    return {
        "organization": str(report.organization),
        "from": report.source,
        "to": report.target,
        "rows": report.rows,
        "sha256": report.sha256,
    }


def _registered(url: str, name: str | None) -> PlacementDatabase | None:
    """The registered dedicated database called ``name`` (``None``: the shared one)."""
    if name is None:
        return None
    for database in registered_databases(url):
        if database.name == name:
            return database
    raise ArchiveError(f"database {name} is not a registered placement")


def _limits(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> dict[Resource | StoredResource, int | None]:
    """``--set event_bytes=1000000`` and ``--clear telemetry_readings`` as limits to apply: a
    day's limit of a ``Resource`` (ADR 0340) or a standing cap of a ``stored_*`` (ADR 0343)."""
    try:
        limits: dict[Resource | StoredResource, int | None] = {_named(r): None for r in args.clear}
        for assignment in args.set:
            name, _, value = assignment.partition("=")
            resource = _named(name)
            limits[resource] = int(value)
            if isinstance(resource, Resource):
                DailyQuotas({resource: int(value)})  # a limit >= 1
            else:
                StorageCaps({resource: int(value)})  # a cap >= 0
    except ValueError as error:
        names = ", ".join([*(r.value for r in Resource), *(r.value for r in StoredResource)])
        parser.error(f"{error} (resources: {names}; limits: whole numbers >= 1, caps >= 0)")
    return limits


def _named(name: str) -> Resource | StoredResource:
    return StoredResource(name) if name.startswith("stored_") else Resource(name)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bijmantra-tenant", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_OWNER_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    parser.add_argument(
        "--device-edge-url",
        default=os.environ.get("DEVICE_NATS_INGEST_URL", ""),
        help="the device edge (domain-api's ingest login): erase deletes the device stream",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write one organization's rows to an archive")
    export.add_argument("organization", type=uuid.UUID)
    export.add_argument("archive", type=Path)
    erase = commands.add_parser("erase", help="delete an exported organization everywhere")
    erase.add_argument("organization", type=uuid.UUID)
    erase.add_argument("archive", type=Path)
    erase.add_argument("--by", required=True, help="who asked for the erasure (recorded)")
    load = commands.add_parser("import", help="load an archive as a new organization")
    load.add_argument("archive", type=Path)
    load.add_argument("--name", required=True)
    load.add_argument("--organization", type=uuid.UUID, default=None)
    load.add_argument("--database", default=None, help="a registered dedicated database")
    move = commands.add_parser("move", help="move an organization to another placement")
    move.add_argument("organization", type=uuid.UUID)
    move.add_argument("--to", required=True, choices=[k.value for k in PlacementKind])
    move.add_argument("--database", default=None, help="dedicated database name")
    move.add_argument("--cluster", default=None, help="host:port of another cluster")
    commands.add_parser("recover", help="finish or undo interrupted erases and imports")
    quota = commands.add_parser(
        "quota", help="an organization's daily limits and usage, caps and what it stores"
    )
    quota.add_argument("organization", type=uuid.UUID)
    quota.add_argument("--set", action="append", default=[], metavar="RESOURCE=LIMIT")
    quota.add_argument("--clear", action="append", default=[], metavar="RESOURCE")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or DATABASE_OWNER_URL) is required")
    url = libpq_url(args.database_url)
    try:
        # Every command first resolves what a dead process left half done (ADR 0286).
        recovered = recover_operations(url)
        for finished in recovered:
            if finished.kind is OperationKind.ERASE:
                _forget_everywhere(args, finished.organization)
        if args.command == "recover":
            result: dict[str, object] = {
                "recovered": [f"{o.kind} {o.organization}" for o in recovered]
            }
        elif args.command == "export":
            done = export_tenant(url, args.organization, args.archive)
            result = {
                "archive": str(done.path),
                "sha256": done.sha256,
                "rows": done.rows,
            }
        elif args.command == "erase":
            if not args.redis_url:
                parser.error("--redis-url (or REDIS_URL) is required to erase")
            rows = erase_tenant(url, args.organization, archive=args.archive, erased_by=args.by)
            result = {"rows": rows, **_forget_everywhere(args, args.organization)}
        elif args.command == "move":
            result = _move(url, args)
        elif args.command == "quota":
            result = organization_quotas(url, args.organization, _limits(parser, args))
        else:
            tenant = args.organization or uuid.uuid4()
            rows = import_tenant(
                url,
                args.archive,
                new_tenant=tenant,
                name=args.name,
                database=_registered(url, args.database),
            )
            result = {"organization": str(tenant), "rows": rows}
    except (ArchiveError, MoveError, OrganizationBusy) as error:
        parser.exit(2, f"bijmantra-tenant: {error}\n")
    except (ValidationFailed, Unavailable) as error:
        parser.exit(2, f"bijmantra-tenant: {error.message}\n")
    print(json.dumps(result, indent=2))
