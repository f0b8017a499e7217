"""One rule for a query parameter given more than once (ADR 0314): on the APIs it is 400
``malformed`` naming the parameter, unless the route declares it repeatable.

Before, each reader chose: paging read the first value, the operations filters the last, so
``?page=1&page=9`` or ``?status=open&status=done`` meant what the code happened to read. A
route that takes several values of one parameter (BrAPI's filters, which match any value
given) names them in ``opt[REPEATABLE]``; every other parameter is single-valued."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bijmantra.edge.handlers import API_PREFIXES
from bijmantra.kernel import FieldError, Malformed
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
    repeatable = handler.opt.get(REPEATABLE, frozenset())
    given = Counter(name for name, _ in connection.query_params.multi_items())
    repeated = sorted(n for n, times in given.items() if times > 1 and n not in repeatable)
    if repeated:
        raise Malformed(
            "A query parameter that takes one value was given more than once",
            [FieldError(n, f"given {given[n]} times; give it once") for n in repeated],
        )
