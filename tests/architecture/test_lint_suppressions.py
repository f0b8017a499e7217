"""Production code carries no lint or type suppression beyond the few listed here, each with
its reason (ADR 0319): a new ``noqa``, ``type: ignore`` or ``pragma: no cover`` fails the
build until the code is fixed or the reason is written down beside it and in this list.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUPPRESSION = re.compile(r"#\s*(noqa\b|type:\s*ignore\b|pragma:\s*no cover\b|ruff:\s*noqa\b)")
# Generated code, tests and benchmarks are outside the rule.
OUTSIDE = re.compile(r"^(packages/contracts/|bench/)|(^|/)tests?/")
# (path, rule) of each suppression kept, and why.
KEPT = {
    # The documented local demo login, printed by `bijmantra up`; a fixed password is the point.
    ("packages/devstack/src/bijmantra/devstack/stack.py", "noqa: S105"),
    ("services/identity/src/bijmantra/identity/config.py", "noqa: S105"),
}


def suppressions(lines: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """(path, what) of each suppression comment in ``(path, line)`` pairs of production code."""
    found = set()
    for path, line in lines:
        match = SUPPRESSION.search(line)
        if match and not OUTSIDE.search(path):
            rule = re.search(r"noqa:\s*[A-Z]+\d+", line)
            found.add((path, re.sub(r"\s+", " ", rule.group(0) if rule else match.group(1))))
    return found


def _tracked_python() -> list[tuple[str, str]]:
    files = subprocess.run(
        ["git", "ls-files", "*.py", "*.pyi", "*.pyx"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [
        (name, line)
        for name in files
        if (ROOT / name).is_file()
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines()
    ]


def test_production_code_keeps_only_the_listed_suppressions() -> None:
    assert suppressions(_tracked_python()) == KEPT


def test_ruff_ignores_by_path_are_the_listed_ones() -> None:
    """A path-wide ignore is a suppression too: tests and benchmarks, migrations' own DDL
    identifiers, the document store's catalog-built WHERE (ADR 0245), and the OpenTelemetry
    SDK where tracing is set up (ADR 0080)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["ruff"]["lint"]["per-file-ignores"] == {
        "**/tests/**": ["S", "PT011", "TID251"],
        "tests/**": ["S", "PT011"],
        "bench/**": ["S"],
        "db/migrations/**": ["S608"],
        "packages/adapters/postgres/src/bijmantra/adapters/postgres/resources.py": ["S608"],
        "packages/observability/src/bijmantra/observability/{tracing_setup,http}.py": ["TID251"],
        "services/*/src/**": ["TID251"],
    }


def test_the_scan_sees_each_kind_of_suppression() -> None:
    lines = [
        ("packages/a/src/x.py", "query = f'SELECT {x}'  # noqa: S608 (why)"),
        ("packages/a/src/x.py", "class C(Base):  # type: ignore[misc]"),
        ("packages/a/src/x.py", "raise  # pragma: no cover"),
        ("services/b/src/y.py", "# ruff: noqa: S608"),
        ("services/b/tests/test_y.py", "x = 1  # noqa: S101"),
        ("bench/z.py", "x = 1  # noqa: S311"),
    ]
    assert suppressions(lines) == {
        ("packages/a/src/x.py", "noqa: S608"),
        ("packages/a/src/x.py", "type: ignore"),
        ("packages/a/src/x.py", "pragma: no cover"),
        ("services/b/src/y.py", "noqa: S608"),
    }
