"""The search term as a LIKE pattern (ADR 0385): every character of it means itself."""

from __future__ import annotations

import re

import pytest
from bijmantra.adapters.postgres.resource_criteria import like_pattern


def _like(pattern: str, text: str) -> bool:
    """ILIKE as PostgreSQL reads a pattern with the backslash escape, for checking here."""
    parts = re.findall(r"\\.|%|_|.", pattern[1:-1], flags=re.S)
    regex = "".join(".*" if p == "%" else "." if p == "_" else re.escape(p[-1]) for p in parts)
    return re.search(regex, text, flags=re.I | re.S) is not None


@pytest.mark.parametrize(
    ("term", "pattern"),
    [
        ("IR64", "%IR64%"),
        ("100%", "%100\\%%"),
        ("line_7", "%line\\_7%"),
        ("a\\b", "%a\\\\b%"),
        ("\\%", "%\\\\\\%%"),
        ("%_\\", "%\\%\\_\\\\%"),
    ],
)
def test_wildcards_and_the_escape_are_escaped(term: str, pattern: str) -> None:
    assert like_pattern(term) == pattern


@pytest.mark.parametrize(
    ("term", "text", "found"),
    [
        ("ir6", "IR64", True),
        ("%", "100% pure", True),
        ("%", "pure", False),
        ("_", "line_7", True),
        ("e_7", "line 7", False),
        ("a\\b", "A\\B", True),
        ("a\\b", "Ab", False),
        ("l%7", "line 7", False),
    ],
)
def test_the_pattern_finds_the_term_and_nothing_a_wildcard_would(
    term: str, text: str, found: bool
) -> None:
    assert _like(like_pattern(term), text) is found
