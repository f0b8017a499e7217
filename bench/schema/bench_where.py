"""The document store's list statement: fragments joined (ADR 0245's one exception) against
the same statement built with SQLAlchemy Core and compiled for the psycopg connection.

The list read runs on the psycopg connection (binary results, ADR 0245 rule 3), so a Core
statement would be compiled per request to that dialect's text. Measured in one process,
best of 5, over the statement of a page filtered by two criteria (a study, two germplasm):
time per statement for each, parameters built the same way. A ratio above 1 means the
fragments are cheaper. Writes ``bench/results/where.json``.
"""

from __future__ import annotations

import os
import platform
from typing import Any

import msgspec
from bijmantra.adapters.postgres.resource_criteria import where as exact_where
from sqlalchemy import bindparam, cast, column, func, select, table
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from bench.schema.bench_schema import best_seconds, write_result

STATEMENTS = 2_000
CRITERIA = [[{"studyDbId": "s1"}], [{"germplasmDbId": "g1"}, {"germplasmDbId": "g2"}]]
_DIALECT = postgresql.psycopg.dialect()
_RESOURCES = table(
    "resources",
    column("entity"),
    column("deleted_at"),
    column("document", JSONB),
    column("db_id"),
    column("body"),
    schema="domain",
)


def fragments() -> str:
    params: dict[str, Any] = {"entity": "observationunit"}
    where, _ = exact_where(CRITERIA, params)
    return (
        f"SELECT (SELECT count(*) FROM domain.resources WHERE {where}), p.n FROM ("
        f"SELECT db_id, body FROM domain.resources WHERE {where} "
        "ORDER BY db_id LIMIT %(limit)s OFFSET %(offset)s) p"
    )


def core() -> str:
    c = _RESOURCES.c
    params: dict[str, Any] = {"entity": "observationunit"}
    conditions = [c.entity == bindparam("entity"), c.deleted_at.is_(None)]
    for i, criterion in enumerate(CRITERIA):
        params[f"c{i}"] = [msgspec.json.encode(fragment).decode() for fragment in criterion]
        conditions.append(c.document.op("@>")(func.any(cast(bindparam(f"c{i}"), ARRAY(JSONB)))))
    count = select(func.count()).select_from(_RESOURCES).where(*conditions).scalar_subquery()
    rows = (
        select(c.db_id, c.body)
        .where(*conditions)
        .order_by(c.db_id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("p")
    )
    return str(select(count, func.count()).select_from(rows).compile(dialect=_DIALECT))


def main() -> None:
    joined = best_seconds(lambda: [fragments() for _ in range(STATEMENTS)])
    compiled = best_seconds(lambda: [core() for _ in range(STATEMENTS)])
    result = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": os.getloadavg()[0],
        "statements": STATEMENTS,
        "baseline": {
            "name": "fragments joined (resource_criteria.where)",
            "us_per_statement": round(joined / STATEMENTS * 1e6, 1),
        },
        "core_compiled_us_per_statement": round(compiled / STATEMENTS * 1e6, 1),
        "core_cost_over_baseline": round(compiled / joined, 1),
    }
    write_result("where.json", result)


if __name__ == "__main__":
    main()
