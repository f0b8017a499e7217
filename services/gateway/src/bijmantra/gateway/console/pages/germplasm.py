"""Germplasm pages: search by name, PUI, synonym or accession number; a germplasm's detail."""

from __future__ import annotations

import asyncio
from typing import Any

from bijmantra.application.security import Action, Permission
from bijmantra.gateway.console.paging import document, lists, page_request, rows
from bijmantra.gateway.console.pedigree import BOX_H, BOX_W, ancestry, with_root_name
from bijmantra.gateway.console.web import PREFIX, fragment, view
from bijmantra.kernel import PageRequest
from litestar import Request, get
from litestar.datastructures import State
from litestar.response import Template

READ = Permission("germplasm", Action.READ)
MAX_TERM = 200
# What the search box can look in, as BrAPI filters of /germplasm (exact matches).
FIELDS = {
    "germplasmName": "Name",
    "germplasmPUI": "PUI",
    "synonym": "Synonym",
    "accessionNumber": "Accession number",
}


@get(f"{PREFIX}/germplasm", name="console:germplasm")
async def search(request: Request[Any, Any, Any], state: State) -> Template:
    page = view(request)
    page.require(READ)
    field = request.query_params.get("field", "germplasmName")
    field = field if field in FIELDS else "germplasmName"
    term = request.query_params.get("q", "").strip()[:MAX_TERM]
    criteria = {field: [term]} if term else {}
    found = await lists(state, page).list(page.token, "germplasm", criteria, page_request(request))
    query = {"field": field, "q": term} if term else {}
    template = "germplasm/results.html" if fragment(request) else "germplasm/search.html"
    return page.render(template, fields=FIELDS, field=field, term=term, rows=rows(found, query))


DEFAULT_GENERATIONS, MAX_GENERATIONS = 3, 5
SEED_LOTS_SHOWN, TRANSACTIONS_SHOWN = 10, 10


def _generations(request: Request[Any, Any, Any]) -> int:
    raw = request.query_params.get("generations", "")
    return (
        min(int(raw), MAX_GENERATIONS)
        if raw.isdecimal() and len(raw) < 4 and raw != "0"
        else DEFAULT_GENERATIONS
    )


@get(f"{PREFIX}/germplasm/{{db_id:str}}", name="console:germplasm-detail")
async def detail(request: Request[Any, Any, Any], state: State, db_id: str) -> Template:
    page = view(request)
    page.require(READ)
    generations = _generations(request)
    by_germplasm = {"germplasmDbId": [db_id]}

    async def lots_and_transactions() -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        lots = rows(
            await lists(state, page).list(
                page.token, "seedlot", by_germplasm, PageRequest(0, SEED_LOTS_SHOWN)
            ),
            {},
        ).items
        transactions = await asyncio.gather(
            *(
                state.brapi.children(
                    page.token,
                    "seedlot",
                    lot["seedLotDbId"],
                    "transactions",
                    {},
                    PageRequest(0, TRANSACTIONS_SHOWN),
                )
                for lot in lots
            )
        )
        return [(lot, rows(t, {}).items) for lot, t in zip(lots, transactions, strict=True)]

    # Every read at once: none needs another's answer.
    # Another organization's id: the germplasm read fails (404); the others find nothing.
    found, chart, attributes, lots, progeny = await asyncio.gather(
        state.brapi.get(page.token, "germplasm", db_id),
        ancestry(lists(state, page), page.token, db_id, db_id, generations),
        lists(state, page).list(page.token, "attributevalue", by_germplasm, PageRequest(0, 100)),
        lots_and_transactions(),
        state.brapi.view(page.token, "germplasm", db_id, "progeny"),
    )
    germplasm = document(found)
    chart = with_root_name(chart, germplasm.get("germplasmName") or db_id)
    return page.render(
        "germplasm/detail.html",
        germplasm=germplasm,
        chart=chart,
        box_w=BOX_W,
        box_h=BOX_H,
        generations=generations,
        max_generations=MAX_GENERATIONS,
        attributes=rows(attributes, {}).items,
        lots=lots,
        progeny=document(progeny).get("progeny") or [],
    )


ROUTES = [search, detail]
