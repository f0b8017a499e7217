"""packages/contracts must be exactly what proto/generate.py produces from proto/."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "packages" / "contracts" / "src" / "bijmantra" / "contracts"


def _generator():
    spec = importlib.util.spec_from_file_location("proto_generate", ROOT / "proto" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["proto_generate"] = module
    spec.loader.exec_module(module)
    return module


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): p.read_text()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    fresh = tmp_path / "contracts"
    _generator().generate(fresh)
    committed, regenerated = _tree(COMMITTED), _tree(fresh)
    assert sorted(committed) == sorted(regenerated), "run `just proto` and commit the result"
    stale = [name for name in committed if committed[name] != regenerated[name]]
    assert stale == [], f"stale generated files (run `just proto`): {stale}"


def test_every_proto_follows_the_layout_rules() -> None:
    """The parts of buf's STANDARD lint that a layout mistake would break."""
    for proto in (ROOT / "proto").rglob("*.proto"):
        relative = proto.relative_to(ROOT / "proto")
        package = ".".join(relative.parent.parts)
        text = proto.read_text()
        assert f"package {package};" in text, f"{relative}: package must match its directory"
        assert relative.parent.name.startswith("v"), f"{relative}: package must end in a version"
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("rpc "):
                name = stripped.split()[1].split("(")[0]
                plain = stripped.replace(
                    "(stream ", "("
                )  # streaming RPCs name their messages alike
                assert f"({name}Request)" in plain, stripped
                assert f"({name}Response)" in plain, stripped
            if stripped.startswith("service "):
                assert stripped.split()[1].endswith("Service"), stripped
