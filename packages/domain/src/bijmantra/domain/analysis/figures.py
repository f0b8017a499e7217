"""Why a declared figure will not be attached (ADR 0369): a short code a user can act on."""

from __future__ import annotations

from enum import StrEnum


class Withheld(StrEnum):
    """The worker's reason for never attaching a figure the job declared."""

    NOT_DRAWN = "not_drawn"
    STORAGE_FULL = "storage_full"
    QUOTA = "quota"

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Withheld.NOT_DRAWN: "This figure could not be drawn from these results.",
    Withheld.STORAGE_FULL: (
        "The organization's storage cap refused this figure: free room (delete analyses or "
        "variant sets no longer needed), then request the analysis again to draw it."
    ),
    Withheld.QUOTA: (
        "The organization's daily quota of analysis results refused this figure: request "
        "the analysis again tomorrow to draw it."
    ),
}
