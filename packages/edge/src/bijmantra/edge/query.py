"""One rule for a query parameter given more than once (ADR 0314): on the APIs it is 400
``malformed`` naming the parameter, unless the route declares it repeatable.

Before, each reader chose: paging read the first value, the operations filters the last, so
``?page=1&page=9`` or ``?status=open&status=done`` meant what the code happened to read. A
route that takes several values of one parameter (BrAPI's filters, which match any value
given) names them in ``opt[REPEATABLE]``; every other parameter is single-valued.

A platform route (``/api/v1``) declares every query parameter its handler reads, with its type
and bounds, in ``opt[QUERY]`` (ADR 0350): the published contract lists them from there, one
guard checks them before the handler, and the handler reads them only through
``query_value``/``query_int``/``query_values``, which refuse a name the route does not declare."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from bijmantra.edge.handlers import API_PREFIXES
from bijmantra.kernel import FieldError, Malformed, ValidationFailed, decimal_integer
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

REPEATABLE = "repeatable"  # route opt: the query parameters it takes several values of


async def single_valued_parameters(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard (``Litestar(guards=[...])``): refuse a repeated single-valued parameter."""
    if not connection.scope["query_string"] or not connection.scope["path"].startswith(
        API_PREFIXES
    ):
        return  # console pages (``/app``) read the value they need and are not an API
    repeatable = handler.opt.get(REPEATABLE, frozenset()) | {
        q.name for q in declared(handler) if q.repeatable
    }
    given = Counter(name for name, _ in connection.query_params.multi_items())
    repeated = sorted(n for n, times in given.items() if times > 1 and n not in repeatable)
    if repeated:
        raise Malformed(
            "A query parameter that takes one value was given more than once",
            [FieldError(n, f"given {given[n]} times; give it once") for n in repeated],
        )


QUERY = "query"  # route opt: the ``Query`` parameters its handler reads (ADR 0350)
Kind = Literal["string", "integer", "boolean"]
_BOOLEANS = ("true", "false")


@dataclass(frozen=True, slots=True)
class Query:
    """One query parameter a route's handler reads: in the published contract (with its
    type and bounds) and checked by ``declared_query_parameters`` before the handler runs.
    An empty value counts as not given, as the handlers have always read it."""

    name: str
    kind: Kind = "string"
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[str, ...] = ()
    repeatable: bool = False
    description: str = ""

    def parameter(self) -> dict[str, Any]:
        """The OpenAPI 3.1 parameter object."""
        schema: dict[str, Any] = {"type": self.kind}
        if self.kind == "string" and self.required:
            schema["minLength"] = 1
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.repeatable:
            schema = {"type": "array", "items": schema}
        described: dict[str, Any] = {"name": self.name, "in": "query", "required": self.required}
        if self.description:
            described["description"] = self.description
        return {**described, "schema": schema}

    def problem(self, raw: str) -> FieldError | None:
        """What is wrong with a given (non-empty) value, if anything."""
        if self.kind == "boolean":
            return None if raw.lower() in _BOOLEANS else FieldError(self.name, "true or false")
        if self.enum and raw not in self.enum:
            return FieldError(self.name, f"one of {', '.join(self.enum)}")
        if self.kind != "integer":
            return None
        try:
            number = decimal_integer(raw)
        except ValueError:
            return FieldError(self.name, "must be an integer")
        low = -math.inf if self.minimum is None else self.minimum
        high = math.inf if self.maximum is None else self.maximum
        if not low <= number <= high:
            return FieldError(self.name, f"must be between {self.minimum} and {self.maximum}")
        return None


def declared(handler: BaseRouteHandler) -> tuple[Query, ...]:
    found: tuple[Query, ...] = (handler.opt or {}).get(QUERY, ())
    return found


async def declared_query_parameters(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard: the route's declared parameters, checked against their declaration (type,
    bounds, choices, required) before the handler; 422 ``validation`` naming each problem,
    as the handlers' own checks answered."""
    parameters = declared(handler)
    if not parameters:
        return
    given = connection.query_params
    problems = []
    for parameter in parameters:
        values = [v for v in given.getall(parameter.name, []) if v != ""]
        if parameter.required and not values:
            problems.append(FieldError(parameter.name, "required"))
        problems += [p for v in values if (p := parameter.problem(v)) is not None]
    if problems:
        raise ValidationFailed("Invalid query parameters", problems)


class UndeclaredQueryParameter(LookupError):
    """A handler read a query parameter its route does not declare: a programming error."""


def _declaration(request: Request[Any, Any, Any], name: str) -> Query:
    handler = request.route_handler
    for parameter in declared(handler):
        if parameter.name == name:
            return parameter
    raise UndeclaredQueryParameter(
        f"{handler.handler_name} reads query parameter {name!r}, which its route does not"
        " declare: add Query({name!r}) to its opt[QUERY] (ADR 0350)"
    )


def query_given(request: Request[Any, Any, Any], name: str) -> str | None:
    """The value of a declared query parameter as given (``None``: not given)."""
    _declaration(request, name)
    value: str | None = request.query_params.get(name)
    return value


def query_value(request: Request[Any, Any, Any], name: str, default: str = "") -> str:
    """The value of a declared query parameter (``default`` when not given)."""
    value = query_given(request, name)
    return default if value is None else value


def query_values(request: Request[Any, Any, Any], name: str) -> list[str]:
    """Every value of a declared repeatable query parameter, in order."""
    if not _declaration(request, name).repeatable:
        raise UndeclaredQueryParameter(f"query parameter {name!r} is not declared repeatable")
    return list(request.query_params.getall(name, []))


def query_int(request: Request[Any, Any, Any], name: str, default: int) -> int:
    """A declared integer query parameter (``default`` when not given or empty)."""
    return integer_value(name, query_value(request, name), default)


def integer_value(name: str, raw: str | None, default: int) -> int:
    """Query parameter ``name``'s value ``raw`` as an integer (``default`` when not given or
    empty); a 422 naming it when it is not one."""
    if not raw:
        return default
    try:
        return decimal_integer(raw)
    except ValueError:
        raise ValidationFailed(
            f"Query parameter {name} must be an integer", [FieldError(name, raw)]
        ) from None


def undeclared_names(request: Request[Any, Any, Any]) -> list[str]:
    """The given query parameters the route does not declare (for a route that refuses them)."""
    names = {p.name for p in declared(request.route_handler)}
    return sorted({k for k in request.query_params if k not in names})
