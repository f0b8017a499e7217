"""Issue 18's size bounds, kept: no production source file over 500 lines, no ADR over 150.

A file past 500 lines is a module doing two jobs; an ADR past a page is a diary, not a
decision. Generated code (``packages/contracts``) and tests are outside the bound.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_LINES = 500
ADR_LINES = 150


def _production_sources() -> list[Path]:
    roots = [*ROOT.glob("packages/*/src"), *ROOT.glob("packages/adapters/*/src")]
    roots += [*ROOT.glob("services/*/src"), ROOT / "deployments"]
    found = [p for root in roots for suffix in ("*.py", "*.pyx") for p in root.rglob(suffix)]
    return sorted(p for p in found if "contracts" not in p.relative_to(ROOT).parts[:2])


def _longer_than(paths: list[Path], bound: int, base: Path = ROOT) -> dict[str, int]:
    counts = {str(p.relative_to(base)): len(p.read_text().splitlines()) for p in paths}
    return {name: lines for name, lines in counts.items() if lines > bound}


def test_no_production_source_file_is_over_500_lines() -> None:
    sources = _production_sources()
    assert len(sources) > 300, "the scan must see the whole tree"
    assert _longer_than(sources, SOURCE_LINES) == {}


def test_no_adr_is_over_150_lines() -> None:
    adrs = sorted((ROOT / "docs" / "adr").glob("*.md"))
    assert len(adrs) > 50
    assert _longer_than(adrs, ADR_LINES) == {}


def test_the_bound_sees_a_long_file(tmp_path: Path) -> None:
    long_file = tmp_path / "long.py"
    long_file.write_text("x = 1\n" * (SOURCE_LINES + 1))
    short_file = tmp_path / "short.py"
    short_file.write_text("x = 1\n" * SOURCE_LINES)
    found = _longer_than([long_file, short_file], SOURCE_LINES, tmp_path)
    assert found == {"long.py": SOURCE_LINES + 1}
