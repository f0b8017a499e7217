"""A migration means the same thing forever: it imports no live project code."""

import ast
from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parents[2] / "db" / "migrations"
ALLOWED = {"__future__", "os", "alembic", "ddl_v1"}


def test_migrations_import_only_the_standard_library_alembic_and_their_own_helpers() -> None:
    offenders = []
    for path in sorted([*MIGRATIONS.glob("versions/*.py"), MIGRATIONS / "ddl_v1.py"]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] not in ALLOWED]
    assert offenders == []
