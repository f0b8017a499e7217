"""The console's search box (ADR 0385): a case-insensitive substring of an entity's names.

Not a BrAPI filter: BrAPI's list filters match exactly, as the specification says, and no
``/brapi/v2`` route reaches this. ``db/migrations/versions/0260_name_search.py`` indexes
the same names (``domain.resource_names``); a test on PostgreSQL keeps the two in step.
"""

from __future__ import annotations

import unicodedata

from bijmantra.application.ports.documents import Contains
from bijmantra.kernel import FieldError, ValidationFailed

# Characters a search term may hold: more is not a name anyone types, and it bounds the work.
MAX_SEARCH_TERM = 100
# The names the search box looks in, per entity: JSON paths, ``*`` entering an array.
SEARCHED_NAMES: dict[str, tuple[tuple[str, ...], ...]] = {
    "germplasm": (("germplasmName",), ("accessionNumber",), ("synonyms", "*", "synonym")),
    "program": (("programName",),),
    "trial": (("trialName",),),
    "study": (("studyName",),),
    "location": (("locationName",),),
    "seedlot": (("seedLotName",),),
    "observationunit": (("observationUnitName",),),
}


def checked_term(term: str, field: str = "q") -> str:
    """``term`` when it is one a person could type, else a 400 naming ``field``."""
    if len(term) > MAX_SEARCH_TERM:
        problem = f"at most {MAX_SEARCH_TERM} characters"
    elif any(unicodedata.category(c) == "Cc" for c in term):
        problem = "must not contain control characters"
    else:
        return term
    raise ValidationFailed("Invalid search term", [FieldError(field, problem)])


def name_contains(entity: str, term: str, field: str = "q") -> Contains:
    """The criterion of a search term, or a 400 naming ``field`` (``checked_term``, or an
    entity without searchable names)."""
    names = SEARCHED_NAMES.get(entity)
    if names is None:
        raise ValidationFailed("Invalid search", [FieldError(field, f"{entity} has no names")])
    return Contains(checked_term(term, field), names)
