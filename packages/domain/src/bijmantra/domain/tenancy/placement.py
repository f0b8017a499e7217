"""Where an organization's data lives: the shared database or a dedicated one (ADR 0102).

A dedicated database is named, and optionally sits on another cluster given as
``host:port``. The directory never holds credentials: every placement is reached as the same
service roles with the same passwords as the shared database, so nothing secret is stored
in it or can be logged from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from bijmantra.kernel import TenantId, ValidationFailed

# A PostgreSQL identifier we are willing to put into DDL unquoted-safe: lower case, short.
_DATABASE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_CLUSTER = re.compile(
    r"(?P<host>[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})"
)


class PlacementKind(StrEnum):
    SHARED = "shared"
    DEDICATED = "dedicated"


@dataclass(frozen=True, order=True)
class PlacementDatabase:
    """A database that holds organizations' data; ``cluster`` None means the shared cluster."""

    name: str
    cluster: str | None = None

    @classmethod
    def parse(cls, name: str, cluster: str | None = None) -> PlacementDatabase:
        if not _DATABASE_NAME.fullmatch(name):
            raise ValidationFailed(
                "a database name is 1-63 lower-case letters, digits or '_', starting with a letter"
            )
        if cluster is not None:
            match = _CLUSTER.fullmatch(cluster)
            if match is None or not 0 < int(match["port"]) < 65536:
                raise ValidationFailed(
                    "a cluster is given as host:port, without user, password or database"
                )
        return cls(name, cluster)


@dataclass(frozen=True)
class Placement:
    """An organization and its database; ``database`` None is the shared database."""

    organization: TenantId
    database: PlacementDatabase | None = None

    @property
    def kind(self) -> PlacementKind:
        return PlacementKind.SHARED if self.database is None else PlacementKind.DEDICATED


def dedicated_database_name(organization: TenantId) -> str:
    """The default name of an organization's own database (stable, derived from its id)."""
    return f"bijmantra_org_{organization.hex[:20]}"
