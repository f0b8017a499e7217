"""The bounds every BrAPI request is held to, shared by the read and the write side."""

from __future__ import annotations

from typing import Any

from bijmantra.application.brapi.schema import text_problem
from bijmantra.application.json_input import decode_bounded
from bijmantra.kernel import FieldError, ValidationFailed

MAX_SEARCH_RESULTS = 100_000
# Search results are kept (ids, ~40 bytes each) for clients to page: an organization holds
# at most this many bytes of them at once, about 20 searches of the largest size (ADR 0335).
MAX_HELD_SEARCH_BYTES = 96 * 1024 * 1024


MAX_WRITE_ITEMS = 10_000  # documents per bulk write (the phenotyping benchmark's batch)


def decode_json(body: bytes, what: str, *, max_items: int | None = None) -> Any:
    """A request body (empty means ``None``) within the bounds of ``json_input``."""
    return decode_bounded(body, what, max_items=max_items) if body.strip() else None


def storable_ids(*db_ids: str) -> None:
    """DbIds from paths and map keys must be text the store can hold; say so with a 400."""
    problems = [FieldError("dbId", f"{i!r}: {p}") for i in db_ids if (p := text_problem(i))]
    if problems:
        raise ValidationFailed("Invalid DbId", problems)
