"""The WHERE of a BrAPI filter over ``domain.resources``, narrowed by the finder (ADR 0351).

Under row-level security PostgreSQL never tests ``document @> ...`` before the policy
(``jsonb_contains`` is not leakproof), so the GIN index could not serve a filter: each page
was a pass over the organization's rows of the entity. ``domain.resource_ids_containing``
(migration 0253) answers the current organization's DbIds whose document contains one of a
criterion's alternatives, through the index. A filtered read first asks it for at most
``CANDIDATES + 1`` DbIds per containment; when an answer holds at most ``CANDIDATES``, the
statement reads the rows of the DbIds every such answer holds by key (through RLS, with all
its own exact tests, so the answer never rests on the function alone); when every answer
holds more, probing them by key would cost more than the pass it replaces, and the statement
is the pass it always was. Either way the plan is the one PostgreSQL makes for the values
at hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec
from bijmantra.application.ports.documents import Contains, Criteria, Range

_encode = msgspec.json.encode
LIVE = "deleted_at IS NULL"
CANDIDATES = 10_000
# Shorter terms hold no trigram for the name index (migration 0260) to look up.
GRAM = 3
# The name finder rechecks each candidate's names (a few times dearer per row than the pass
# tests one), so it gives up sooner: past this many, the pass is the cheaper read (ADR 0385).
NAME_CANDIDATES = 2_000


class Finder(NamedTuple):
    """A finder's call and the most DbIds worth reading by key from it."""

    call: str
    cap: int


# A name holding the term, in any case; the term's wildcards escaped (``like_pattern``).
_NAMED = (
    "EXISTS (SELECT FROM unnest(CAST({paths} AS jsonpath[])) AS p(path) CROSS JOIN LATERAL "
    "jsonb_path_query(document, p.path) AS n(value) WHERE jsonb_typeof(n.value) = 'string' "
    "AND n.value #>> '{{}}' ILIKE {pattern})"
)


def bind(name: str) -> str:
    return f"%({name})s"


def where(criteria: Criteria, params: dict[str, Any], prefix: str = "") -> tuple[str, list[Finder]]:
    """The exact test of every criterion, and a finder call per containment.

    One array parameter per criterion, however many alternatives it lists: 66,000 DbIds
    are one ``jsonb[]``, not 66,000 parameters (PostgreSQL stops at 65,535) nor a statement
    text that changes with the count. ``prefix`` names the parameters of one of several
    WHEREs of a statement."""
    clauses = [f"entity = {bind('entity')}", LIVE]
    finders: list[Finder] = []
    for i, criterion in enumerate(criteria):
        c, v = f"{prefix}c{i}", f"{prefix}v{i}"
        if isinstance(criterion, Contains):
            params[c] = [jsonpath(name) for name in criterion.names]
            params[v] = like_pattern(criterion.term)
            clauses.append(_NAMED.format(paths=bind(c), pattern=bind(v)))
            if len(criterion.term) >= GRAM:
                params[f"{c}t"] = criterion.term
                call = f"domain.resource_ids_naming({bind('entity')}, {bind(f'{c}t')}, {bind(v)})"
                finders.append(Finder(call, NAME_CANDIDATES))
            continue
        if isinstance(criterion, Range):
            params[c], params[v] = _range_path(criterion)
            clauses.append(
                f"jsonb_path_exists(document, CAST({bind(c)} AS jsonpath), "
                f"CAST({bind(v)} AS jsonb))"
            )
            continue
        params[c] = [_encode(fragment).decode() for fragment in criterion]
        clauses.append(f"document @> ANY(CAST({bind(c)} AS jsonb[]))")
        call = f"domain.resource_ids_containing({bind('entity')}, CAST({bind(c)} AS jsonb[]))"
        finders.append(Finder(call, CANDIDATES))
    return " AND ".join(clauses), finders


def narrowed(
    test: str, answers: list[tuple[list[str], int]], params: dict[str, Any], prefix: str
) -> str:
    """``test`` limited to the DbIds every complete finder answer holds (at most its
    finder's cap), or as it is when every answer was cut short."""
    complete = [set(ids) for ids, cap in answers if len(ids) <= cap]
    if not complete:
        return test
    params[f"{prefix}ids"] = sorted(set.intersection(*complete))
    return f"{test} AND db_id = ANY(CAST({bind(f'{prefix}ids')} AS text[]))"


def like_pattern(term: str) -> str:
    """``term`` anywhere in the text, as a LIKE pattern whose every character means itself:
    ``\\``, ``%`` and ``_`` escaped with LIKE's default escape, the backslash."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def jsonpath(path: Sequence[str]) -> str:
    """``("a", "*", "b")`` -> ``$."a"[*]."b"``: lax, a missing step finds nothing."""
    return "$" + "".join("[*]" if step == "*" else f".{_encode(step).decode()}" for step in path)


def _range_path(bound: Range) -> tuple[str, str]:
    """A jsonpath with the bounds as variables (``$."position" ? (@ >= $low)``); lax, so a
    document without the field matches nothing (strict would be an error), and only a
    number passes the type test."""
    keys = "".join(f".{_encode(step).decode()}" for step in bound.path)
    tests = ['@.type() == "number"']
    tests += ["@ >= $low"] if bound.low is not None else []
    tests += ["@ <= $high"] if bound.high is not None else []
    variables = {"low": bound.low, "high": bound.high}
    return f"${keys} ? ({' && '.join(tests)})", _encode(variables).decode()
