"""The published contract: OpenAPI 3.1 for ``/api/v1`` and ``/brapi/v2`` at ``/openapi.json``.

``/api/v1`` operations are read from the app's own routes, so a new handler appears without
anyone remembering to document it. Its handlers splice domain-api documents into the
``{data, meta, links}`` envelope as bytes, which Litestar's generator can only call
``string/binary``; instead each handler declares its answer (``opt["returns"]``, e.g.
``Envelope[SeasonDocument]``: the edge's generic envelope around the use case's read model,
ADR 0250) and msgspec writes the schemas from those types; non-JSON bodies come from a
table. ``/brapi/v2`` comes from the official spec
(``brapi_paths``). The document is committed as ``api-contracts/openapi.json`` (ADR 0230).
"""

from __future__ import annotations

import html
import json
from collections import Counter
from functools import cache
from typing import Any

import msgspec
from bijmantra.application.operations.dto import (
    CommentIn,
    DependencyIn,
    SeasonIn,
    SeasonPatch,
    TimeEntryIn,
    WorkItemIn,
    WorkItemPatch,
)
from bijmantra.application.sensors.alerts import RuleBody
from bijmantra.application.sensors.documents import (
    ClaimBody,
    DeviceBody,
    ProfileBody,
    TelemetryBody,
)
from bijmantra.edge import declared
from bijmantra.edge.envelopes import ErrorEnvelope
from bijmantra.gateway.contract.brapi_paths import FRAGMENT
from bijmantra.gateway.forwarding import BODYLESS
from litestar import Litestar, Request, Response, get
from litestar.routes import HTTPRoute

API_PREFIX = "/api/v1/"
_BODY_METHODS = {"post", "put", "patch"}
_ANY: dict[str, Any] = {"schema": {}}
_JSON_OBJECT = {"application/json": {"schema": {"type": "object"}}}
_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}

# Operations whose bodies are not one JSON object, or whose answers are not the envelope.
_REQUEST_BODIES: dict[str, dict[str, Any]] = {
    "import_genotypes": {
        "text/plain": {
            "schema": {"type": "string", "description": "A VCF file (format=hapmap: HapMap)"}
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "description": "PLINK: bed, bim and fam; Flapjack: genotype and map",
                "properties": {
                    part: {"type": "string", "format": "binary"}
                    for part in ("bed", "bim", "fam", "genotype", "map")
                },
            }
        },
    },
}
# Bodies the use cases decode strictly into msgspec structs: their schemas are generated.
_TYPED_BODIES: dict[str, type[msgspec.Struct]] = {
    "create_season": SeasonIn,
    "update_season": SeasonPatch,
    "create_work_item": WorkItemIn,
    "update_work_item": WorkItemPatch,
    "add_comment": CommentIn,
    "add_time_entry": TimeEntryIn,
    "add_dependency": DependencyIn,
    "create_profile": ProfileBody,
    "register_device": DeviceBody,
    "claim_device": ClaimBody,
    "ingest_telemetry": TelemetryBody,
    "create_alert_rule": RuleBody,
}
_RESPONSE_BODIES: dict[str, dict[str, Any]] = {
    "download_dosages": _BINARY,
    "download_file": {
        "text/tab-separated-values": {"schema": {"type": "string"}},
        "application/zip": {"schema": {"type": "string", "format": "binary"}},
    },
    "analysis_artifact": {"*/*": _ANY},
    "get_pdf": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    "download_export": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}},
    "smta_report": {"text/csv": {"schema": {"type": "string"}}},
}
# Operations that answer JSON (the declared type) or, when asked, another form.
_ALTERNATIVES: dict[str, dict[str, Any]] = {
    "device_history": {"text/csv": {"schema": {"type": "string"}}},
}
_DEVICE_AUTH = {"ingest_telemetry"}  # public to the bearer guard; checks its own credential

SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "device": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Device <credential>, issued when a device claims its code",
    },
}


_REF_TEMPLATE = "#/components/schemas/{name}"


def _ref(kind: Any) -> str:
    """Where msgspec puts the schema of ``kind`` (``Envelope[SeasonDocument]`` ->
    ``Envelope_SeasonDocument_``)."""
    (schema,), _ = msgspec.json.schema_components([kind], ref_template=_REF_TEMPLATE)
    ref: str = schema["$ref"]
    return ref


def _declared(handler: Any, route: HTTPRoute) -> Any:
    """The answer a JSON handler declares; a handler without one cannot be published."""
    returns = (handler.opt or {}).get("returns")
    if returns is None:
        raise TypeError(
            f"{handler.handler_name} ({route.path_format}) declares no answer: give it"
            ' opt={"returns": Envelope[...]} (ADR 0250)'
        )
    return returns


def _answers(app: Litestar) -> list[Any]:
    """The response types the ``/api/v1`` handlers declare (``opt["returns"]``)."""
    return [
        handler.opt["returns"]
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith(API_PREFIX)
        for handler in route.route_handlers
        if (handler.opt or {}).get("returns") is not None
    ]


