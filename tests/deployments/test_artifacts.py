"""Static checks of the container build, the compose topology and the Grafana dashboard.

There is no Docker engine in CI, so the image is not built here; these tests hold the
Dockerfile and compose file to the runtime contract instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = ROOT / "deployments"
SERVICES = ("gateway", "identity", "domain-api", "analytics-worker")


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per stage name, with line continuations joined and comments dropped."""
    text = (DEPLOYMENTS / "docker" / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    stages: dict[str, list[tuple[str, str]]] = {"": []}
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            match = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.IGNORECASE)
            assert match
            current = match.group(2) or match.group(1)
            stages[current] = []
        stages[current].append((instruction, rest))
    return stages


def test_dockerfile_is_multi_stage_with_a_slim_non_root_runtime() -> None:
    stages = dockerfile_stages()
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in stages[""]
    assert list(stages)[-1] == "runtime", "the runtime stage is the default target"
    runtime = stages["runtime"]
    assert runtime[0] == ("FROM", "${PYTHON_IMAGE} AS runtime")
    instructions = [i for i, _ in runtime]
    assert "HEALTHCHECK" not in {i for s in stages.values() for i, _ in s}
    assert ("USER", "10001:10001") in runtime
    assert instructions.index("USER") > max(
        i for i, (ins, _) in enumerate(runtime) if ins in ("RUN", "COPY")
    )
    copies = [rest for ins, rest in runtime if ins == "COPY"]
    assert copies == ["--from=builder /app/.venv /app/.venv", "db/ /app/db/"]
    runs = " ".join(rest for ins, rest in runtime if ins == "RUN")
    for tool in ("gcc", "uv ", "build-essential", "libc6-dev"):
        assert tool not in runs, f"{tool} in the runtime stage"
    env = " ".join(rest for ins, rest in runtime if ins == "ENV")
    assert "TMPDIR=/tmp" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "MIGRATIONS_DIR=/app/db/migrations" in env


def test_dockerfile_builder_installs_exactly_the_service_with_uv() -> None:
    builder = dockerfile_stages()["builder"]
    runs = [rest for ins, rest in builder if ins == "RUN"]
    joined = " ".join(runs)
    assert "gcc" in joined
    assert 'pip install --no-cache-dir "uv==' in joined
    syncs = [r for r in runs if "uv sync" in r]
    assert syncs
    assert all(
        "--frozen" in r
        and "--no-dev" in r
        and "--no-editable" in r
        and '--package "bijmantra-${SERVICE}"' in r
        for r in syncs
    )
    for service in SERVICES:
        assert service in joined, f"SERVICE={service} is not accepted"
    assert any("UV_PROJECT_ENVIRONMENT=/app/.venv" in rest for ins, rest in builder if ins == "ENV")


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "**/*.so", "**/__pycache__", ".env"} <= patterns
    for needed in ("packages", "services", "db", "uv.lock", "pyproject.toml"):
        assert needed not in patterns


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOYMENTS / "compose.yaml").read_text())
    return data


def test_compose_runs_the_whole_topology(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["nats"]["image"].startswith("nats:2.10")
    assert "-js" in services["nats"]["command"]
    assert services["redis"]["image"] == "redis:7"
    assert services["migrate"]["command"] == ["bijmantra-migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    ports = {
        "gateway": "GATEWAY_PORT",
        "identity": "IDENTITY_PORT",
        "domain-api": "DOMAIN_API_PORT",
        "analytics-worker": "WORKER_HEALTH_PORT",
    }
    for name in SERVICES:
        svc = services[name]
        assert svc["build"]["args"]["SERVICE"] == name
        assert svc["build"]["dockerfile"] == "deployments/docker/Dockerfile"
        assert svc["command"] == [f"bijmantra-{name}"]
        assert svc["user"] == "10001:10001"
        assert svc["read_only"] is True
        assert svc["cap_drop"] == ["ALL"]
        assert any(t.startswith("/tmp") for t in svc["tmpfs"])
        assert "healthcheck" in svc
        assert ports[name] in svc["environment"]
        assert svc["environment"]["OTEL_SERVICE_NAME"] == name
        if name != "gateway":
            assert "DATABASE_URL" in svc["environment"]
            assert "DATABASE_OWNER_URL" not in svc["environment"]
        assert "JWKS_URL" not in svc["environment"]
    # Token verification: gateway and domain-api ask identity's gRPC IdentityService.
    grpc_port = services["identity"]["environment"]["IDENTITY_GRPC_PORT"]
    for name in ("gateway", "domain-api"):
        assert services[name]["environment"]["IDENTITY_TARGET"] == f"identity:{grpc_port}"


def test_compose_gives_the_owners_url_to_the_export_runner_alone(compose: dict[str, Any]) -> None:
    """Exports requested through the API are built only where DATABASE_OWNER_URL is (ADR 0287)."""
    services = compose["services"]
    runner = services["export-runner"]
    assert runner["command"] == ["bijmantra-domain-api", "export-runner"]
    assert runner["image"] == services["domain-api"]["image"]
    owner_url = services["migrate"]["environment"]["DATABASE_OWNER_URL"]
    assert runner["environment"]["DATABASE_OWNER_URL"] == owner_url
    scratch = runner["environment"]["EXPORT_SCRATCH_DIR"]
    assert any(t.startswith(scratch + ":") for t in runner["tmpfs"])
    holders = {n for n, s in services.items() if "DATABASE_OWNER_URL" in s.get("environment", {})}
    assert holders == {"migrate", "export-runner"}
    assert runner["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_migrates_before_any_service_starts(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def upstream(name: str) -> set[str]:
        deps = set(services[name].get("depends_on", {}))
        return deps.union(*(upstream(d) for d in deps)) if deps else set()

    for name in SERVICES:
        if name != "gateway":  # gateway has no database
            assert "migrate" in upstream(name), name


DASHBOARD_METRICS = (
    "http_requests_total",
    "http_request_duration_seconds",
    "grpc_server_handled_total",
    "grpc_server_handling_seconds",
    "db_pool_connections_in_use",
    "outbox_lag_seconds",
    "outbox_pending_events",
    "consumer_pending_messages",
    "consumer_redeliveries_total",
    "consumer_dead_letters",
    "consumer_dead_lettered_total",
    "analysis_job_duration_seconds",
    "quota_refusals_total",
    "storage_refusals_total",
    "contended_transactions_total",
)


def test_grafana_dashboard_charts_every_named_metric() -> None:
    dashboard = json.loads((DEPLOYMENTS / "grafana" / "bijmantra.json").read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    for metric in DASHBOARD_METRICS:
        assert metric in exprs, metric
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for p in panels:
        assert p["datasource"]["uid"] == "${datasource}"
        for t in p["targets"]:
            assert t["expr"].count("(") == t["expr"].count(")"), t["expr"]
