"""``bijmantra-tenant move`` as an operator runs it, on real PostgreSQL (ADR 0103).

The organization goes to a database of its own (provisioned on the way) and back; an export
while it is away has the same per-table checksums as one at home (export follows the
placement); a database name unsafe in DDL is refused before anything is created.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest
from bijmantra.adapters.postgres.placement_move import current_placement
from bijmantra.adapters.postgres.tenant_archive import read_manifest
from bijmantra.domain_api.tenant_cli import main as tenant_cli
from bijmantra.testkit.provision import ProvisionedDatabase

pytestmark = pytest.mark.integration


def _databases(owner_url: str) -> set[str]:
    with psycopg.connect(owner_url) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}


def _checksums(archive: Path) -> dict[str, str]:
    return {e["table"]: e["sha256"] for e in read_manifest(archive)["tables"]}


def test_move_there_and_back_and_export_from_either_place(
    database: ProvisionedDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = database.owner_url
    organization = uuid.uuid4()
    with psycopg.connect(owner) as conn:
        conn.execute(
            "INSERT INTO identity.organizations (id, name) VALUES (%s, %s)",
            (organization, f"Org {organization.hex[:8]}"),
        )
    cli = ["--database-url", owner]

    tenant_cli([*cli, "move", str(organization), "--to", "dedicated"])
    moved = json.loads(capsys.readouterr().out)
    placed = current_placement(owner, organization)
    assert placed is not None
    assert moved["to"] == placed.name
    assert placed.name in _databases(owner)

    away = tmp_path / "away.tar"
    tenant_cli([*cli, "export", str(organization), str(away)])
    capsys.readouterr()

    tenant_cli([*cli, "move", str(organization), "--to", "shared"])
    assert json.loads(capsys.readouterr().out)["to"] == "(shared)"
    assert current_placement(owner, organization) is None
    home = tmp_path / "home.tar"
    tenant_cli([*cli, "export", str(organization), str(home)])
    assert _checksums(away) == _checksums(home)


def test_an_unsafe_database_name_is_refused_and_nothing_is_created(
    database: ProvisionedDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _databases(database.owner_url)
    organization = str(uuid.uuid4())
    with pytest.raises(SystemExit) as refused:
        tenant_cli(
            [
                "--database-url",
                database.owner_url,
                "move",
                organization,
                "--to",
                "dedicated",
                "--database",
                'x"; DROP DATABASE postgres; --',
            ]
        )
    assert refused.value.code == 2
    assert "database name" in capsys.readouterr().err
    assert _databases(database.owner_url) == before
    assert current_placement(database.owner_url, uuid.UUID(organization)) is None
