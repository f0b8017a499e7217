"""The device edge in Kubernetes (ADRs 0207, 0306, 0359): NATS's MQTT listener for field
devices, its auth callout answered by domain-api.

The chart's server configuration is compared with the testkit's (the one every device test
runs against), so the two cannot drift; nats-server itself checks the rendered text.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import helm_python as helm
import nats
import pytest
from bijmantra.adapters.nats.device_stream import DeviceStreamBounds
from bijmantra.adapters.nats.devices import MAX_PAYLOAD, issuer_public_key, new_issuer_seed
from bijmantra.testkit import device_nats
from bijmantra.testkit.servers import _binary, free_port, wait_for_port

from tests.deployments.test_charts import (
    EDGE,
    UMBRELLA,
    Manifest,
    of_kind,
    one,
    render,
    rendered,
    service_deployment,
)

SECRET = "bijmantra-device-edge"
EDGE_ON = {"device-edge": {"enabled": True}, "domain-api": {"deviceEdge": {"enabled": True}}}


def _config(docs: list[Manifest]) -> str:
    text: str = one(docs, "ConfigMap")["data"]["nats.conf"]
    return text


def _container(docs: list[Manifest]) -> dict[str, Any]:
    (container,) = one(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    return container


def _settings(text: str) -> str:
    """The configuration without what differs by where it runs (addresses, directories,
    the monitoring port, the listener's TLS), whitespace collapsed."""
    text = re.sub(r"^\s*(http|tls)\b.*$", "", text, flags=re.MULTILINE)
    text = re.sub(r"listen: \S+", "listen: ADDRESS", text)
    text = re.sub(r'store_dir: "[^"]*"', "store_dir: DIR", text)
    text = re.sub(r'"(\$[A-Z_]+)"', r"\1", text)  # the testkit quotes its literal passwords
    return " ".join(text.split())


def test_the_chart_configures_nats_as_the_testkit_does() -> None:
    testkit = device_nats.CONFIG.format(
        port=0,
        mqtt_port=0,
        datadir="",
        callout_password="$CALLOUT_PASSWORD",
        ingest_password="$INGEST_PASSWORD",
        account="DEVICES",
        issuer="$ISSUER_PUBLIC_KEY",
        max_payload=MAX_PAYLOAD,
        store_limit="",  # the chart's JetStream takes its volume's default share
    )
    for variant in ("default", "example"):
        chart = _config(rendered(EDGE, variant))
        assert _settings(chart) == _settings(testkit)
    assert f"max_payload: {MAX_PAYLOAD}" in _config(rendered(EDGE, "default"))


def _check_with_nats_server(config: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "nats.conf"
    path.write_text(config.replace("/data/jetstream", str(tmp_path / "js")))
    env = {
        **os.environ,
        "CALLOUT_PASSWORD": "c0ffee",
        "INGEST_PASSWORD": "d00d",
        # an account public key, as issuer_public_key() returns
        "ISSUER_PUBLIC_KEY": "ABJHLOVMPA4CI6R5KLNGOB4GSLNIY7IOUPAJC4YFNDLQVIOBYQGUWVLA",
    }
    return subprocess.run(
        [_binary("nats-server"), "-t", "-c", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_nats_server_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    plain = render(EDGE, {"mqtt": {"tls": {"enabled": False}}})
    done = _check_with_nats_server(_config(plain), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # and refuses a broken one (the check can fail)
    done = _check_with_nats_server(_config(plain).replace("accounts {", "accounts {{"), tmp_path)
    assert done.returncode != 0


async def _max_payloads(port: int) -> list[int]:
    seen = []
    for user, password in (("callout", "c0ffee"), ("ingest", "d00d")):
        nc = await nats.connect(
            f"nats://{user}:{password}@127.0.0.1:{port}",
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=5,
        )
        seen.append(nc.max_payload)
        await nc.close()
    return seen


@pytest.mark.integration
def test_the_rendered_server_runs_with_its_secrets_from_the_environment(
    tmp_path: Path,
) -> None:
    """The chart's configuration, run by nats-server with the variables the pod gets from
    the Secret: the two auth users sign in with those passwords; max_payload is the
    adapter's."""
    port, monitor, mqtt = free_port(), free_port(), free_port()
    values = {
        "port": port,
        "monitorPort": monitor,
        "mqtt": {"port": mqtt, "tls": {"enabled": False}},
    }
    config = _config(render(EDGE, values)).replace("/data/jetstream", str(tmp_path / "js"))
    (tmp_path / "nats.conf").write_text(config.replace("0.0.0.0:", "127.0.0.1:"))
    env = {
        **os.environ,
        "CALLOUT_PASSWORD": "c0ffee",
        "INGEST_PASSWORD": "d00d",
        "ISSUER_PUBLIC_KEY": issuer_public_key(new_issuer_seed()),
    }
    server = subprocess.Popen([_binary("nats-server"), "-c", str(tmp_path / "nats.conf")], env=env)
    try:
        wait_for_port(port, process=server)
        wait_for_port(mqtt, process=server)
        assert asyncio.run(_max_payloads(port)) == [MAX_PAYLOAD, MAX_PAYLOAD]
        with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/healthz", timeout=5) as r:
            assert json.load(r)["status"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_secrets_come_from_the_named_secret() -> None:
    for variant, name in (("default", SECRET), ("example", "device-edge-credentials")):
        docs = rendered(EDGE, variant)
        env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in _container(docs)["env"]}
        assert env == {
            "CALLOUT_PASSWORD": {"name": name, "key": "callout-password"},
            "INGEST_PASSWORD": {"name": name, "key": "ingest-password"},
            "ISSUER_PUBLIC_KEY": {"name": name, "key": "issuer-public-key"},
        }
        config = _config(docs)
        for var in env:
            assert f"${var}" in config
        assert not of_kind(docs, "Secret")


def test_the_server_runs_restricted_with_probes_and_a_volume() -> None:
    docs = rendered(EDGE, "default")
    container = _container(docs)
    assert re.fullmatch(r"docker\.io/library/nats:\d+\.\d+\.\d+-alpine", container["image"])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {
            "path": "/healthz",
            "port": "monitor",
            "scheme": "HTTP",
        }
    assert container["resources"]["requests"]["cpu"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["data"] == "/data"
    assert mounts["mqtt-tls"] == "/etc/device-edge/mqtt-tls"
    (claim,) = one(docs, "StatefulSet")["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert one(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_client_port_inside_the_cluster_mqtt_for_devices() -> None:
    docs = rendered(EDGE, "default")
    services = {s["metadata"]["name"]: s["spec"] for s in of_kind(docs, "Service")}
    assert services["device-edge"]["type"] == "ClusterIP"
    assert {p["port"] for p in services["device-edge"]["ports"]} == {4222, 8222}
    assert services["device-edge-mqtt"]["type"] == "LoadBalancer"
    assert [p["port"] for p in services["device-edge-mqtt"]["ports"]] == [1883]
    nodeport = render(EDGE, {"mqtt": {"service": {"type": "NodePort"}}})
    assert one(nodeport, "Service", "device-edge-mqtt")["spec"]["type"] == "NodePort"


def test_mqtt_tls_is_on_by_default_and_needs_a_secret() -> None:
    docs = rendered(EDGE, "example")
    assert 'cert_file: "/etc/device-edge/mqtt-tls/tls.crt"' in _config(docs)
    volumes = one(docs, "StatefulSet")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "mqtt-tls", "secret": {"secretName": "mqtt.example.org-tls"}} in volumes
    with pytest.raises(helm.HelmRenderError, match=r"mqtt\.tls\.existingSecret"):
        render(EDGE, {"mqtt": {"tls": {"existingSecret": ""}}})
    plain = render(EDGE, {"mqtt": {"tls": {"enabled": False}}})
    assert "tls" not in _config(plain)
    assert "mqtt-tls" not in {m["name"] for m in _container(plain)["volumeMounts"]}


def test_network_policy_admits_the_client_port_from_domain_api_only() -> None:
    (policy,) = of_kind(rendered(EDGE, "default"), "NetworkPolicy")
    rules = {r["ports"][0]["port"]: r for r in policy["spec"]["ingress"]}
    assert set(rules) == {4222, 8222, 1883}
    assert rules[4222]["from"] == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "domain-api",
                    "app.kubernetes.io/part-of": "bijmantra",
                }
            }
        }
    ]
    assert "from" not in rules[1883], "devices connect from anywhere unless mqtt.from says"
    assert [len(r["ports"]) for r in policy["spec"]["ingress"]] == [1, 1, 1]
    (egress,) = policy["spec"]["egress"]
    assert {p["port"] for p in egress["ports"]} == {53}, "the server dials nothing but DNS"
    (example,) = of_kind(rendered(EDGE, "example"), "NetworkPolicy")
    mqtt = next(r for r in example["spec"]["ingress"] if r["ports"][0]["port"] == 8883)
    assert mqtt["from"] == [{"ipBlock": {"cidr": "203.0.113.0/24"}}]


@pytest.mark.parametrize(
    "values",
    [
        {"image": {"tag": ""}},
        {"auth": {"existingSecret": ""}},
        {"mqtt": {"service": {"type": "External"}}},
        {"mqtt": {"port": 0}},
        {"persistence": {"accessModes": []}},
        {"config": {}},
    ],
)
def test_the_schema_refuses_bad_values(values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        render(EDGE, values)


def test_domain_api_schema_refuses_a_bad_device_edge() -> None:
    with pytest.raises(helm.HelmValuesError):
        render("domain-api", {"deviceEdge": {"enabled": True, "port": 0}})
    with pytest.raises(helm.HelmValuesError):
        render("domain-api", {"deviceEdge": {"enabled": True, "existingSecret": ""}})


def _env(deployment: Manifest) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def test_the_device_edge_is_off_by_default() -> None:
    docs = rendered(UMBRELLA, "default")
    assert not of_kind(docs, "StatefulSet")
    assert "device-edge" not in {s["metadata"]["name"] for s in of_kind(docs, "Service")}
    assert not [n for n in _env(service_deployment(docs, "domain-api")) if "DEVICE" in n]


def test_domain_api_gets_the_device_edge_settings_from_the_secret() -> None:
    docs = render(UMBRELLA, EDGE_ON, name="bijmantra")
    env = _env(service_deployment(docs, "domain-api"))
    refs = {
        n: e["valueFrom"]["secretKeyRef"]
        for n, e in env.items()
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs["DEVICE_NATS_CALLOUT_PASSWORD"] == {"name": SECRET, "key": "callout-password"}
    assert refs["DEVICE_NATS_INGEST_PASSWORD"] == {"name": SECRET, "key": "ingest-password"}
    assert refs["DEVICE_NATS_ISSUER_SEED"] == {"name": SECRET, "key": "issuer-seed"}
    names = list(env)
    for user, var in (("callout", "CALLOUT"), ("ingest", "INGEST")):
        url = env[f"DEVICE_NATS_{var}_URL"]["value"]
        assert url == f"nats://{user}:$(DEVICE_NATS_{var}_PASSWORD)@device-edge:4222"
        # Kubernetes expands $(NAME) only from variables listed before it.
        assert names.index(f"DEVICE_NATS_{var}_PASSWORD") < names.index(f"DEVICE_NATS_{var}_URL")
    client = one(docs, "Service", "device-edge")
    assert 4222 in {p["port"] for p in client["spec"]["ports"]}
    # domain-api may dial the edge's client port, and the edge admits it there.
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(docs, "NetworkPolicy")}
    assert {
        "to": [
            {
                "podSelector": {
                    "matchLabels": {
                        "app.kubernetes.io/name": "device-edge",
                        "app.kubernetes.io/part-of": "bijmantra",
                    }
                }
            }
        ],
        "ports": [{"protocol": "TCP", "port": 4222}],
    } in policies["domain-api"]["egress"]
    edge_labels = one(docs, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert edge_labels["app.kubernetes.io/name"] == "device-edge"
    assert edge_labels["app.kubernetes.io/part-of"] == "bijmantra"


def test_domain_api_bounds_the_edges_telemetry_stream_as_the_adapter_does() -> None:
    """The chart's defaults are the adapter's (ADR 0371, 0386), and the schema refuses a
    stream, or an organization's, that cannot hold one batch."""
    env = _env(service_deployment(render(UMBRELLA, EDGE_ON, name="bijmantra"), "domain-api"))
    bounds = DeviceStreamBounds()
    assert {n: env[n]["value"] for n in env if n.startswith("DEVICE_STREAM_")} == {
        "DEVICE_STREAM_MAX_BYTES": str(bounds.max_bytes),
        "DEVICE_STREAM_MAX_PER_DEVICE": str(bounds.max_per_device),
        "DEVICE_STREAM_MAX_AGE_SECONDS": str(bounds.max_age_seconds),
        "DEVICE_STREAM_MAX_BYTES_PER_ORGANIZATION": str(bounds.max_bytes_per_organization),
    }
    for bound in ("maxBytes", "maxBytesPerOrganization"):
        with pytest.raises(helm.HelmValuesError):
            render("domain-api", {"deviceEdge": {"enabled": True, "stream": {bound: 1 << 20}}})


def test_the_umbrella_refuses_an_edge_nobody_answers() -> None:
    with pytest.raises(helm.HelmRenderError, match=r"domain-api\.deviceEdge\.enabled"):
        render(UMBRELLA, {"device-edge": {"enabled": True}}, name="bijmantra")
