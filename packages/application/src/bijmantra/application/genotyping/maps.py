"""A genome map's linkage groups, derived from its marker positions (never stored apart,
so they cannot disagree with the positions BrAPI serves)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from bijmantra.application.ports.documents import DocumentPage, ResourceStore
from bijmantra.kernel import FieldError, PageRequest, ValidationFailed

POSITIONS_PER_CHUNK = 5000


async def linkage_group_page(
    store: ResourceStore, params: Mapping[str, Any], page: PageRequest
) -> DocumentPage:
    """``GET /maps/{mapDbId}/linkagegroups``: one entry per group name, ordered by name."""
    map_ids = params.get("mapDbId") or []
    if not isinstance(map_ids, list) or not all(isinstance(m, str) for m in map_ids):
        raise ValidationFailed("mapDbId must be text", [FieldError("mapDbId", repr(map_ids))])
    groups: dict[str, tuple[int, int | None]] = {}
    criteria = (tuple({"mapDbId": m} for m in map_ids),)
    async for chunk in store.stream(
        "markerposition", criteria, ("linkageGroupName",), POSITIONS_PER_CHUNK
    ):
        for position in chunk:
            name = position.get("linkageGroupName")
            if name is None:
                continue
            count, highest = groups.get(name, (0, None))
            at = position.get("position")
            if at is not None and (highest is None or at > highest):
                highest = at
            groups[name] = (count + 1, highest)
    names = sorted(groups)
    chosen = names[page.offset : page.offset + page.page_size]
    documents = [
        {
            "additionalInfo": None,
            "linkageGroupName": name,
            "markerCount": groups[name][0],
            "maxPosition": groups[name][1],
        }
        for name in chosen
    ]
    return DocumentPage(msgspec.json.encode(documents), len(documents), len(names), page)
