"""SQL lives in ``adapters/postgres``; a service only wires adapters together (ADR 0245).

The one exception is domain-api's demo-data loader: it stages the BrAPI Test Server's own SQL
dump in a scratch schema and reads it back, which is the upstream data set's schema, not ours.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SQL_MODULES = {"sqlalchemy", "sqlalchemy.sql", "sqlalchemy.sql.expression", "psycopg.sql"}
SQL_NAMES = {"text", "select", "insert", "update", "delete"}


def _reaches_sql(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "psycopg"]
        elif isinstance(node, ast.ImportFrom) and node.module in SQL_MODULES:
            found += [f"{node.module}.{a.name}" for a in node.names if a.name in SQL_NAMES]
            if node.module.startswith("psycopg"):
                found += [f"{node.module}.{a.name}" for a in node.names]
    return found


def test_service_sources_import_no_sql_builders_or_driver() -> None:
    offenders = {}
    for path in sorted(ROOT.glob("services/*/src/**/*.py")):
        if path.name.startswith("testdata"):
            continue
        if found := _reaches_sql(ast.parse(path.read_text(), str(path))):
            offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}


def test_the_scan_sees_each_way_of_writing_sql() -> None:
    source = "import psycopg\nfrom sqlalchemy import text, select\nfrom psycopg.sql import SQL\n"
    assert _reaches_sql(ast.parse(source)) == [
        "psycopg",
        "sqlalchemy.text",
        "sqlalchemy.select",
        "psycopg.sql.SQL",
    ]
