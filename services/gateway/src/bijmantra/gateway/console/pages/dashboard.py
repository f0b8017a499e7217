"""The dashboard: who is signed in, where to go, what the organization holds."""

from __future__ import annotations

from typing import Any

from bijmantra.gateway.console.web import PREFIX, view
from bijmantra.kernel import PageRequest
from litestar import Request, get
from litestar.datastructures import State
from litestar.response import Template

COUNTED = (("germplasm", "Germplasm", "germplasm:read"), ("study", "Studies", "core:read"))


@get(PREFIX, name="console:dashboard")
async def dashboard(request: Request[Any, Any, Any], state: State) -> Template:
    page = view(request)
    counts = []
    for entity, label, permission in COUNTED:
        if page.can(permission):
            found = await state.brapi.list(page.token, entity, {}, PageRequest(0, 1))
            counts.append((label, found.total_count))
    return page.render("dashboard.html", counts=counts)


ROUTES = [dashboard]
