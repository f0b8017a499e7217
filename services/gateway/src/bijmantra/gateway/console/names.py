"""Names for the ids a record holds (its germplasm, seed lots, location, device), so pages
show what a person recognises and link it: one bounded list read per kind of record, under
the member's own token (an id they may not read, or no longer there, stays an id)."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from bijmantra.gateway.console.paging import lists
from bijmantra.gateway.console.web import View
from bijmantra.kernel import PageRequest
from litestar.datastructures import State

NAMED_AT_MOST = 200  # ids named per kind on one page; past it they show as ids
# BrAPI entity: (its DbId field, its name field)
FIELDS = {
    "germplasm": ("germplasmDbId", "germplasmName"),
    "seedlot": ("seedLotDbId", "seedLotName"),
    "location": ("locationDbId", "locationName"),
}


async def names(state: State, page: View, entity: str, ids: Iterable[str | None]) -> dict[str, str]:
    """``{id: name}`` for the ``entity`` records of ``ids`` the member may read."""
    id_field, name_field = FIELDS[entity]
    wanted = sorted({i for i in ids if i})[:NAMED_AT_MOST]
    if not wanted:
        return {}
    found = await lists(state, page).list(
        page.token, entity, {id_field: wanted}, PageRequest(0, len(wanted))
    )
    documents: list[dict[str, object]] = msgspec.json.decode(found.documents)
    return {
        str(d[id_field]): str(d[name_field])
        for d in documents
        if isinstance(d.get(name_field), str) and d.get(id_field) in wanted
    }
