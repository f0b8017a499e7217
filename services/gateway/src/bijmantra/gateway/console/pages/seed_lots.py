"""Seed lots: a paged list searchable by a part of the lot's name, and a lot's page with its
transactions, which is the only page a lot of crosses (no germplasm) has."""

from __future__ import annotations

from typing import Any

from bijmantra.gateway.console.names import lot_names
from bijmantra.gateway.console.pages.core import LOCATION, Listing, every
from bijmantra.gateway.console.pages.germplasm import READ
from bijmantra.gateway.console.paging import document, lists, page_request, rows
from bijmantra.gateway.console.tables import Column, cells, named
from bijmantra.gateway.console.web import PREFIX, view
from litestar import Request, get
from litestar.datastructures import State
from litestar.response import Template


def contents(mixture: Any) -> str:
    """What a lot holds: each germplasm or cross of its content mixture, by name."""
    if not isinstance(mixture, list):
        return ""
    held = (
        named(part.get("germplasmName") or part.get("crossName"), "")
        or str(part.get("germplasmDbId") or part.get("crossDbId") or "")
        for part in mixture
        if isinstance(part, dict)
    )
    return ", ".join(name for name in held if name)


SEED_LOTS = (
    Column("Seed lot", "seedLotName", "/app/seedlots/{}", "seedLotDbId"),
    Column("Holds", "contentMixture", shown=contents),
    Column("Amount", "amount"),
    Column("Units", "units"),
    LOCATION,
    Column("Storage", "storageLocation"),
)
SEED_LOT_LIST = Listing("seedlot", SEED_LOTS, "Seed lot name contains")
FACTS = (
    *SEED_LOTS[1:],
    Column("Program", "programName", "/app/programs/{}", "programDbId"),
    Column("Created", "createdDate"),
    Column("Last updated", "lastUpdated"),
    Column("Description", "seedLotDescription"),
)


@get(f"{PREFIX}/seedlots/{{db_id:str}}", name="console:seedlot")
async def seed_lot(request: Request[Any, Any, Any], state: State, db_id: str) -> Template:
    """The lot's facts and its transactions, paged. Another organization's id: not found
    (404), the read goes to domain-api under the organization's RLS."""
    page = view(request, READ)
    lot = document(await state.brapi.get(page.token, "seedlot", db_id))
    found = await lists(state, page).list(
        page.token, "seedlottransaction", {"seedLotDbId": [db_id]}, page_request(request)
    )
    moves = rows(found, {})
    return page.render(
        "seedlots/detail.html",
        heading=named(lot.get("seedLotName"), db_id),
        facts=list(zip(FACTS, cells([lot], FACTS)[0], strict=True)),
        transactions=moves.items,
        rows=moves,
        lot_names=await lot_names(state, page, [(lot, moves.items)]),
    )


ROUTES = [every("seedlots", SEED_LOT_LIST, "Seed lots", READ), seed_lot]
