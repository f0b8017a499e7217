"""Every Redis client a service or store opens is ``redis_client``'s (ADR 0317): a command
that does not answer in time is 503, never a hang. Only that module builds one itself."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THE_FACTORY = ROOT / "packages/adapters/redis/src/bijmantra/adapters/redis/client.py"


def _builds_a_client(tree: ast.Module) -> list[int]:
    """Lines calling ``Redis(...)``, ``Redis.from_url(...)`` or ``ConnectionPool...``."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = node.func
        if isinstance(called, ast.Attribute) and called.attr == "from_url":
            called = called.value
        if isinstance(called, ast.Name) and called.id in ("Redis", "ConnectionPool"):
            lines.append(node.lineno)
    return lines


def test_only_the_bounded_factory_builds_a_redis_client() -> None:
    sources = [
        *ROOT.glob("services/*/src/**/*.py"),
        *ROOT.glob("packages/*/src/**/*.py"),
        *ROOT.glob("packages/adapters/*/src/**/*.py"),
    ]
    offenders = {
        str(path.relative_to(ROOT)): lines
        for path in sorted(set(sources))
        if path != THE_FACTORY and (lines := _builds_a_client(ast.parse(path.read_text())))
    }
    assert offenders == {}


def test_the_scan_sees_each_way_of_building_one() -> None:
    source = "Redis.from_url(u)\nRedis(host='h')\nConnectionPool.from_url(u)\nredis_client(u)\n"
    assert _builds_a_client(ast.parse(source)) == [1, 2, 3]
