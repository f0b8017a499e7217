"""The dashboard: what the organization holds, its running and recent analyses, and, for its
administrators, recent activity. Its reads go out together (one round trip's wait, not four)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from bijmantra.gateway.console.pages.admin import recent_entries
from bijmantra.gateway.console.paging import lists
from bijmantra.gateway.console.web import PREFIX, View, view
from bijmantra.kernel import PageRequest
from litestar import Request, get
from litestar.datastructures import State
from litestar.response import Template

RECENT = 10
ANALYSES = 10
COUNTED = (("germplasm", "Germplasm", "germplasm:read"), ("study", "Studies", "core:read"))


async def _count(state: State, page: View, entity: str) -> int:
    found = await lists(state, page).list(page.token, entity, {}, PageRequest(0, 1))
    return int(found.total_count)


async def _analyses(state: State, page: View) -> list[dict[str, Any]]:
    """Queued and running first, then the newest finished: the live feed updates them."""
    raw = await state.analyses.recent(page.token, limit=ANALYSES, active_only=False)
    documents: list[dict[str, Any]] = msgspec.json.decode(raw)
    return documents


async def _nothing() -> None:
    return None


@get(PREFIX, name="console:dashboard")
async def dashboard(request: Request[Any, Any, Any], state: State) -> Template:
    page = view(request)
    counted = [(label, entity) for entity, label, needed in COUNTED if page.can(needed)]
    counts, analyses, entries = await asyncio.gather(
        asyncio.gather(*(_count(state, page, entity) for _, entity in counted)),
        _analyses(state, page) if page.can("analysis:read") else _nothing(),
        recent_entries(state, page, 0, RECENT) if page.can("compliance:admin") else _nothing(),
    )
    return page.render(
        "dashboard.html",
        counts=[(label, n) for (label, _), n in zip(counted, counts, strict=True)],
        analyses=analyses,
        activity=None if entries is None else entries.items,
    )


ROUTES = [dashboard]