def _operation(route: HTTPRoute, handler: Any, method: str) -> dict[str, Any]:
    name = handler.handler_name
    doc = (handler.fn.__doc__ or "").strip().splitlines()
    params: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in route.path_parameters
    ]
    params += [q.parameter() for q in declared(handler)]  # opt[QUERY] (ADR 0350)
    answer = _RESPONSE_BODIES.get(name) or {
        "application/json": {"schema": {"$ref": _ref(_declared(handler, route))}},
        **_ALTERNATIVES.get(name, {}),
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    operation: dict[str, Any] = {
        "operationId": name,
        "tags": [route.path_format[len(API_PREFIX) :].split("/")[0]],
        "parameters": params,
        "responses": {
            str(handler.status_code): {"description": "Success", "content": answer},
            "default": {"description": "An error, in the error envelope", "content": error},
        },
    }
    if doc:
        operation["summary"] = doc[0]
    if method in _BODY_METHODS and not (handler.opt or {}).get(BODYLESS):
        typed = _TYPED_BODIES.get(name)
        ref = {"$ref": f"#/components/schemas/{typed.__name__}"} if typed else None
        content = (
            {"application/json": {"schema": ref}}
            if ref
            else _REQUEST_BODIES.get(name, _JSON_OBJECT)
        )
        operation["requestBody"] = {"required": True, "content": content}
    if name in _DEVICE_AUTH:
        operation["security"] = [{"device": []}]
    elif (handler.opt or {}).get("public"):
        operation["security"] = []  # e.g. a device presenting its claim code in the body
    else:
        operation["security"] = [{"bearer": []}]
    return operation


def api_v1_paths(app: Litestar) -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(API_PREFIX):
            continue
        for handler in route.route_handlers:
            for method in sorted(m.lower() for m in handler.http_methods):
                if method in ("head", "options"):
                    continue
                paths.setdefault(route.path_format, {})[method] = _operation(route, handler, method)
    # One handler mounted on several resources (distribution's records) needs unique ids.
    operations = [op for ops in paths.values() for op in ops.values()]
    counts = Counter(op["operationId"] for op in operations)
    for op in operations:
        if counts[op["operationId"]] > 1:
            op["operationId"] += "_" + op["tags"][0].replace("-", "_")
    return dict(sorted(paths.items()))


@cache
def brapi_fragment() -> dict[str, Any]:
    fragment: dict[str, Any] = json.loads(FRAGMENT.read_text())
    return fragment


def _typed_schemas(app: Litestar) -> dict[str, Any]:
    """Request bodies, the answers the handlers declare and the error envelope, as msgspec
    generates them from the types themselves."""
    types = [*_TYPED_BODIES.values(), *_answers(app), ErrorEnvelope]
    _, schemas = msgspec.json.schema_components(
        sorted(set(types), key=repr), ref_template=_REF_TEMPLATE
    )
    return dict(sorted(schemas.items()))


def document(app: Litestar) -> dict[str, Any]:
    """The whole published contract of this gateway."""
    brapi = brapi_fragment()
    ours = _typed_schemas(app)
    clash = ours.keys() & brapi["components"]["schemas"].keys()
    if clash:
        raise ValueError(f"schema names used by both halves: {sorted(clash)}")
    components = {
        **brapi["components"],
        "schemas": {**brapi["components"]["schemas"], **ours},
        "securitySchemes": {**brapi["components"]["securitySchemes"], **SECURITY_SCHEMES},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Bijmantra gateway",
            "version": "1",
            "description": "The platform API (/api/v1) and BrAPI v2.1 (/brapi/v2).",
        },
        "paths": {**api_v1_paths(app), **brapi["paths"]},
        "components": components,
    }


def render(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def docs_page(doc: dict[str, Any]) -> str:
    """A plain server-rendered page: every operation, its summary and where it is described."""
    rows = []
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            summary = operation.get("summary") or operation.get("operationId") or ""
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code>"
                f"</td><td>{html.escape(summary)}</td></tr>"
            )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Bijmantra API</title><style>body{font-family:sans-serif;margin:2rem}"
        "td{padding:.2rem .6rem;border-bottom:1px solid #ddd}</style></head><body>"
        f"<h1>{html.escape(doc['info']['title'])}</h1><p>{html.escape(doc['info']['description'])}"
        " The machine-readable contract is <a href='/openapi.json'>/openapi.json</a>"
        " (OpenAPI 3.1).</p><table><thead><tr><th>Method</th><th>Path</th><th>Summary</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></body></html>"
    )


def _rendered(app: Litestar) -> tuple[bytes, str]:
    """Built once per app (routes do not change after start-up)."""
    cached: tuple[bytes, str] | None = app.state.get("openapi_rendered")
    if cached is None:
        doc = document(app)
        cached = (render(doc), docs_page(doc))
        app.state["openapi_rendered"] = cached
    return cached


@get("/openapi.json", opt={"public": True}, include_in_schema=False, sync_to_thread=False)
def openapi_json(request: Request[Any, Any, Any]) -> Response[bytes]:
    return Response(_rendered(request.app)[0], media_type="application/json")


@get("/docs", opt={"public": True}, include_in_schema=False, sync_to_thread=False)
def openapi_docs(request: Request[Any, Any, Any]) -> Response[str]:
    return Response(_rendered(request.app)[1], media_type="text/html")


ROUTES = [openapi_json, openapi_docs]
