"""Germplasm pages: search by a part of a name, accession number or synonym in any case, or
by PUI exactly; a germplasm's detail."""

from __future__ import annotations

from typing import Any

from bijmantra.application.brapi.modules.console_pages import (
    DEFAULT_GENERATIONS,
    MAX_GENERATIONS,
)
from bijmantra.application.brapi.name_search import MAX_SEARCH_TERM, checked_term
from bijmantra.application.security import Action, Permission
from bijmantra.gateway.console.names import lot_names
from bijmantra.gateway.console.paging import document, lists, page_request, rows, search_term
from bijmantra.gateway.console.pedigree import BOX_H, BOX_W, ancestry
from bijmantra.gateway.console.tables import named
from bijmantra.gateway.console.web import PREFIX, fragment, view
from litestar import Request, get
from litestar.datastructures import State
from litestar.response import Template

READ = Permission("germplasm", Action.READ)
NAMES = "names"
# What the search box can look in: a part of any name in any case (ADR 0385), or a PUI or an
# accession number exactly (BrAPI's /germplasm filters: a genebank's lookup of one accession).
# Links made before 0385 naming germplasmName or synonym search the names.
FIELDS = {
    NAMES: "Name, accession number or synonym",
    "germplasmPUI": "PUI (exact)",
    "accessionNumber": "Accession number (exact)",
}


@get(f"{PREFIX}/germplasm", name="console:germplasm")
async def search(request: Request[Any, Any, Any], state: State) -> Template:
    page = view(request, READ)
    field = request.query_params.get("field", NAMES)
    field = field if field in FIELDS else NAMES
    term = checked_term(search_term(request))
    exact = {field: [term]} if term and field != NAMES else {}
    found = await lists(state, page).list(
        page.token,
        "germplasm",
        exact,
        page_request(request),
        contains="" if exact else term,
    )
    query = {"field": field, "q": term} if term else {}
    template = "germplasm/results.html" if fragment(request) else "germplasm/search.html"
    return page.render(
        template,
        fields=FIELDS,
        field=field,
        term=term,
        max_term=MAX_SEARCH_TERM,
        rows=rows(found, query),
    )


def _generations(request: Request[Any, Any, Any]) -> int:
    raw = request.query_params.get("generations", "")
    return (
        min(int(raw), MAX_GENERATIONS)
        if raw.isdecimal() and len(raw) < 4 and raw != "0"
        else DEFAULT_GENERATIONS
    )


@get(f"{PREFIX}/germplasm/{{db_id:str}}", name="console:germplasm-detail")
async def detail(request: Request[Any, Any, Any], state: State, db_id: str) -> Template:
    """One read (ADR 0307): the germplasm, its pedigree, attributes, seed lots with their
    transactions and its progeny. Another organization's id: not found (404)."""
    page = view(request, READ)
    generations = _generations(request)
    raw = await state.brapi.view(
        page.token, "germplasm", db_id, "console-page", {"generations": [str(generations)]}
    )
    found = document(raw)
    germplasm = found["germplasm"]
    chart = ancestry(
        found["pedigree"], db_id, named(germplasm.get("germplasmName"), db_id), generations
    )
    lots = [(lot["seedLot"], lot["transactions"]) for lot in found["seedLots"]]
    return page.render(
        "germplasm/detail.html",
        lot_names=await lot_names(state, page, lots),
        germplasm=germplasm,
        chart=chart,
        box_w=BOX_W,
        box_h=BOX_H,
        generations=generations,
        max_generations=MAX_GENERATIONS,
        attributes=found["attributes"],
        lots=lots,
        progeny=found["progeny"],
    )


ROUTES = [search, detail]
