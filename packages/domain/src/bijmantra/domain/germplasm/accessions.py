"""Accession invariants."""

from __future__ import annotations

from datetime import date


def acquisition_date_problem(acquired: str | None, today: date) -> str | None:
    """A genebank cannot have acquired material in the future."""
    if acquired is None:
        return None
    if date.fromisoformat(acquired[:10]) > today:
        return "must not be in the future"
    return None
