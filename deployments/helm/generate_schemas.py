"""Generate the strict ``values.schema.json`` of every Bijmantra chart.

The four service charts share most of their values; writing four 400-line JSON schemas by
hand invites drift, so they are generated from one description here and committed. The
chart tests fail when a committed schema differs from what this script produces.

    uv run python deployments/helm/generate_schemas.py          # rewrite the files
    uv run python deployments/helm/generate_schemas.py --check  # exit 1 on drift
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

from schema_blocks import (
    BOOL,
    DURATION,
    GLOBAL,
    IMAGE,
    INT_OR_PERCENT,
    LABELS,
    NON_NEG_INT,
    PORT,
    POS_INT,
    PROBE_TIMING,
    QUANTITY,
    RESOURCES,
    STRING,
    TLS,
    Schema,
    config_schema,
    free_object,
    network_policy_schema,
    obj,
    secret_env_schema,
)

HELM_DIR = Path(__file__).resolve().parent


# The jobs that run as the database owner (migrations, backup, the export runner).
OWNER_SECRET = secret_env_schema(["DATABASE_OWNER_URL"], ["DATABASE_OWNER_URL"])


def job(properties: Schema, *, required: list[str]) -> Schema:
    """A chart's optional job or worker block: switched by ``enabled``, with its own
    ``resources``; ``properties`` are what lies between."""
    return obj(
        {"enabled": BOOL, **properties, "resources": RESOURCES},
        required=["enabled", *required, "resources"],
    )


def metrics_schema(*, consumers: bool) -> Schema:
    """Scraping; a service that runs event consumers may also ship its dead-letter alert."""
    properties: Schema = {
        "scrapeAnnotations": BOOL,
        "serviceMonitor": obj(
            {"enabled": BOOL, "interval": DURATION, "scrapeTimeout": DURATION, "labels": LABELS},
            required=["enabled", "interval", "scrapeTimeout"],
        ),
    }
    required = ["scrapeAnnotations", "serviceMonitor"]
    if consumers:
        properties["deadLetterAlert"] = obj(
            {
                "enabled": BOOL,
                "for": DURATION,
                "severity": {"enum": ["info", "warning", "critical"]},
                "labels": LABELS,
            },
            required=["enabled", "for", "severity"],
        )
        required.append("deadLetterAlert")
    return obj(properties, required=required)


def service_schema(
    *,
    title: str,
    config_keys: list[str],
    secret_keys: list[str],
    secret_required: list[str],
    externals: list[str],
    ingress_controller: bool = False,
    metrics_port: bool = False,
    grpc_port: bool = False,
    health_port: bool = False,
    migrations: bool = False,
    keda: bool = False,
    console_client: bool = False,
    device_edge: bool = False,
    consumers: bool = False,
) -> Schema:
    props: Schema = {
        "global": GLOBAL,
        "enabled": {"type": "boolean", "description": "used by the umbrella chart's condition"},
        "bijmantra-lib": {
            "type": "object",
            "description": "added by Helm for the library dependency; unused",
        },
        "fullnameOverride": {"type": "string", "maxLength": 52},
        "replicaCount": NON_NEG_INT,
        "image": IMAGE,
        "imagePullSecrets": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "serviceAccount": obj(
            {"create": BOOL, "name": STRING, "annotations": LABELS}, required=["create"]
        ),
        "podAnnotations": LABELS,
        "podLabels": LABELS,
        "port": PORT,
        "service": obj(
            {"type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]}, "annotations": LABELS},
            required=["type"],
        ),
        "config": config_schema(config_keys),
        "secretEnv": secret_env_schema(secret_keys, secret_required),
        "probes": obj(
            {"startup": PROBE_TIMING, "liveness": PROBE_TIMING, "readiness": PROBE_TIMING},
            required=["startup", "liveness", "readiness"],
        ),
        "resources": RESOURCES,
        "tmpDir": obj({"sizeLimit": QUANTITY}, required=["sizeLimit"]),
        "autoscaling": obj(
            {
                "enabled": BOOL,
                "minReplicas": POS_INT,
                "maxReplicas": POS_INT,
                "targetCPUUtilizationPercentage": {"type": "integer", "minimum": 1, "maximum": 100},
                "targetMemoryUtilizationPercentage": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                },
            },
            required=["enabled", "minReplicas", "maxReplicas", "targetCPUUtilizationPercentage"],
        ),
        "podDisruptionBudget": obj(
            {
                "enabled": BOOL,
                "minAvailable": {**INT_OR_PERCENT, "description": "wins over maxUnavailable"},
                "maxUnavailable": INT_OR_PERCENT,
            },
            required=["enabled"],
        ),
        "networkPolicy": network_policy_schema(externals, ingress_controller),
        "metrics": metrics_schema(consumers=consumers),
        "nodeSelector": LABELS,
        "tolerations": {"type": "array", "items": free_object("a Toleration")},
        "affinity": free_object("an Affinity"),
        "topologySpreadConstraints": {"type": "array", "items": free_object()},
        "priorityClassName": STRING,
        "terminationGracePeriodSeconds": NON_NEG_INT,
        "tls": TLS,
    }
    required = [
        "image",
        "serviceAccount",
        "port",
        "service",
        "config",
        "secretEnv",
        "probes",
        "resources",
        "tmpDir",
        "autoscaling",
        "podDisruptionBudget",
        "networkPolicy",
        "metrics",
        "replicaCount",
        "terminationGracePeriodSeconds",
        "tls",
    ]
    # The blocks only some services have; each is required where it is present.
    optional: Schema = {}
    if metrics_port:
        optional["metricsPort"] = PORT
    if grpc_port:
        optional["grpcPort"] = PORT
    if health_port:
        optional["healthPort"] = PORT
    if migrations:
        optional["migrations"] = job(
            {
                "backoffLimit": NON_NEG_INT,
                "activeDeadlineSeconds": POS_INT,
                "serviceAccountName": STRING,
                "secretEnv": OWNER_SECRET,
            },
            required=["backoffLimit", "activeDeadlineSeconds", "secretEnv"],
        )
        optional["backup"] = job(
            {
                "schedule": {"type": "string", "minLength": 9},
                "existingClaim": STRING,
                "successfulJobsHistoryLimit": NON_NEG_INT,
                "failedJobsHistoryLimit": NON_NEG_INT,
                "activeDeadlineSeconds": POS_INT,
                "secretEnv": OWNER_SECRET,
            },
            required=["schedule", "existingClaim", "secretEnv"],
        )
        optional["exports"] = job(
            {"replicaCount": POS_INT, "secretEnv": OWNER_SECRET, "scratchSizeLimit": QUANTITY},
            required=["replicaCount", "secretEnv", "scratchSizeLimit"],
        )
    if device_edge:
        optional["deviceEdge"] = obj(
            {
                "enabled": BOOL,
                "host": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
                "port": PORT,
                "existingSecret": {"type": "string", "minLength": 1},
                # What the edge keeps of batches not yet stored (ADR 0371, 0386).
                "stream": obj(
                    {
                        "maxBytes": {"type": "integer", "minimum": 4198400},  # one batch
                        "maxPerDevice": POS_INT,
                        "maxAgeSeconds": POS_INT,
                        "maxBytesPerOrganization": {"type": "integer", "minimum": 4198400},
                    },
                    required=[
                        "maxBytes",
                        "maxPerDevice",
                        "maxAgeSeconds",
                        "maxBytesPerOrganization",
                    ],
                ),
            },
            required=["enabled", "host", "port", "existingSecret", "stream"],
        )
    if console_client:
        optional["consoleClient"] = job(
            {"backoffLimit": NON_NEG_INT, "activeDeadlineSeconds": POS_INT},
            required=["backoffLimit", "activeDeadlineSeconds"],
        )
    if keda:
        optional["keda"] = obj(
            {
                "enabled": BOOL,
                "minReplicas": NON_NEG_INT,
                "maxReplicas": POS_INT,
                "pollingInterval": POS_INT,
                "cooldownPeriod": POS_INT,
                "natsServerMonitoringEndpoint": STRING,
                "account": STRING,
                "stream": STRING,
                "consumer": STRING,
                "lagThreshold": POS_INT,
                "activationLagThreshold": NON_NEG_INT,
                "useHttps": BOOL,
            },
            required=["enabled", "minReplicas", "maxReplicas"],
        )
    schema = obj({**props, **optional}, required=[*required, *optional])
    return {"$schema": "http://json-schema.org/draft-07/schema#", "title": title, **schema}


SERVICES: dict[str, Schema] = {
    "gateway": service_schema(
        title="bijmantra gateway values",
        config_keys=[
            "GATEWAY_WORKERS",
            "GATEWAY_PAGE_CACHE_BYTES",
            "GATEWAY_RATE_LIMITS",
            "GATEWAY_RATE_LIMIT_WINDOW",
            "GATEWAY_IDEMPOTENCY",
            "IDENTITY_URL",
            "DOMAIN_API_TARGET",
            "IDENTITY_TARGET",
            "REDIS_URL",
            "TRUSTED_PROXIES",
            "GATEWAY_PUBLIC_URL",
        ],
        secret_keys=["REDIS_URL", "GATEWAY_RESUME_SECRET"],
        secret_required=["GATEWAY_RESUME_SECRET"],
        externals=["redis"],
        ingress_controller=True,
        metrics_port=True,
    ),
    "identity": service_schema(
        title="bijmantra identity values",
        config_keys=[
            "ACCESS_TOKEN_TTL",
            "NATS_URL",
            "REDIS_URL",
            "DB_POOL_SIZE",
            "TRUSTED_PROXIES",
            "GATEWAY_PUBLIC_URL",
        ],
        secret_keys=["DATABASE_URL", "REDIS_URL", "NATS_URL"],
        secret_required=["DATABASE_URL"],
        externals=["postgres", "redis", "nats"],
        grpc_port=True,
        console_client=True,
        health_port=True,
        metrics_port=True,
    ),
    "domain-api": service_schema(
        title="bijmantra domain-api values",
        config_keys=[
            "IDENTITY_TARGET",
            "NATS_URL",
            "REDIS_URL",
            "DB_POOL_SIZE",
            "ANALYSIS_MEMORY_MIB",
            "QUOTA_EVENT_BYTES_PER_DAY",
            "QUOTA_EVENT_STREAM_SHARE",
            "QUOTA_TELEMETRY_READINGS_PER_DAY",
            "QUOTA_GENOTYPE_CALLS_PER_DAY",
            "QUOTA_ANALYSIS_RESULT_BYTES_PER_DAY",
            "QUOTA_UPLOAD_BYTES_PER_DAY",
            "STORAGE_CAP_GENOTYPE_CALLS",
            "STORAGE_CAP_ANALYSIS_RESULT_BYTES",
            "STORAGE_CAP_UPLOAD_BYTES",
            "MAX_ENROLLED_DEVICES",
            "PARTNER_MAILS_PER_DAY",
        ],
        secret_keys=["DATABASE_URL", "NATS_URL", "REDIS_URL"],
        secret_required=["DATABASE_URL"],
        externals=["postgres", "nats", "redis"],
        metrics_port=True,
        health_port=True,
        migrations=True,
        device_edge=True,
        consumers=True,
    ),
    "analytics-worker": service_schema(
        title="bijmantra analytics-worker values",
        config_keys=[
            "DOMAIN_API_TARGET",
            "IDENTITY_URL",
            "WORKER_CLIENT_ID",
            "NATS_URL",
            "DB_POOL_SIZE",
            "ANALYSIS_ACK_WAIT",
            "ANALYSIS_MEMORY_MIB",
            "PARTNER_MAILS_PER_DAY",
        ],
        secret_keys=["DATABASE_URL", "NATS_URL", "WORKER_CLIENT_SECRET"],
        secret_required=["DATABASE_URL"],
        externals=["nats", "postgres"],
        keda=True,
        consumers=True,
    ),
}


def device_edge_schema() -> Schema:
    """The device edge (ADR 0359): a NATS server, not a Bijmantra service, so its own set."""
    np = network_policy_schema([], ingress_controller=False)
    np["properties"].pop("otlp")
    np["required"].remove("otlp")
    schema = obj(
        {
            "global": GLOBAL,
            "enabled": {"type": "boolean", "description": "used by the umbrella chart's condition"},
            "bijmantra-lib": {"type": "object", "description": "added by Helm; unused"},
            "fullnameOverride": {"type": "string", "maxLength": 52},
            # Pinned: no default tag (the service charts' appVersion is not NATS's).
            "image": {
                **IMAGE,
                "properties": {**IMAGE["properties"], "tag": {"type": "string", "minLength": 1}},
                "required": ["repository", "tag", "pullPolicy"],
            },
            "imagePullSecrets": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "podAnnotations": LABELS,
            "podLabels": LABELS,
            "auth": obj(
                {"existingSecret": {"type": "string", "minLength": 1}}, required=["existingSecret"]
            ),
            "port": PORT,
            "monitorPort": PORT,
            "mqtt": obj(
                {
                    "port": PORT,
                    "service": obj(
                        {
                            "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                            "annotations": LABELS,
                            "loadBalancerSourceRanges": {"type": "array", "items": STRING},
                        },
                        required=["type"],
                    ),
                    "tls": obj({"enabled": BOOL, "existingSecret": STRING}, required=["enabled"]),
                    "from": {"type": "array", "items": free_object("a NetworkPolicyPeer")},
                },
                required=["port", "service", "tls"],
            ),
            "persistence": obj(
                {
                    "size": QUANTITY,
                    "storageClassName": STRING,
                    "accessModes": {"type": "array", "items": STRING, "minItems": 1},
                },
                required=["size", "accessModes"],
            ),
            "probes": obj(
                {"startup": PROBE_TIMING, "liveness": PROBE_TIMING, "readiness": PROBE_TIMING},
                required=["startup", "liveness", "readiness"],
            ),
            "resources": RESOURCES,
            "tmpDir": obj({"sizeLimit": QUANTITY}, required=["sizeLimit"]),
            "podDisruptionBudget": obj(
                {
                    "enabled": BOOL,
                    "minAvailable": {**INT_OR_PERCENT, "description": "wins over maxUnavailable"},
                    "maxUnavailable": INT_OR_PERCENT,
                },
                required=["enabled"],
            ),
            "networkPolicy": np,
            "nodeSelector": LABELS,
            "tolerations": {"type": "array", "items": free_object("a Toleration")},
            "affinity": free_object("an Affinity"),
            "priorityClassName": STRING,
            "terminationGracePeriodSeconds": NON_NEG_INT,
        },
        required=[
            "image",
            "auth",
            "port",
            "monitorPort",
            "mqtt",
            "persistence",
            "probes",
            "resources",
            "tmpDir",
            "podDisruptionBudget",
            "networkPolicy",
            "terminationGracePeriodSeconds",
        ],
    )
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "bijmantra device-edge values",
        **schema,
    }


def umbrella_schema() -> Schema:
    """The umbrella checks its own keys; each subchart's schema checks its section."""
    subchart = {"type": "object", "properties": {"enabled": BOOL}, "required": ["enabled"]}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "bijmantra umbrella values",
        **obj(
            {
                "global": GLOBAL,
                "namespaceDefaultDeny": obj({"enabled": BOOL}, required=["enabled"]),
                **{name: copy.deepcopy(subchart) for name in (*SERVICES, "device-edge")},
            },
            required=list(SERVICES),
        ),
    }


def rendered() -> dict[Path, str]:
    out = {
        HELM_DIR / name / "values.schema.json": json.dumps(schema, indent=2) + "\n"
        for name, schema in SERVICES.items()
    }
    out[HELM_DIR / "device-edge" / "values.schema.json"] = (
        json.dumps(device_edge_schema(), indent=2) + "\n"
    )
    out[HELM_DIR / "bijmantra" / "values.schema.json"] = (
        json.dumps(umbrella_schema(), indent=2) + "\n"
    )
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, text in rendered().items():
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not check:
            path.write_text(text)
    if check and stale:
        print("stale schemas:", *map(str, stale), sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
