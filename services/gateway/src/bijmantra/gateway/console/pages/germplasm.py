"""Germplasm pages: search by name, PUI, synonym or accession number; a germplasm's detail."""

from __future__ import annotations

from typing import Any

from bijmantra.application.security import Action, Permission
from bijmantra.gateway.console.paging import page_request, rows
from bijmantra.gateway.console.web import PREFIX, fragment, view
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
    found = await state.brapi.list(page.token, "germplasm", criteria, page_request(request))
    query = {"field": field, "q": term} if term else {}
    template = "germplasm/results.html" if fragment(request) else "germplasm/search.html"
    return page.render(template, fields=FIELDS, field=field, term=term, rows=rows(found, query))


ROUTES = [search]
