"""Library code traces through the OpenTelemetry API; only bootstraps touch the SDK.

import-linter sees ``opentelemetry`` as one external node, so the SDK/exporter/instrumentation
ban is ruff's TID251 (configured in pyproject.toml); this test runs it on the whole tree.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ruff_banned_api(*paths: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--select",
            "TID251",
            "--config",
            str(ROOT / "pyproject.toml"),
            *map(str, paths),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_only_service_bootstraps_and_tracing_setup_import_the_sdk() -> None:
    result = _ruff_banned_api("packages", "services")
    assert result.returncode == 0, result.stdout


def test_the_rule_catches_an_sdk_import_in_library_code(tmp_path: Path) -> None:
    probe = tmp_path / "adapter.py"
    probe.write_text("from opentelemetry.sdk.trace import TracerProvider\n\nTracerProvider()\n")
    result = _ruff_banned_api(probe)
    assert result.returncode == 1
    assert "opentelemetry.sdk" in result.stdout
