"""The charts' per-job analysis budget (ADR 0338): domain-api refuses what the workers would
refuse, and a job's budget leaves the worker pod half its memory limit for everything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from bijmantra.domain.analysis import DEFAULT_JOB_MEMORY

HELM_DIR = Path(__file__).resolve().parents[2] / "deployments" / "helm"
UNITS = {"Mi": 1 << 20, "Gi": 1 << 30}


def values(chart: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((HELM_DIR / chart / "values.yaml").read_text())
    return loaded


def test_domain_api_and_the_worker_share_one_budget_of_half_the_worker_limit() -> None:
    worker, domain_api = values("analytics-worker"), values("domain-api")
    budget = int(worker["config"]["ANALYSIS_MEMORY_MIB"]) << 20
    assert int(domain_api["config"]["ANALYSIS_MEMORY_MIB"]) << 20 == budget
    limit = worker["resources"]["limits"]["memory"]
    assert 2 * budget <= int(limit[:-2]) * UNITS[limit[-2:]]
    assert budget == DEFAULT_JOB_MEMORY  # the charts say what the services do unconfigured
