"""Placement values (ADR 0102): database names safe for DDL, clusters without credentials."""

from __future__ import annotations

import uuid

import pytest
from bijmantra.domain.tenancy.placement import (
    Placement,
    PlacementDatabase,
    PlacementKind,
    dedicated_database_name,
)
from bijmantra.kernel import TenantId, ValidationFailed
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    "name", ["", "Org", "1org", "org-one", "org one", "x" * 64, 'org"; DROP DATABASE x; --']
)
def test_names_unsafe_in_ddl_are_refused(name: str) -> None:
    with pytest.raises(ValidationFailed):
        PlacementDatabase.parse(name)


@pytest.mark.parametrize(
    "cluster",
    [
        "user:secret@db.example.org:5432",
        "postgresql://db.example.org:5432",
        "db.example.org",
        "db.example.org:0",
        "db.example.org:70000",
        "db.example.org:5432/other",
    ],
)
def test_a_cluster_is_host_and_port_only(cluster: str) -> None:
    with pytest.raises(ValidationFailed, match="host:port"):
        PlacementDatabase.parse("bijmantra_org", cluster)


def test_valid_placements_parse() -> None:
    assert PlacementDatabase.parse("bijmantra_org", "db-2.example.org:6543").cluster == (
        "db-2.example.org:6543"
    )
    assert PlacementDatabase.parse("b", "[2001:db8::1]:5432").name == "b"
    org = TenantId(uuid.uuid4())
    assert Placement(org).kind is PlacementKind.SHARED
    assert Placement(org, PlacementDatabase("b")).kind is PlacementKind.DEDICATED


@given(st.uuids())
def test_the_default_dedicated_name_is_a_valid_database_name(organization: uuid.UUID) -> None:
    name = dedicated_database_name(TenantId(organization))
    assert PlacementDatabase.parse(name).name == name
    assert dedicated_database_name(TenantId(organization)) == name
