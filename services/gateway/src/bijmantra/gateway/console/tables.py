"""Declared tables: a page names its columns once; cells are computed here, not in templates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True)
class Column:
    label: str
    key: str  # dotted path into the document, e.g. "season.seasonName"
    link: str | None = None  # "/app/studies/{}" filled with the document's ``link_key``
    link_key: str = ""
    shown: Callable[[Any], str] | None = None  # the text of a value not shown as it is


@dataclass(frozen=True)
class Cell:
    text: str
    href: str | None = None


def named(text: Any, fallback: Any) -> Any:
    """``text``, or ``fallback`` when it is missing or only whitespace: a record named " " or
    stored without a name still gets a heading and a link one can see and follow."""
    return text if isinstance(text, str) and text.strip() else fallback


def value(document: dict[str, Any], key: str) -> Any:
    current: Any = document
    for part in key.split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


def place(geometry: Any) -> str:
    """A GeoJSON point as "latitude, longitude" (GeoJSON stores longitude first, which a
    reader takes for latitude); any other geometry by its type, never its coordinates."""
    if not isinstance(geometry, dict):
        return ""
    point = geometry.get("coordinates")
    if geometry.get("type") == "Point" and isinstance(point, list) and len(point) >= 2:
        longitude, latitude = point[0], point[1]
        return f"{latitude}, {longitude}"
    kind = geometry.get("type")
    return kind if isinstance(kind, str) else ""


def cells(documents: list[dict[str, Any]], columns: tuple[Column, ...]) -> list[list[Cell]]:
    table = []
    for document in documents:
        row = []
        for column in columns:
            raw = value(document, column.key)
            text = (
                column.shown(raw)
                if column.shown
                else ""
                if raw is None
                else ", ".join(map(str, raw))
                if isinstance(raw, list)
                else str(raw)
            )
            target = value(document, column.link_key) if column.link else None
            href = (
                column.link.format(quote(str(target), safe="")) if column.link and target else None
            )
            row.append(Cell(text, href))
        table.append(row)
    return table
