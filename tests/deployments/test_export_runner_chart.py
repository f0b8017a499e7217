"""The export runner in Kubernetes (ADRs 0285, 0287): its own Deployment holds the owner's URL.

Exports requested through the API are built only by a process with DATABASE_OWNER_URL; these
checks fail if the chart renders a runner without it, or hands it to the API replicas.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.deployments.test_charts import (
    DNS,
    UMBRELLA,
    VARIANTS,
    Manifest,
    _flows,
    merged_values,
    of_kind,
    one,
    render,
    rendered,
    service_deployment,
)

RUNNER = "domain-api-export-runner"


def _container(deployment: Manifest) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_runner_alone_holds_the_owners_url_from_the_migration_secret(variant: str) -> None:
    docs = rendered("domain-api", variant)
    runner = service_deployment(docs, RUNNER)
    container = _container(runner)
    assert container["command"] == ["bijmantra-domain-api", "export-runner"]
    env = _env(container)
    migrate_env = _env(_container(one(docs, "Job")))
    owner = env["DATABASE_OWNER_URL"]["valueFrom"]["secretKeyRef"]
    assert owner == migrate_env["DATABASE_OWNER_URL"]["valueFrom"]["secretKeyRef"]
    assert "DATABASE_URL" not in env
    api = _container(service_deployment(docs, "domain-api"))
    assert "DATABASE_OWNER_URL" not in _env(api), "the API replicas must not be the owner"
    assert container["image"] == api["image"]
    # The archive is written to a bounded scratch volume before it is stored.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in runner["spec"]["template"]["spec"]["volumes"]}
    scratch = volumes[mounts[env["EXPORT_SCRATCH_DIR"]["value"]]]
    assert (
        scratch["emptyDir"]["sizeLimit"]
        == merged_values("domain-api", variant)["exports"]["scratchSizeLimit"]
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_runner_is_reached_by_nobody_and_reaches_only_postgres(variant: str) -> None:
    docs = rendered("domain-api", variant)
    pod = service_deployment(docs, RUNNER)["spec"]["template"]
    labels = pod["metadata"]["labels"].items()
    services = of_kind(docs, "Service")
    assert services, "the API's Service is rendered"
    assert not [s for s in services if s["spec"]["selector"].items() <= labels]
    (policy,) = [
        p
        for p in of_kind(docs, "NetworkPolicy")
        if p["spec"]["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    ]
    np_values = merged_values("domain-api", variant)["networkPolicy"]
    assert _flows(policy, np_values) == {
        "ingress": set(),
        "egress": DNS | {("postgres", None, "TCP")},
    }


def test_the_umbrella_runs_the_runner_beside_domain_api() -> None:
    docs = rendered(UMBRELLA, "default")
    env = _env(_container(service_deployment(docs, RUNNER)))
    assert "secretKeyRef" in env["DATABASE_OWNER_URL"]["valueFrom"]
    assert "DATABASE_OWNER_URL" not in _env(_container(service_deployment(docs, "domain-api")))


def test_exports_can_be_turned_off_but_never_without_the_owners_url() -> None:
    deployments = of_kind(render("domain-api", {"exports": {"enabled": False}}), "Deployment")
    assert [d["metadata"]["name"] for d in deployments] == ["domain-api"]
    with pytest.raises(Exception, match="DATABASE_OWNER_URL"):
        render("domain-api", {"exports": {"secretEnv": {"DATABASE_OWNER_URL": None}}})
