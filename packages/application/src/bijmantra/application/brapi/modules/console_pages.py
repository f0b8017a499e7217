"""Page-shaped reads for the web console (ADR 0307): everything one console page shows, read
in one call and one read transaction instead of one gRPC call per list.

They are views that no BrAPI route serves (``published=False``), so each is one
``GetView``: domain-api checks the member's permission for the viewed entity, and the
reader checks it again for every other entity the view reads; row-level security keeps every
read inside the member's organization, so another organization's DbId is still not found.
"""

from __future__ import annotations

from typing import Any

import msgspec
from bijmantra.application.brapi.entity import DocumentReader, Module, View, ViewQuery
from bijmantra.application.brapi.modules.germplasm_views import progeny_view
from bijmantra.kernel import PageRequest

DEFAULT_GENERATIONS, MAX_GENERATIONS = 3, 5
SEED_LOTS_SHOWN, TRANSACTIONS_SHOWN, ATTRIBUTES_SHOWN = 10, 10, 100
UNITS_PER_PAGE, MAX_VARIABLES, OBSERVATIONS_SHOWN = 20, 30, 1000
VARIABLES_FROM_OBSERVATIONS = 200
MAX_PAGE = 100_000


def _bounded(params: ViewQuery, name: str, default: int, most: int) -> int:
    """A small positive integer from the query; anything else is ``default``."""
    raw = (params.get(name) or [""])[0]
    return min(int(raw), most) if raw.isdecimal() and len(raw) < 7 and int(raw) > 0 else default


async def germplasm_page(
    reader: DocumentReader, germplasm: dict[str, Any], params: ViewQuery
) -> dict[str, Any]:
    """The germplasm detail page: its pedigree nodes ``generations`` deep (one recursive
    statement), attributes, seed lots with their first transactions, and progeny."""
    db_id = germplasm["germplasmDbId"]
    generations = _bounded(params, "generations", DEFAULT_GENERATIONS, MAX_GENERATIONS)
    by_germplasm = {"germplasmDbId": [db_id]}
    pedigree = await reader.lineage("pedigree", db_id, "parents.*.germplasmDbId", generations)
    lots = await reader.first("seedlot", by_germplasm, SEED_LOTS_SHOWN)
    transactions = await reader.first_each(
        "seedlottransaction",
        [{"seedLotDbId": [lot["seedLotDbId"]]} for lot in lots],
        TRANSACTIONS_SHOWN,
    )  # each lot's first ones, in one statement
    seed_lots = [
        {"seedLot": lot, "transactions": shown}
        for lot, shown in zip(lots, transactions, strict=True)
    ]
    return {
        "germplasm": germplasm,
        "generations": generations,
        "pedigree": list(pedigree.values()),
        "attributes": await reader.first("attributevalue", by_germplasm, ATTRIBUTES_SHOWN),
        "seedLots": seed_lots,
        "progeny": (await progeny_view(reader, germplasm, {}))["progeny"],
    }


async def _variables(reader: DocumentReader, study: dict[str, Any]) -> list[dict[str, Any]]:
    """The study's declared variables, else those its observations use; by name."""
    ids = list(study.get("observationVariableDbIds") or [])
    if not ids:
        by_study = {"studyDbId": [study["studyDbId"]]}
        observed = await reader.first("observation", by_study, VARIABLES_FROM_OBSERVATIONS)
        ids = sorted({o["observationVariableDbId"] for o in observed})
    if not ids:
        return []
    wanted = {"observationVariableDbId": ids[:MAX_VARIABLES]}
    found = await reader.first("variable", wanted, MAX_VARIABLES)
    return sorted(found, key=lambda v: v.get("observationVariableName") or "")


async def study_workbench(
    reader: DocumentReader, study: dict[str, Any], params: ViewQuery
) -> dict[str, Any]:
    """The study workbench: a page of observation units (``page``), the study's variables and
    the page's observations (the grid's cells)."""
    db_id = study["studyDbId"]
    number = _bounded(params, "page", 0, MAX_PAGE)
    units = await reader.page(
        "observationunit", {"studyDbId": [db_id]}, PageRequest(number, UNITS_PER_PAGE)
    )
    unit_items: list[dict[str, Any]] = msgspec.json.decode(units.documents)
    variables = await _variables(reader, study)
    in_page = {
        "studyDbId": [db_id],
        "observationUnitDbId": [u["observationUnitDbId"] for u in unit_items],
    }
    observations = (
        await reader.first("observation", in_page, OBSERVATIONS_SHOWN)
        if unit_items and variables
        else []
    )
    return {
        "study": study,
        "units": unit_items,
        "page": number,
        "totalCount": units.total_count,
        "totalPages": units.total_pages,
        "variables": variables,
        "observations": observations,
    }


CONSOLE_PAGES = Module(
    name="Console pages",
    entities=(),
    views=(
        View("germplasm", "console-page", "ConsoleGermplasmPage", germplasm_page, published=False),
        View("study", "console-workbench", "ConsoleWorkbench", study_workbench, published=False),
    ),
)
