"""Names for the ids a record holds (its germplasm, seed lots, location, device), so pages
show what a person recognises and link it: one bounded list read per kind of record, under
the member's own token (an id they may not read, or no longer there, stays an id). Devices
are not BrAPI records: theirs is the sensors list narrowed to the ids."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from bijmantra.gateway.console.paging import lists
from bijmantra.gateway.console.web import View
from bijmantra.kernel import PageRequest
from litestar.datastructures import State

NAMED_AT_MOST = 200  # ids named per kind on one page; past it they show as ids
# Kind of record (a BrAPI entity or "device"): (its id field, its name field)
FIELDS = {
    "germplasm": ("germplasmDbId", "germplasmName"),
    "seedlot": ("seedLotDbId", "seedLotName"),
    "location": ("locationDbId", "locationName"),
    "device": ("deviceId", "name"),
}


async def names(state: State, page: View, entity: str, ids: Iterable[str | None]) -> dict[str, str]:
    """``{id: name}`` for the ``entity`` records of ``ids`` the member may read."""
    id_field, name_field = FIELDS[entity]
    wanted = sorted({i for i in ids if i})[:NAMED_AT_MOST]
    if not wanted:
        return {}
    documents = await _read(state, page, entity, wanted)
    return {
        str(d[id_field]): str(d[name_field])
        for d in documents
        if isinstance(d.get(name_field), str) and d.get(id_field) in wanted
    }


async def _read(
    state: State, page: View, entity: str, wanted: list[str]
) -> list[dict[str, object]]:
    """The documents of the ``wanted`` records of ``entity`` (one list read)."""
    one_page = PageRequest(0, len(wanted))
    if entity == "device":
        found = await state.sensors.devices(page.token, one_page, wanted)
        return [msgspec.json.decode(d) for d in found.items]
    id_field = FIELDS[entity][0]
    listed = await lists(state, page).list(page.token, entity, {id_field: wanted}, one_page)
    documents: list[dict[str, object]] = msgspec.json.decode(listed.documents)
    return documents


SeedLots = list[tuple[dict[str, Any], list[dict[str, Any]]]]  # each lot with its transactions


async def lot_names(state: State, page: View, lots: SeedLots) -> dict[str, str]:
    """Names of the lots the transactions move seed between: the shown lots' own from the
    page's read; one read more only for the other lots."""
    known = {str(lot["seedLotDbId"]): lot.get("seedLotName") or "" for lot, _ in lots}
    ends = {
        t.get(end)
        for _, moves in lots
        for t in moves
        for end in ("fromSeedLotDbId", "toSeedLotDbId")
    }
    others = [i for i in ends if isinstance(i, str) and i and i not in known]
    return {**known, **(await names(state, page, "seedlot", others) if others else {})}
