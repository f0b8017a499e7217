"""Roles and permissions, checked where the use case runs so every edge enforces one rule."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bijmantra.kernel import Forbidden, Principal

DATA_CONTEXTS = (
    "core",
    "germplasm",
    "phenotyping",
    "genotyping",
    "analysis",
    "sensors",
    "operations",
    "distribution",
    "compliance",
)


# The scope a token needs to reach the APIs; ``openid``, ``profile`` and ``email`` only sign in.
API_SCOPE = "brapi"


class Action(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Permission:
    context: str
    action: Action

    def __str__(self) -> str:
        return f"{self.context}:{self.action}"


def permissions(context: str, *actions: Action) -> tuple[Permission, ...]:
    """One context's permissions, in the order asked: ``READ, WRITE = permissions(...)``."""
    return tuple(Permission(context, action) for action in actions)


def _grant(contexts: tuple[str, ...], *actions: Action) -> frozenset[Permission]:
    return frozenset(Permission(c, a) for c in contexts for a in actions)


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "viewer": _grant((*DATA_CONTEXTS, "tenancy"), Action.READ),
    "breeder": _grant((*DATA_CONTEXTS, "tenancy"), Action.READ)
    | _grant(
        (
            "core",
            "germplasm",
            "phenotyping",
            "genotyping",
            "analysis",
            "operations",
            "distribution",
        ),
        Action.WRITE,
    ),
    "data-manager": _grant(DATA_CONTEXTS, Action.READ, Action.WRITE, Action.ADMIN)
    | _grant(("tenancy",), Action.READ),
    "admin": _grant((*DATA_CONTEXTS, "tenancy"), Action.READ, Action.WRITE, Action.ADMIN),
    # analytics-worker's tokens (a platform service client): read genotypes and germplasm,
    # run analysis jobs. Never a member's role; domain-api accepts it only on the worker service.
    "analysis-worker": _grant(("genotyping", "germplasm"), Action.READ)
    | _grant(("analysis",), Action.READ, Action.WRITE, Action.ADMIN)
    # and store the PDFs it renders (only through DistributionWorkerService).
    | _grant(("distribution",), Action.WRITE)
    # and store the alerts and device presence it evaluates (only SensorsWorkerService).
    | _grant(("sensors",), Action.READ, Action.WRITE),
}


# Roles only identity's platform service clients hold (see ADR 0039).
SERVICE_CLIENT_ROLES = frozenset({"analysis-worker"})
MEMBER_ROLES = frozenset(ROLE_PERMISSIONS) - SERVICE_CLIENT_ROLES


def permissions_for(roles: frozenset[str]) -> frozenset[Permission]:
    granted: frozenset[Permission] = frozenset()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return granted


def authorize(principal: Principal, needed: Permission) -> None:
    """Raise ``Forbidden`` unless one of the principal's roles grants ``needed``."""
    if needed not in permissions_for(principal.roles):
        raise Forbidden(f"Missing permission {needed}")
