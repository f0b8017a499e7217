"""The dashboard: what the organization holds, its running and recent analyses, and, for its
administrators, recent activity. One call reads it all (ADR 0312); domain-api leaves out each
part the member may not read, so what shows follows the member's roles there too."""

from __future__ import annotations

from typing import Any

import msgspec
from bijmantra.gateway.console.web import PREFIX, member_view
from litestar import Request, get
from litestar.datastructures import State
from litestar.response import Template

RECENT = 10
ANALYSES = 10
LABELS = {"germplasm": "Germplasm", "study": "Studies"}


@get(PREFIX, name="console:dashboard")
async def dashboard(request: Request[Any, Any, Any], state: State) -> Template:
    page = member_view(request)
    raw = await state.console.dashboard(
        page.token,
        analyses=ANALYSES if page.can("analysis:read") else 0,
        activity=RECENT if page.can("compliance:admin") else 0,
    )
    found: dict[str, Any] = msgspec.json.decode(raw)
    return page.render(
        "dashboard.html",
        counts=[(LABELS.get(c["entity"], c["entity"]), c["count"]) for c in found["counts"]],
        analyses=found["analyses"],
        activity=found["activity"],
    )


ROUTES = [dashboard]
