"""Helm chart tests: lint, render, schema-validate and check what matters. No cluster.

Charts are rendered in-process with ``helm-python-sdk`` (libhelm, no helm binary) and every
rendered manifest is validated against the Kubernetes OpenAPI schemas bundled with
``kubernetes-validate`` (strict: unknown fields fail).
"""

from __future__ import annotations

import importlib.util
import io
import re
import tarfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HELM_DIR = ROOT / "deployments" / "helm"
SERVICES = ("gateway", "identity", "domain-api", "analytics-worker")
UMBRELLA = "bijmantra"
EDGE = "device-edge"
CHARTS = (*SERVICES, EDGE, UMBRELLA)
VARIANTS = ("default", "example")
# Oldest supported (Chart.yaml kubeVersion >=1.27; 1.30 is the oldest still maintained
# by the major clouds) and the newest schemas kubernetes-validate ships.
KUBE_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version() + ".0")
NAMESPACE = "bijmantra"

Manifest = dict[str, Any]

# --------------------------------------------------------------------------- helpers


def example_values(chart: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(
        (HELM_DIR / chart / "ci" / "example-values.yaml").read_text()
    )
    return values


def values_for(chart: str, variant: str) -> dict[str, Any] | None:
    return None if variant == "default" else example_values(chart)


def _loaded(chart: str) -> helm.Chart:
    # Fresh per use: rendering prunes disabled subcharts from the loaded chart in place.
    return helm.Chart.load(HELM_DIR / chart)


def render(
    chart: str,
    values: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    upgrade: bool = False,
) -> list[Manifest]:
    with _loaded(chart) as loaded:
        out = loaded.render(
            values,
            name=name or chart,
            namespace=NAMESPACE,
            is_install=not upgrade,
            is_upgrade=upgrade,
        )
    docs: list[Manifest] = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


@cache
def _rendered(chart: str, variant: str) -> tuple[Manifest, ...]:
    return tuple(render(chart, values_for(chart, variant)))


def rendered(chart: str, variant: str) -> list[Manifest]:
    return list(_rendered(chart, variant))


def merged_values(chart: str, variant: str) -> dict[str, Any]:
    with _loaded(chart) as loaded:
        return loaded.merge_values(values_for(chart, variant))


def of_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [d for d in of_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
    return found[0]


def pod_specs(docs: list[Manifest]) -> Iterator[tuple[Manifest, dict[str, Any]]]:
    for d in docs:
        if d["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            yield d, d["spec"]["template"]["spec"]
        elif d["kind"] == "CronJob":
            yield d, d["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def service_deployment(docs: list[Manifest], service: str) -> Manifest:
    found = [
        d
        for d in of_kind(docs, "Deployment")
        if d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == service
    ]
    assert len(found) == 1, f"{service}: expected one Deployment, got {len(found)}"
    return found[0]


PARAMS = [pytest.param(c, v, id=f"{c}-{v}") for c in CHARTS for v in VARIANTS]
SERVICE_PARAMS = [pytest.param(s, v, id=f"{s}-{v}") for s in SERVICES for v in VARIANTS]

# --------------------------------------------------------------------------- generated files


def test_values_schemas_are_generated_and_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HELM_DIR))  # the script imports its sibling schema_blocks
    spec = importlib.util.spec_from_file_location("gen", HELM_DIR / "generate_schemas.py")
    assert spec
    assert spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    stale = [str(p) for p, text in gen.rendered().items() if p.read_text() != text]
    assert not stale, f"run deployments/helm/generate_schemas.py: {stale}"


def _tree_from_tar(data: bytes) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                f = tar.extractfile(member)
                assert f is not None
                _add(tree, member.name, f.read())
    return tree


def _tree_from_dir(chart_dir: Path) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(chart_dir.rglob("*")):
        if path.is_file():
            _add(
                tree,
                f"{chart_dir.name}/{path.relative_to(chart_dir).as_posix()}",
                path.read_bytes(),
            )
    return tree


def _add(tree: dict[str, Any], name: str, data: bytes) -> None:
    """Normalise: nested chart archives are expanded under charts/<name>/; Chart.yaml is
    compared as data (helm re-serialises it when packaging)."""
    parts = name.split("/")
    if len(parts) >= 3 and parts[-2] == "charts" and name.endswith(".tgz"):
        prefix = "/".join(parts[:-1])
        for sub, content in _tree_from_tar(data).items():
            tree[f"{prefix}/{sub}"] = content
    elif parts[-1] == "Chart.yaml":
        tree[name] = yaml.safe_load(data)
    elif parts[-1] == "Chart.lock":
        lock = yaml.safe_load(data)
        lock.pop("generated", None)
        tree[name] = lock
    else:
        tree[name] = data


@pytest.mark.parametrize("chart", CHARTS)
def test_vendored_dependencies_match_their_sources(chart: str) -> None:
    """charts/*.tgz are committed so rendering works offline; they must not drift."""
    chart_dir = HELM_DIR / chart
    deps = helm.dependency_list(chart_dir)
    assert deps, chart
    assert all(d["status"] == "ok" for d in deps), deps
    for archive in sorted((chart_dir / "charts").glob("*.tgz")):
        vendored = _tree_from_tar(archive.read_bytes())
        dep_name = next(iter(vendored)).split("/")[0]
        source = _tree_from_dir(HELM_DIR / dep_name)
        source = {k: v for k, v in source.items() if not k.endswith("/Chart.lock")}
        vendored = {k: v for k, v in vendored.items() if not k.endswith("/Chart.lock")}
        assert vendored == source, (
            f"{archive.relative_to(ROOT)} is stale: run deployments/helm/vendor_deps.py "
            f"(differs in {_diff(vendored, source)})"
        )


def _diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


# --------------------------------------------------------------------------- lint + schema


# The library chart has no values, so it is linted with its defaults only.
@pytest.mark.parametrize(
    ("chart", "variant"),
    [("bijmantra-lib", "default"), *((c, v) for c in CHARTS for v in VARIANTS)],
)
def test_helm_lint_is_clean(chart: str, variant: str) -> None:
    values = None if chart == "bijmantra-lib" else values_for(chart, variant)
    report = helm.lint(
        HELM_DIR / chart,
        values,
        strict=True,
        kube_version="v1.30.0",
        namespace=NAMESPACE,
        with_subcharts=True,
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems, report
    assert not report["errors"], report


@pytest.mark.parametrize(("chart", "variant"), PARAMS)
def test_values_pass_the_chart_schema(chart: str, variant: str) -> None:
    with _loaded(chart) as loaded:
        loaded.validate_schema(values_for(chart, variant))


def _keda_scaledobject_ok(doc: Manifest) -> None:
    """kubernetes-validate has no CRD schemas: check the KEDA fields we rely on."""
    assert doc["apiVersion"] == "keda.sh/v1alpha1"
    spec = doc["spec"]
    assert set(spec) <= {
        "scaleTargetRef",
        "minReplicaCount",
        "maxReplicaCount",
        "pollingInterval",
        "cooldownPeriod",
        "triggers",
        "advanced",
        "fallback",
        "idleReplicaCount",
        "initialCooldownPeriod",
    }
    assert spec["scaleTargetRef"]["kind"] == "Deployment"
    assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "nats-jetstream"
    meta = trigger["metadata"]
    assert {"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold"} <= set(
        meta
    )
    assert all(isinstance(v, str) for v in meta.values()), "KEDA trigger metadata is strings"


def _certificate_ok(doc: Manifest, docs: list[Manifest]) -> None:
    """cert-manager's CRD is not bundled: check the fields peers and pods rely on."""
    assert doc["apiVersion"] == "cert-manager.io/v1"
    spec = doc["spec"]
    assert set(spec) <= {
        "secretName",
        "commonName",
        "dnsNames",
        "duration",
        "renewBefore",
        "privateKey",
        "usages",
        "issuerRef",
    }
    service = one(docs, "Service", doc["metadata"]["name"])
    assert service["metadata"]["name"] in spec["dnsNames"]
    assert {"server auth", "client auth"} <= set(spec["usages"])
    assert spec["issuerRef"]["name"]
    assert spec["issuerRef"]["kind"] in ("Issuer", "ClusterIssuer")


def _servicemonitor_ok(doc: Manifest, docs: list[Manifest]) -> None:
    """No CRD schema offline: check the fields that make the scrape find the metrics port."""
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["metadata"]["namespace"] == NAMESPACE
    service = one(docs, "Service", doc["metadata"]["name"])
    assert doc["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = doc["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize(("chart", "variant"), PARAMS)
def test_every_manifest_is_valid_kubernetes(chart: str, variant: str, kube_version: str) -> None:
    docs = rendered(chart, variant)
    assert docs
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if doc["apiVersion"].startswith("keda.sh/"):
            _keda_scaledobject_ok(doc)
            continue
        if doc["kind"] == "ServiceMonitor":
            _servicemonitor_ok(doc, docs)
            continue
        if doc["kind"] == "PrometheusRule":
            continue  # no CRD schema offline: test_dead_letter_alert checks it
        if doc["kind"] == "Certificate":
            _certificate_ok(doc, docs)
            continue
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            pytest.fail(
                f"{chart}/{variant} {where} invalid for k8s {kube_version}: {path}: {e.message}"
            )
        except kubernetes_validate.SchemaNotFoundError as e:
            pytest.fail(f"{chart}/{variant} {where}: {e.message}")
        assert doc["metadata"].get("namespace") == NAMESPACE, where


# --------------------------------------------------------------------------- what matters

HTTP_PROBES = {
    "gateway": {
        "startupProbe": "/health/startup",
        "livenessProbe": "/health/live",
        "readinessProbe": "/health/ready",
    },
    "analytics-worker": {
        "startupProbe": "/health/live",
        "livenessProbe": "/health/live",
        "readinessProbe": "/health/ready",
    },
}
PORTS = {"gateway": 8000, "identity": 8001, "domain-api": 50051, "analytics-worker": 8002}
# The gateway's /metrics is not on its public port (issue 17).
# identity's and domain-api's own ports demand a client certificate (ADR 0176): Prometheus and
# the kubelet's probes use plaintext ports of their own.
METRICS_PORTS = {"gateway": 9465, "identity": 9463, "domain-api": 9464, "analytics-worker": 8002}
HEALTH_PORTS = {"identity": 50062, "domain-api": 50061}
IDENTITY_GRPC_PORT = 50052
TLS_DIR = "/etc/bijmantra/tls"
PORT_ENV = {
    "gateway": "GATEWAY_PORT",
    "identity": "IDENTITY_PORT",
    "domain-api": "DOMAIN_API_PORT",
    "analytics-worker": "WORKER_HEALTH_PORT",
}


@pytest.mark.parametrize(("service", "variant"), SERVICE_PARAMS)
def test_probes(service: str, variant: str) -> None:
    (container,) = service_deployment(rendered(service, variant), service)["spec"]["template"][
        "spec"
    ]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert probe in container, f"{service}: {probe} missing"
        spec = container[probe]
        assert spec["periodSeconds"] > 0
        assert spec["failureThreshold"] > 0
        if service in HEALTH_PORTS:
            assert "httpGet" not in spec
            assert spec["grpc"]["port"] == HEALTH_PORTS[service] == ports["health"]
        else:
            assert "grpc" not in spec
            get = spec["httpGet"]
            assert get["path"] == HTTP_PROBES[service][probe]
            assert ports[get["port"]] == PORTS[service]


@pytest.mark.parametrize(("service", "variant"), SERVICE_PARAMS)
def test_process_contract(service: str, variant: str) -> None:
    docs = rendered(service, variant)
    deployment = service_deployment(docs, service)
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["command"] == [f"bijmantra-{service}"]
    configmap = one(docs, "ConfigMap")
    assert container["envFrom"] == [{"configMapRef": {"name": configmap["metadata"]["name"]}}]
    data = configmap["data"]
    assert data[PORT_ENV[service]] == str(PORTS[service])
    assert data["OTEL_SERVICE_NAME"] == service
    assert data["TMPDIR"] == "/tmp"
    assert data["BIND_HOST"] == "0.0.0.0"  # services bind loopback unless told (issue 17)
    if service == "domain-api":
        assert data["METRICS_PORT"] == "9464"
    if service == "gateway":
        assert data["GATEWAY_METRICS_PORT"] == "9465"
    if service == "identity":
        assert data["IDENTITY_GRPC_PORT"] == str(IDENTITY_GRPC_PORT)
    if service in ("gateway", "domain-api"):
        # Token verification uses identity's gRPC IdentityService, not JWKS over HTTP.
        assert data["IDENTITY_TARGET"].endswith(f":{IDENTITY_GRPC_PORT}")
    assert "JWKS_URL" not in data
    assert "SIGNING_KEYS_DIR" not in data, "signing keys live in the identity database"
    annotations = pod["metadata"]["annotations"]
    monitors = of_kind(docs, "ServiceMonitor")
    if monitors:  # Prometheus Operator: the ServiceMonitor replaces the scrape annotations
        assert not any(k.startswith("prometheus.io/") for k in annotations)
    else:
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(METRICS_PORTS[service])
        assert annotations["prometheus.io/path"] == "/metrics"
    assert "checksum/config" in annotations
    service_obj = one(docs, "Service")
    service_ports = {p["name"]: p for p in service_obj["spec"]["ports"]}
    assert {p["port"] for p in service_ports.values()} >= {PORTS[service]}
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    if service == "identity":
        assert service_ports["grpc"]["port"] == IDENTITY_GRPC_PORT == container_ports["grpc"]
        assert service_ports["grpc"]["appProtocol"] == "grpc"
    assert service_obj["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp", TLS_DIR]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["tmp", "tls"]


@pytest.mark.parametrize(("chart", "variant"), PARAMS)
def test_pods_run_restricted(chart: str, variant: str) -> None:
    pods = list(pod_specs(rendered(chart, variant)))
    assert pods
    for owner, spec in pods:
        where = f"{owner['kind']}/{owner['metadata']['name']}"
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True, where
        assert psc["runAsUser"] == 10001, where
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        assert not spec.get("hostNetwork"), where
        assert not spec.get("hostPID"), where
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["runAsUser"] != 0, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc.get("privileged", False) is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert not sc["capabilities"].get("add"), where
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
            # resources set: requests for scheduling, a memory limit against leaks
            res = c["resources"]
            assert res["requests"]["cpu"], where
            assert res["requests"]["memory"], where
            assert res["limits"]["memory"], where
            assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"]), where
            assert "@sha256:" in c["image"] or re.search(r":[\w.-]+$", c["image"]), where


SECRET_ENV = {"DATABASE_URL", "DATABASE_OWNER_URL"}
CREDENTIAL_URL = re.compile(r"://[^/@\s]*:[^/@\s]+@")


@pytest.mark.parametrize(("chart", "variant"), PARAMS)
def test_secrets_are_referenced_never_inlined(chart: str, variant: str) -> None:
    docs = rendered(chart, variant)
    assert not of_kind(docs, "Secret"), "charts must not create Secrets"
    for cm in of_kind(docs, "ConfigMap"):
        for key, value in cm.get("data", {}).items():
            assert key not in SECRET_ENV, f"{key} in ConfigMap {cm['metadata']['name']}"
            assert not CREDENTIAL_URL.search(value), f"credentials in ConfigMap {key}"
    for owner, spec in pod_specs(docs):
        for c in spec["containers"]:
            for env in c.get("env", []):
                if env["name"] in SECRET_ENV or "value" not in env:
                    assert (
                        "secretKeyRef" in env.get("valueFrom", {}) or env["name"] not in SECRET_ENV
                    ), f"{owner['metadata']['name']}: {env['name']} inlined"
                else:
                    assert not CREDENTIAL_URL.search(env["value"]), env["name"]
    for owner, spec in pod_specs(docs):
        names = {e["name"] for c in spec["containers"] for e in c.get("env", [])}
        if owner["kind"] == "Deployment" and owner["spec"]["template"]["metadata"]["labels"][
            "app.kubernetes.io/name"
        ] in ("identity", "domain-api", "analytics-worker"):
            assert "DATABASE_URL" in names
            assert "DATABASE_OWNER_URL" not in names, "only the migration job is the owner"


@pytest.mark.parametrize("chart", ["gateway", "identity"])
def test_whole_private_ranges_are_trusted_as_proxies_only_behind_the_network_policy(
    chart: str,
) -> None:
    """The default TRUSTED_PROXIES (every private range) leans on the NetworkPolicy: without
    it any pod could set X-Forwarded-For and be taken for any client."""
    assert render(chart, {"networkPolicy": {"enabled": True}})
    with pytest.raises(helm.HelmRenderError, match=r"TRUSTED_PROXIES trusts the whole private"):
        render(chart, {"networkPolicy": {"enabled": False}})
    named = {"TRUSTED_PROXIES": "10.42.7.0/24"}
    assert render(chart, {"networkPolicy": {"enabled": False}, "config": named})


def test_credentials_in_plain_config_are_refused() -> None:
    with pytest.raises(helm.HelmRenderError, match=r"secretEnv\.REDIS_URL"):
        render("gateway", {"config": {"REDIS_URL": "redis://:hunter2@redis:6379/0"}})


@pytest.mark.parametrize(
    ("chart", "values"),
    [
        ("gateway", {"unknownKey": 1}),
        ("gateway", {"config": {"NOT_A_SETTING": "x"}}),
        ("gateway", {"config": {"JWKS_URL": "http://identity:8001/.well-known/jwks.json"}}),
        ("gateway", {"config": {"GATEWAY_WORKERS": 0}}),
        ("identity", {"config": {"ACCESS_TOKEN_TTL": "ten minutes"}}),
        ("identity", {"signingKeys": {"secretName": "keys", "mountPath": "/keys"}}),
        ("domain-api", {"config": {"DB_POOL_SIZE": -1}}),
        ("identity", {"secretEnv": {"DATABASE_URL": "postgresql://u:p@db/x"}}),
        ("identity", {"secretEnv": {"DATABASE_URL": {"name": "s", "key": "k", "value": "x"}}}),
        ("domain-api", {"resources": {"requests": {"memory": None}}}),
        ("domain-api", {"resources": {"limits": {"memory": None}}}),
        ("domain-api", {"migrations": {"secretEnv": {"DATABASE_OWNER_URL": None}}}),
        ("analytics-worker", {"networkPolicy": {"nats": {"port": 0}}}),
        (UMBRELLA, {"gateway": {"enabled": True, "replicas": 3}}),
        (UMBRELLA, {"extra": {}}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_schema_is_strict(chart: str, values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        render(chart, values)


def test_keda_and_cpu_hpa_are_exclusive() -> None:
    with pytest.raises(helm.HelmRenderError, match="mutually exclusive"):
        render("analytics-worker", {"keda": {"enabled": True}, "autoscaling": {"enabled": True}})


# -- scaling and disruption


@pytest.mark.parametrize(("service", "variant"), SERVICE_PARAMS)
def test_autoscaling_and_disruption_budget(service: str, variant: str) -> None:
    docs = rendered(service, variant)
    deployment = service_deployment(docs, service)
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    scaled_objects = of_kind(docs, "ScaledObject")
    if service in ("gateway", "domain-api"):
        (hpa,) = hpas
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment["metadata"]["name"],
        }
        cpu = [m for m in hpa["spec"]["metrics"] if m["resource"]["name"] == "cpu"]
        assert cpu
        assert cpu[0]["resource"]["target"]["type"] == "Utilization"
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    if hpas or scaled_objects:
        assert "replicas" not in deployment["spec"], "the autoscaler owns replicas"
    else:
        assert deployment["spec"]["replicas"] >= 1
    if service == "analytics-worker":
        assert not hpas
        keda = merged_values(service, variant)["keda"]["enabled"]
        assert len(scaled_objects) == (1 if keda else 0)
        if keda:
            assert (
                scaled_objects[0]["spec"]["scaleTargetRef"]["name"]
                == deployment["metadata"]["name"]
            )
            # The worker's durable consumer (bijmantra.analytics_worker.handlers).
            meta = scaled_objects[0]["spec"]["triggers"][0]["metadata"]
            assert meta["stream"] == "BIJMANTRA_EVENTS"
            assert meta["consumer"] == "analytics-germplasm"
    else:
        assert not scaled_objects
    pdb = one(docs, "PodDisruptionBudget")
    assert (
        pdb["spec"]["selector"]["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert ("minAvailable" in pdb["spec"]) != ("maxUnavailable" in pdb["spec"])


# -- network policy

# The allowed flows, exactly (ARCHITECTURE.md §5, the services' runtime contract).
# Ingress: (source, port). Egress: (destination, port, protocol). Sources/destinations are
# a Bijmantra service, or a peer configured in values: ingressController, prometheus, dns,
# postgres, redis, nats.
FLOWS: dict[str, dict[str, set[tuple[Any, ...]]]] = {
    "gateway": {
        "ingress": {("ingressController", 8000), ("prometheus", 9465)},
        "egress": {
            ("identity", 8001, "TCP"),
            ("identity", 50052, "TCP"),
            ("domain-api", 50051, "TCP"),
            ("redis", None, "TCP"),
        },
    },
    "identity": {
        "ingress": {
            ("gateway", 8001),
            ("gateway", 50052),
            ("domain-api", 50052),
            ("analytics-worker", 8001),
            ("prometheus", 9463),
        },
        "egress": {("postgres", None, "TCP"), ("redis", None, "TCP"), ("nats", None, "TCP")},
    },
    "domain-api": {
        "ingress": {("gateway", 50051), ("analytics-worker", 50051), ("prometheus", 9464)},
        "egress": {
            ("postgres", None, "TCP"),
            ("nats", None, "TCP"),
            ("redis", None, "TCP"),
            ("identity", 50052, "TCP"),
        },
    },
    "analytics-worker": {
        "ingress": {("prometheus", 8002)},
        "egress": {
            ("domain-api", 50051, "TCP"),
            ("identity", 8001, "TCP"),
            ("nats", None, "TCP"),
            ("postgres", None, "TCP"),
        },
    },
}
DNS = {("dns", 53, "UDP"), ("dns", 53, "TCP")}


def _peer_name(peer: dict[str, Any] | None, np_values: dict[str, Any]) -> str:
    if peer is None:
        return "<any>"
    labels = peer.get("podSelector", {}).get("matchLabels", {})
    if labels.get("app.kubernetes.io/part-of") == "bijmantra" and set(peer) == {"podSelector"}:
        return str(labels["app.kubernetes.io/name"])
    for name in ("ingressController", "prometheus", "dns"):
        conf = np_values.get(name)
        if conf and peer == {
            k: v for k, v in conf.items() if k in ("namespaceSelector", "podSelector")
        }:
            return name
    return f"<unknown {peer}>"


def _flows(policy: Manifest, np_values: dict[str, Any]) -> dict[str, set[tuple[Any, ...]]]:
    ingress: set[tuple[Any, ...]] = set()
    for rule in policy["spec"].get("ingress", []):
        assert rule.get("from"), "an ingress rule without `from` allows everyone"
        for peer in rule["from"]:
            for port in rule["ports"]:
                assert port["protocol"] == "TCP"
                ingress.add((_peer_name(peer, np_values), port["port"]))
    egress: set[tuple[Any, ...]] = set()
    externals = {k: v for k, v in np_values.items() if k in ("postgres", "redis", "nats", "otlp")}
    for rule in policy["spec"].get("egress", []):
        assert rule.get("ports"), "an egress rule without ports allows every port"
        for port in rule["ports"]:
            to = rule.get("to") or []
            ext = [
                name
                for name, conf in externals.items()
                if conf["port"] == port["port"] and (conf.get("to") or []) == to
            ]
            if ext:
                egress.add((ext[0], None, port["protocol"]))
                continue
            assert to, f"unrestricted egress on port {port['port']}"
            for peer in to:
                egress.add((_peer_name(peer, np_values), port["port"], port["protocol"]))
    return {"ingress": ingress, "egress": egress}


@pytest.mark.parametrize(("service", "variant"), SERVICE_PARAMS)
def test_network_policy_allows_exactly_the_contract_flows(service: str, variant: str) -> None:
    docs = rendered(service, variant)
    values = merged_values(service, variant)
    deployment = service_deployment(docs, service)
    policies = [
        p
        for p in of_kind(docs, "NetworkPolicy")
        if p["spec"]["podSelector"]["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert len(policies) == 1
    (policy,) = policies
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"], "default deny"
    flows = _flows(policy, values["networkPolicy"])
    expected_egress = FLOWS[service]["egress"] | DNS
    if values["networkPolicy"]["otlp"]["enabled"]:
        expected_egress |= {("otlp", None, "TCP")}
    assert flows["ingress"] == FLOWS[service]["ingress"]
    assert flows["egress"] == expected_egress


def test_network_policies_are_consistent_across_the_umbrella() -> None:
    """Every in-cluster egress A -> B:port is matched by B's ingress from A on that port,
    B's pods exist and expose the port; and every ingress from a service is that
    service's egress."""
    docs = rendered(UMBRELLA, "default")
    values = merged_values(UMBRELLA, "default")
    flows = {}
    for service in SERVICES:
        deployment = service_deployment(docs, service)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        (policy,) = [
            p
            for p in of_kind(docs, "NetworkPolicy")
            if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
        ]
        flows[service] = _flows(policy, values[service]["networkPolicy"])
        assert flows[service]["ingress"] == FLOWS[service]["ingress"]
    for src, f in flows.items():
        for dst, port, _ in f["egress"]:
            if dst in SERVICES:
                assert (src, port) in flows[dst]["ingress"], f"{src} -> {dst}:{port}"
                (container,) = service_deployment(docs, dst)["spec"]["template"]["spec"][
                    "containers"
                ]
                assert port in {p["containerPort"] for p in container["ports"]}
        for peer, port in f["ingress"]:
            if peer in SERVICES:
                assert (src, port, "TCP") in flows[peer]["egress"], f"{peer} -> {src}:{port}"


def test_addresses_in_config_match_the_network_policy_ports() -> None:
    docs = rendered(UMBRELLA, "default")
    services = {
        s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]}
        for s in of_kind(docs, "Service")
    }
    checked = 0
    for cm in of_kind(docs, "ConfigMap"):
        data = cm["data"]
        for key in ("IDENTITY_URL", "DOMAIN_API_TARGET", "IDENTITY_TARGET"):
            if key not in data:
                continue
            host_port = re.sub(r"^\w+://", "", data[key]).split("/")[0]
            host, port = host_port.split(":")
            assert int(port) in services[host], f"{key}={data[key]} has no Service"
            checked += 1
    # gateway: all three; domain-api: IDENTITY_TARGET;
    # analytics-worker: DOMAIN_API_TARGET and IDENTITY_URL.
    assert checked == 6


# -- migration hook


@pytest.mark.parametrize("variant", VARIANTS)
def test_migration_job_is_a_pre_install_pre_upgrade_hook(variant: str) -> None:
    docs = rendered("domain-api", variant)
    job = one(docs, "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["bijmantra-migrate"]
    env = {e["name"]: e for e in container["env"]}
    assert "secretKeyRef" in env["DATABASE_OWNER_URL"]["valueFrom"]
    assert "DATABASE_URL" not in env
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert (
        container["image"]
        == service_deployment(docs, "domain-api")["spec"]["template"]["spec"]["containers"][0][
            "image"
        ]
    )
    # Its NetworkPolicy is a hook too, created first, and allows only DNS + PostgreSQL.
    (policy,) = [
        p
        for p in of_kind(docs, "NetworkPolicy")
        if p["spec"]["podSelector"]["matchLabels"].items()
        <= job["spec"]["template"]["metadata"]["labels"].items()
    ]
    hook = policy["metadata"]["annotations"]
    assert hook["helm.sh/hook"] == annotations["helm.sh/hook"]
    assert int(hook["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])
    np_values = merged_values("domain-api", variant)["networkPolicy"]
    assert _flows(policy, np_values) == {
        "ingress": set(),
        "egress": DNS | {("postgres", None, "TCP")},
    }


def test_migration_hook_renders_on_upgrade_and_can_be_disabled() -> None:
    assert one(render("domain-api", upgrade=True), "Job")
    assert not of_kind(render("domain-api", {"migrations": {"enabled": False}}), "Job")
    for service in ("gateway", "identity", "analytics-worker"):
        assert not of_kind(rendered(service, "default"), "Job")


# -- the console's OAuth client and the shared Redis


def test_the_console_client_is_registered_after_every_install_and_upgrade() -> None:
    docs = rendered("identity", "example")
    job = one(docs, "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"post-install", "post-upgrade"}
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == [
        "bijmantra-identity",
        "register-console",
        "https://bijmantra.example.org/app/auth/callback",
    ]
    env = {e["name"]: e for e in container["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "identity-database"
    assert not {"REDIS_URL", "NATS_URL"} & set(env), "only the database it writes"
    deployment = service_deployment(docs, "identity")
    assert container["image"] == deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    (policy,) = [
        p
        for p in of_kind(docs, "NetworkPolicy")
        if p["spec"]["podSelector"]["matchLabels"].items()
        <= job["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert policy["metadata"]["annotations"]["helm.sh/hook"] == annotations["helm.sh/hook"]
    assert _flows(policy, merged_values("identity", "example")["networkPolicy"]) == {
        "ingress": set(),
        "egress": DNS | {("postgres", None, "TCP")},
    }
    gateway = one(rendered("gateway", "example"), "ConfigMap")
    assert gateway["data"]["GATEWAY_PUBLIC_URL"] == "https://bijmantra.example.org"


def test_the_umbrella_sets_the_console_origin_once_for_gateway_and_identity() -> None:
    docs = rendered(UMBRELLA, "example")
    gateway = next(c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"] == "gateway")
    (job,) = [j for j in of_kind(docs, "Job") if j["metadata"]["name"].endswith("console-client")]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"][-1] == f"{gateway['data']['GATEWAY_PUBLIC_URL']}/app/auth/callback"


def test_no_console_client_job_without_an_origin_and_no_plain_http_origin() -> None:
    assert not of_kind(rendered("identity", "default"), "Job")
    disabled: dict[str, Any] = {
        "config": {"GATEWAY_PUBLIC_URL": "https://b.example.org"},
        "consoleClient": {"enabled": False},
    }
    assert not of_kind(render("identity", disabled), "Job")
    with pytest.raises(helm.HelmValuesError, match="GATEWAY_PUBLIC_URL"):
        render("identity", {"config": {"GATEWAY_PUBLIC_URL": "http://bijmantra.example.org"}})


def test_every_reader_of_the_revocation_list_uses_identitys_redis() -> None:
    """identity writes revoked tokens where the gateway and domain-api look for them."""
    docs = rendered(UMBRELLA, "default")
    urls = {
        c["metadata"]["name"]: c["data"].get("REDIS_URL")
        for c in of_kind(docs, "ConfigMap")
        if c["metadata"]["name"] in ("gateway", "identity", "domain-api")
    }
    assert len(urls) == 3
    assert len(set(urls.values())) == 1, urls
    for service in ("gateway", "identity", "domain-api"):
        (container,) = service_deployment(rendered(service, "example"), service)["spec"][
            "template"
        ]["spec"]["containers"]
        env = {e["name"]: e for e in container.get("env", [])}
        assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "bijmantra-redis"


def test_backup_cronjob_takes_verified_base_backups_into_the_claim() -> None:
    docs = rendered("domain-api", "example")
    (cron,) = of_kind(docs, "CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["bijmantra-backup", "base"]
    env = {e["name"]: e for e in container["env"]}
    assert "secretKeyRef" in env["DATABASE_OWNER_URL"]["valueFrom"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env["BACKUP_DIR"]["value"] == mounts["backups"]
    claims = [v for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v]
    assert [c["persistentVolumeClaim"]["claimName"] for c in claims] == ["bijmantra-backups"]
    (policy,) = [
        p
        for p in of_kind(docs, "NetworkPolicy")
        if p["spec"]["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    ]
    np_values = merged_values("domain-api", "example")["networkPolicy"]
    assert _flows(policy, np_values) == {
        "ingress": set(),
        "egress": DNS | {("postgres", None, "TCP")},
    }


def test_backup_is_off_by_default_and_needs_a_claim() -> None:
    assert not of_kind(rendered("domain-api", "default"), "CronJob")
    with pytest.raises(Exception, match="existingClaim"):
        render("domain-api", {"backup": {"enabled": True}})


# -- umbrella


@pytest.mark.parametrize(
    "enabled",
    [
        (),
        ("gateway",),
        ("identity",),
        ("domain-api",),
        ("analytics-worker",),
        ("gateway", "identity"),
        SERVICES,
    ],
    ids=lambda e: "+".join(e) or "none",
)
def test_umbrella_enables_any_subset(enabled: tuple[str, ...]) -> None:
    values = {s: {"enabled": s in enabled} for s in SERVICES}
    docs = render(UMBRELLA, values, name="bijmantra")
    deployed = {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        for d in of_kind(docs, "Deployment")
    }
    runner = {"domain-api-export-runner"} if "domain-api" in enabled else set()
    assert deployed == set(enabled) | runner  # the export runner goes with domain-api
    assert bool(of_kind(docs, "Job")) == ("domain-api" in enabled)
    names = {d["metadata"]["name"] for d in of_kind(docs, "Service")}
    assert names == set(enabled), "the umbrella pins service names to the contract"


def test_umbrella_global_settings_reach_every_service() -> None:
    docs = rendered(UMBRELLA, "example")
    for deployment in of_kind(docs, "Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"].endswith(":1.4.2")
        assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [
            {"name": "registry-credentials"}
        ]
    for cm in of_kind(docs, "ConfigMap"):
        assert cm["data"]["TOKEN_ISSUER"] == "https://id.bijmantra.example.org"
    deny = [p for p in of_kind(docs, "NetworkPolicy") if p["spec"]["podSelector"] == {}]
    assert len(deny) == 1
    assert sorted(deny[0]["spec"]["policyTypes"]) == ["Egress", "Ingress"]


# -- mutual TLS between the services (ADR 0176)


def _tls_mount(docs: list[Manifest], service: str) -> tuple[dict[str, str], str | None]:
    """(the ConfigMap's data, the Secret mounted at TLS_DIR or None) of ``service``."""
    pod = service_deployment(docs, service)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    data = next(
        cm["data"]
        for cm in of_kind(docs, "ConfigMap")
        if cm["data"]["OTEL_SERVICE_NAME"] == service
    )
    if "tls" not in mounts:
        return data, None
    assert mounts["tls"]["mountPath"] == TLS_DIR
    assert mounts["tls"]["readOnly"] is True
    assert volumes["tls"]["secret"]["defaultMode"] == 0o440  # the pod's fsGroup, no one else
    return data, volumes["tls"]["secret"]["secretName"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_its_own_certificate_from_cert_manager(service: str) -> None:
    docs = rendered(service, "default")
    data, secret = _tls_mount(docs, service)
    (certificate,) = of_kind(docs, "Certificate")
    assert certificate["spec"]["secretName"] == secret
    assert certificate["spec"]["issuerRef"] == {
        "name": "bijmantra-internal-ca",
        "kind": "Issuer",
        "group": "cert-manager.io",
    }
    name = one(docs, "Service")["metadata"]["name"]
    assert certificate["spec"]["dnsNames"][0] == name
    assert f"{name}.{NAMESPACE}.svc" in certificate["spec"]["dnsNames"]
    assert data["TLS_CA_FILE"] == f"{TLS_DIR}/ca.crt"
    assert data["TLS_CERT_FILE"] == f"{TLS_DIR}/tls.crt"
    assert data["TLS_KEY_FILE"] == f"{TLS_DIR}/tls.key"
    assert "INTERNAL_TLS" not in data


def test_a_cluster_issuer_and_lifetimes_are_configurable() -> None:
    (certificate,) = of_kind(rendered("gateway", "example"), "Certificate")
    assert certificate["spec"]["issuerRef"]["kind"] == "ClusterIssuer"
    assert certificate["spec"]["issuerRef"]["name"] == "platform-internal-ca"
    assert (certificate["spec"]["duration"], certificate["spec"]["renewBefore"]) == ("720h", "240h")


def test_certificates_from_an_existing_secret_need_no_cert_manager() -> None:
    docs = rendered("domain-api", "example")
    assert not of_kind(docs, "Certificate")
    data, secret = _tls_mount(docs, "domain-api")
    assert secret == "domain-api-mtls"
    assert data["TLS_CERT_FILE"] == f"{TLS_DIR}/tls.crt"
    with pytest.raises(helm.HelmRenderError, match=r"tls\.existingSecret is required"):
        render("gateway", {"tls": {"source": "secret"}})


def test_turning_tls_off_is_explicit_and_mounts_nothing() -> None:
    """The services refuse to start without certificates unless INTERNAL_TLS=off."""
    docs = render("identity", {"tls": {"enabled": False}})
    data, secret = _tls_mount(docs, "identity")
    assert secret is None
    assert data["INTERNAL_TLS"] == "off"
    assert not {"TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"} & set(data)
    assert not of_kind(docs, "Certificate")


@pytest.mark.parametrize(
    "values",
    [
        {"tls": {"source": "vault"}},
        {"tls": {"certManager": {"issuerRef": {"name": ""}}}},
        {"tls": {"certManager": {"issuerRef": {"kind": "Secret"}}}},
        {"tls": {"certManager": {"duration": "90 days"}}},
    ],
)
def test_tls_values_are_checked(values: dict[str, Any]) -> None:
    with _loaded("gateway") as loaded, pytest.raises(helm.HelmValuesError):
        loaded.validate_schema(values)


def test_every_address_a_service_dials_is_named_in_the_peers_certificate() -> None:
    """Under the umbrella, each IDENTITY_URL / *_TARGET host is a DNS name of the certificate
    the peer presents, and identity is reached over https: the clients verify the server."""
    docs = rendered(UMBRELLA, "default")
    names = {
        c["metadata"]["name"]: set(c["spec"]["dnsNames"]) for c in of_kind(docs, "Certificate")
    }
    assert set(names) == set(SERVICES)
    checked = 0
    for cm in of_kind(docs, "ConfigMap"):
        data = cm["data"]
        if "IDENTITY_URL" in data:
            assert data["IDENTITY_URL"].startswith("https://")
        for key in ("IDENTITY_URL", "DOMAIN_API_TARGET", "IDENTITY_TARGET"):
            if key in data:
                host = re.sub(r"^\w+://", "", data[key]).split(":")[0]
                assert host in names[host], f"{key}={data[key]}"
                checked += 1
    assert checked == 6
