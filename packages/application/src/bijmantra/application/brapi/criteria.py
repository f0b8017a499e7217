"""Query parsing: BrAPI query strings and search bodies become store ``Criteria``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bijmantra.application.brapi.entity import Entity, Match, Path
from bijmantra.application.brapi.schema import field_schema, parse_scalar, shape
from bijmantra.application.ports.documents import Criteria, Criterion, Range
from bijmantra.kernel import FieldError, ValidationFailed

PAGING_PARAMETERS = frozenset({"page", "pageSize", "pageToken"})
SEARCH_PAGING_FIELDS = frozenset({"page", "pageSize", "pageToken"})
# Values one filter may list (``?germplasmDbId=`` repeated, ``germplasmDbIds: [...]``). The
# store takes them as one array parameter, so this bounds memory and work, not SQL syntax.
MAX_FILTER_VALUES = 10_000


def _bounded(name: str, values: Sequence[Any], problems: list[FieldError]) -> bool:
    if len(values) <= MAX_FILTER_VALUES:
        return True
    problems.append(FieldError(name, f"at most {MAX_FILTER_VALUES} values per filter"))
    return False


def fragment(path: Path, value: Any) -> dict[str, Any]:
    """The JSON fragment a matching document contains: ``("a","*","b"), v -> {"a": [{"b": v}]}``."""
    node: Any = value
    for step in reversed(path[1:]):
        node = [node] if step == "*" else {step: node}
    return {path[0]: node}


def _alternatives(
    entity: Entity, match: Match, values: Sequence[Any]
) -> tuple[dict[str, Any], ...]:
    def canonical(path: Path, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = entity.value_aliases.get(path[-1], {}).get(value, value)
        return entity.served_values.get(path[-1], {}).get(value, value)

    return tuple(fragment(path, canonical(path, v)) for path in match.paths for v in values)


def _refuse_unknown(entity: Entity, names: Sequence[str], what: str) -> None:
    if names:
        raise ValidationFailed(
            f"{what} not supported by this server for {entity.path}",
            [FieldError(n, "not supported") for n in names],
        )


def _ranges(entity: Entity, sent: Mapping[str, Any], problems: list[FieldError]) -> list[Range]:
    """The entity's range filters among ``sent`` (numbers, or text of one), one per path."""
    ends: dict[str, dict[str, float]] = {}
    for name, bound in entity.bounds.items():
        value = sent.get(name)
        if isinstance(value, list):
            value = value[-1] if value else None
        if value is None:
            continue
        try:
            number = float(value) if not isinstance(value, bool) else float("nan")
        except (TypeError, ValueError):
            number = float("nan")
        if number != number or number in (float("inf"), float("-inf")):
            problems.append(FieldError(name, "must be a number"))
            continue
        ends.setdefault(bound.path, {})[bound.end] = number
    return [
        Range(tuple(path.split(".")), found.get("low"), found.get("high"))
        for path, found in ends.items()
    ]


def query_criteria(
    entity: Entity, query: Mapping[str, Sequence[str]], *, ignore: frozenset[str] = frozenset()
) -> Criteria:
    """``GET /{path}?a=1&b=2``: every parameter must match; repeated values match any."""
    unsupported = [n for n in query if n in entity.unsupported_filters]
    _refuse_unknown(entity, unsupported, "Filters")
    problems: list[FieldError] = []
    criteria: list[Criterion] = [*_ranges(entity, query, problems)]
    document = entity.document_schema
    for name, raw_values in query.items():
        match = entity.filters.get(name)
        if match is None or name in PAGING_PARAMETERS or name in ignore:
            continue  # unknown parameters are ignored, as HTTP APIs conventionally do
        if not _bounded(name, raw_values, problems):
            continue
        values = [
            parse_scalar(field_schema(document, match.paths[0]), v, name, problems)
            for v in raw_values
        ]
        criteria.append(_alternatives(entity, match, values))
    if problems:
        raise ValidationFailed("Invalid query parameters", problems)
    return tuple(criteria)


def _filter_for_search_field(entity: Entity, name: str) -> str | None:
    if name in entity.search_aliases:
        return entity.search_aliases[name]
    for candidate in (
        name.removesuffix("s"),
        name.removesuffix("es"),
        name[:-3] + "y" if name.endswith("ies") else None,
    ):
        if candidate and candidate in entity.filters:
            return candidate
    return name if name in entity.filters else None


def search_criteria(entity: Entity, body: Any, *, ignore: frozenset[str] = frozenset()) -> Criteria:
    """``POST /search/{path}``: plural list fields of the official search request."""
    assert entity.search_schema is not None
    problems: list[FieldError] = []
    sent = body if isinstance(body, dict) else {}
    for name, value in sent.items():  # before any work per value
        if isinstance(value, list):
            _bounded(name, value, problems)
    if problems:
        raise ValidationFailed("Invalid search request", problems)
    request = shape(entity.schemas.named(entity.search_schema), body, "", problems)
    if problems:
        raise ValidationFailed("Invalid search request", problems)
    criteria: list[Criterion] = [*_ranges(entity, request, problems)]
    unsupported = []
    document = entity.document_schema
    for name, value in request.items():
        if (
            sent.get(name) in (None, [], {})
            or name in SEARCH_PAGING_FIELDS
            or name in entity.ignored_parameters
            or name in entity.bounds
            or name in ignore
        ):
            continue
        filter_name = _filter_for_search_field(entity, name)
        if filter_name is None or filter_name in entity.unsupported_filters:
            unsupported.append(name)
            continue
        match = entity.filters[filter_name]
        values = value if isinstance(value, list) else [value]
        expected = field_schema(document, match.paths[0])
        if expected.get("type") not in (None, "string"):
            values = [
                parse_scalar(
                    expected, str(v).lower() if isinstance(v, bool) else str(v), name, problems
                )
                for v in values
            ]
        criteria.append(_alternatives(entity, match, values))
    if problems:
        raise ValidationFailed("Invalid search request", problems)
    _refuse_unknown(entity, unsupported, "Search fields")
    return tuple(criteria)
