"""The dashboard: what the organization holds and, for its administrators, recent activity."""

from __future__ import annotations

from typing import Any

from bijmantra.gateway.console.pages.admin import recent_entries
from bijmantra.gateway.console.web import PREFIX, view
from bijmantra.kernel import PageRequest
from litestar import Request, get
from litestar.datastructures import State
from litestar.response import Template

RECENT = 10
COUNTED = (("germplasm", "Germplasm", "germplasm:read"), ("study", "Studies", "core:read"))


@get(PREFIX, name="console:dashboard")
async def dashboard(request: Request[Any, Any, Any], state: State) -> Template:
    page = view(request)
    counts = []
    for entity, label, permission in COUNTED:
        if page.can(permission):
            found = await state.brapi.list(page.token, entity, {}, PageRequest(0, 1))
            counts.append((label, found.total_count))
    activity = None
    if page.can("compliance:admin"):
        activity = (await recent_entries(state, page, 0, RECENT)).items
    return page.render("dashboard.html", counts=counts, activity=activity)


ROUTES = [dashboard]
