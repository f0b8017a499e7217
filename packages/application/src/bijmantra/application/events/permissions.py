"""Which permission reading an event needs: one explicit table, never a guess from its name.

The live feed once read the first segment of an event type as a context: ``germplasm.*``
passed (a context), while ``program.updated`` (context ``core``) and
``observation.created`` (``phenotyping``) reached nobody, admins included. The table is
built from declarations instead:

- every BrAPI entity's ``<entity>.created|updated|deleted`` from the engine's catalog, with
  the permission to read the entity's context (the same one its GET route needs);
- the event families other contexts emit, whose last segment is made at run time
  (``tenancy.<kind>``, ``sensors.device.<verb>``, ``analysis.<step>``, ...), listed by the
  prefix their emitter writes.

A type the table does not know is delivered to no one (closed by default); a test walks
every ``DomainEvent`` the code constructs and fails when one is missing here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bijmantra.application.events.bulk import item_type
from bijmantra.application.security import Action, Permission

BRAPI_VERBS = ("created", "updated", "deleted")


def _read(context: str) -> Permission:
    return Permission(context, Action.READ)


# Event families whose full type is built when emitted: the emitter's fixed prefix ->
# what a subscriber needs. Adding an emitter of a new family means adding its row here.
FAMILIES: Mapping[str, Permission] = {
    "tenancy.": _read("tenancy"),
    "sensors.": _read("sensors"),
    "distribution.": _read("distribution"),
    "analysis.": _read("analysis"),
    "genotyping.": _read("genotyping"),
    "operations.": _read("operations"),
    "compliance.": _read("compliance"),
}


@dataclass(frozen=True)
class EventPermissions:
    exact: Mapping[str, Permission]
    families: Mapping[str, Permission]

    def needed(self, event_type: str) -> Permission | None:
        """The permission to read ``event_type`` (its bulk form too); ``None``: unknown."""
        base = item_type(event_type)
        found = self.exact.get(base)
        if found is not None:
            return found
        return next((p for prefix, p in self.families.items() if base.startswith(prefix)), None)


def event_permissions(entities: Iterable[tuple[str, str]]) -> EventPermissions:
    """The table for BrAPI ``entities`` given as ``(name, context)`` and the ``FAMILIES``."""
    exact = {f"{name}.{verb}": _read(context) for name, context in entities for verb in BRAPI_VERBS}
    return EventPermissions(exact, FAMILIES)
