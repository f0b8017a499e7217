"""The building blocks of the charts' values schemas: JSON Schema fragments every chart
shares (images, resources, probes, TLS, secrets, network policy). ``generate_schemas.py``
assembles them into each chart's ``values.schema.json``."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

ENV_NAME = "^[A-Z_][A-Z0-9_]*$"


def obj(properties: Schema, *, required: list[str] | None = None, strict: bool = True) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if strict:
        schema["additionalProperties"] = False
    if required:
        schema["required"] = required
    return schema


def free_object(description: str | None = None) -> Schema:
    """A Kubernetes object passed through verbatim (validated later by the API schema)."""
    schema: Schema = {"type": "object"}
    if description:
        schema["description"] = description
    return schema


STRING = {"type": "string"}
BOOL = {"type": "boolean"}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
POS_INT = {"type": "integer", "minimum": 1}
NON_NEG_INT = {"type": "integer", "minimum": 0}
QUANTITY = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "number"}]}
INT_OR_PERCENT = {"anyOf": [NON_NEG_INT, {"type": "string", "pattern": "^[0-9]+%$"}]}
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
# Prometheus durations, e.g. 30s, 1m, 1m30s.
DURATION = {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$"}

SECRET_REF = obj(
    {
        "name": {"type": "string", "minLength": 1, "description": "an existing Secret"},
        "key": {"type": "string", "minLength": 1},
        "optional": BOOL,
    },
    required=["name", "key"],
)
SECRET_REF["description"] = (
    "A reference to a key of an existing Secret. Values are never inlined in the chart."
)

PEER = obj(
    {
        "namespaceSelector": free_object("a LabelSelector"),
        "podSelector": free_object("a LabelSelector"),
    }
)
PEER["minProperties"] = 1

EXTERNAL = obj(
    {
        "port": PORT,
        "to": {
            "type": "array",
            "items": free_object("a NetworkPolicyPeer (ipBlock, namespaceSelector, podSelector)"),
            "description": "destinations; empty means any destination on this port",
        },
    },
    required=["port", "to"],
)

PROBE_TIMING = obj(
    {
        "initialDelaySeconds": NON_NEG_INT,
        "periodSeconds": POS_INT,
        "timeoutSeconds": POS_INT,
        "failureThreshold": POS_INT,
        "successThreshold": POS_INT,
    },
    required=["periodSeconds", "timeoutSeconds", "failureThreshold"],
)

RESOURCES = obj(
    {
        "requests": obj({"cpu": QUANTITY, "memory": QUANTITY}, required=["cpu", "memory"]),
        "limits": obj(
            {"cpu": QUANTITY, "memory": QUANTITY, "ephemeral-storage": QUANTITY},
            required=["memory"],
        ),
    },
    required=["requests", "limits"],
)

IMAGE = obj(
    {
        "repository": {"type": "string", "minLength": 1},
        "tag": STRING,
        "digest": {"type": "string", "pattern": "^(sha256:[a-f0-9]{64})?$"},
        "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
    },
    required=["repository", "pullPolicy"],
)

# Mutual TLS between the services (ADR 0176): a cert-manager Certificate or an existing Secret.
TLS = obj(
    {
        "enabled": {"type": "boolean", "description": "false: INTERNAL_TLS=off (a trial only)"},
        "source": {"enum": ["certManager", "secret"]},
        "existingSecret": {
            "type": "string",
            "description": "source=secret: a Secret with tls.crt, tls.key and ca.crt",
        },
        "certManager": obj(
            {
                "issuerRef": obj(
                    {
                        "name": {"type": "string", "minLength": 1},
                        "kind": {"enum": ["Issuer", "ClusterIssuer"]},
                        "group": {"type": "string", "minLength": 1},
                    },
                    required=["name", "kind", "group"],
                ),
                "duration": {"type": "string", "pattern": "^([0-9]+(h|m|s))+$"},
                "renewBefore": {"type": "string", "pattern": "^([0-9]+(h|m|s))+$"},
            },
            required=["issuerRef", "duration", "renewBefore"],
        ),
    },
    required=["enabled", "source", "existingSecret", "certManager"],
)

CONFIG_COMMON = [
    "LOG_LEVEL",
    "TOKEN_ISSUER",
    "TOKEN_AUDIENCE",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
]

GLOBAL = obj(
    {
        "image": obj({"tag": STRING}),
        "imagePullSecrets": {"type": "array", "items": STRING},
        "config": {
            "type": "object",
            "propertyNames": {"pattern": ENV_NAME},
            "additionalProperties": {"type": ["string", "number", "boolean"]},
            "description": "plain settings shared by every chart; a chart's own config wins",
        },
    }
)


# A positive integer setting (the services parse it with int()); a digit string is accepted
# for --set-string and tools that quote every value.
POSITIVE_INT_SETTING = {
    "anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[1-9][0-9]*$"}]
}
# Settings with a type narrower than "string, number or boolean".
TYPED_SETTINGS: dict[str, Schema] = {
    "LOG_LEVEL": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", ""]},
    "GATEWAY_WORKERS": {**POSITIVE_INT_SETTING, "description": "HTTP server worker processes"},
    "ACCESS_TOKEN_TTL": {**POSITIVE_INT_SETTING, "description": "access token lifetime, seconds"},
    "DB_POOL_SIZE": {**POSITIVE_INT_SETTING, "description": "database connection pool size"},
    "GATEWAY_PAGE_CACHE_BYTES": {
        "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+$"}],
        "description": "bytes of BrAPI list pages kept per worker (0: off), revalidated per "
        "request",
    },
    "GATEWAY_RATE_LIMITS": {
        "type": "string",
        "pattern": r"^(|off|(read|write|search|upload)=[1-9][0-9]*/[1-9][0-9]*"
        r"(,(read|write|search|upload)=[1-9][0-9]*/[1-9][0-9]*)*)$",
        "description": "per route class <organization>/<client> requests per window; '' = "
        "defaults, 'off' (ADR 0140)",
    },
    "GATEWAY_RATE_LIMIT_WINDOW": {**POSITIVE_INT_SETTING, "description": "rate-limit window, s"},
    "GATEWAY_IDEMPOTENCY": {"enum": ["on", "off"], "description": "Idempotency-Key on POST"},
    "GATEWAY_PUBLIC_URL": {
        "type": "string",
        "pattern": "^(|https://[^/]+|http://(127\\.0\\.0\\.1|localhost)(:[0-9]+)?)/?$",
        "description": "the gateway's external origin: the console's OAuth redirect",
    },
}


def config_schema(keys: list[str]) -> Schema:
    props = {
        k: TYPED_SETTINGS.get(k, {"type": ["string", "number", "boolean"]})
        for k in CONFIG_COMMON + keys
    }
    schema = obj(props)
    schema["description"] = "Plain environment (ConfigMap). Credentials belong in secretEnv."
    return schema


def secret_env_schema(keys: list[str], required: list[str]) -> Schema:
    schema = obj({k: SECRET_REF for k in keys}, required=required or None)
    schema["description"] = "Environment variables read from existing Secrets."
    return schema


def network_policy_schema(externals: list[str], ingress_controller: bool) -> Schema:
    props: Schema = {
        "enabled": BOOL,
        "prometheus": PEER,
        "dns": obj(
            {"port": PORT, "namespaceSelector": free_object(), "podSelector": free_object()},
            required=["port"],
        ),
        "otlp": obj(
            {"enabled": BOOL, "port": PORT, "to": EXTERNAL["properties"]["to"]},
            required=["enabled", "port"],
        ),
    }
    required = ["enabled", "prometheus", "dns", "otlp", *externals]
    if ingress_controller:
        props["ingressController"] = PEER
        required.append("ingressController")
    for name in externals:
        props[name] = EXTERNAL
    return obj(props, required=required)
