"""The official BrAPI v2.1 schemas as the single source of every entity's fields and types.

``schemas.json`` is extracted from the pinned spec (``api-contracts/brapi``). ``shape``
validates a client's JSON against a schema and returns it in the shape responses need:
camelCase keys exactly as the schema names them, every property present, ``null`` where
there is no value (the BrAPI JSON-Schema convention: non-required means nullable).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

from bijmantra.kernel import FieldError, decimal_integer

Schema = dict[str, Any]
BLANK_NOT_NULL = "x-bijmantra-blank-not-null"
MAX_DOUBLE = int(sys.float_info.max)  # the largest integer a JSON number may be here


@cache
def _all_schemas() -> dict[str, dict[str, Schema]]:
    text = resources.files("bijmantra.application.brapi").joinpath("schemas.json").read_text()
    schemas: dict[str, dict[str, Schema]] = json.loads(text)
    return schemas


@dataclass(frozen=True)
class SchemaSet:
    """The ``components.schemas`` of one BrAPI module file, with ``$ref``/``allOf`` resolved."""

    module: str

    def named(self, name: str) -> Schema:
        return self.resolve({"$ref": f"#/components/schemas/{name}"})

    def resolve(self, node: Schema) -> Schema:
        return _resolve(self.module, json.dumps(node, sort_keys=True))


@cache
def _resolve(module: str, node_json: str) -> Schema:
    schemas = _all_schemas()[module]

    def walk(node: Schema) -> Schema:
        if "$ref" in node:  # the nullable spec wraps exactly these in a nullable ``anyOf``
            return {**walk(schemas[node["$ref"].rsplit("/", 1)[1]]), BLANK_NOT_NULL: True}
        if "allOf" in node:
            merged: Schema = {"type": "object", "properties": {}, "required": []}
            for part in node["allOf"]:
                resolved = walk(part)
                merged["properties"].update(resolved.get("properties", {}))
                merged["required"] += [
                    r for r in resolved.get("required", []) if r not in merged["required"]
                ]
            return merged
        if "anyOf" in node and len(node["anyOf"]) == 1:  # the spec's way of a nullable $ref
            # Strict OpenAPI 3.0 ignores ``nullable`` without ``type``: serve [] / {} for null.
            return {**walk(node["anyOf"][0]), BLANK_NOT_NULL: True}
        out = dict(node)
        if "properties" in out:
            out["properties"] = {k: walk(v) for k, v in out["properties"].items()}
        if isinstance(out.get("items"), dict):
            out["items"] = walk(out["items"])
        if isinstance(out.get("additionalProperties"), dict):
            out["additionalProperties"] = walk(out["additionalProperties"])
        for key in ("oneOf", "anyOf"):
            if key in out:
                out[key] = [walk(v) for v in out[key]]
        return out

    return walk(json.loads(node_json))


def _type_error(expected: str, value: Any) -> str:
    return f"expected {expected}, got {type(value).__name__ if value is not None else 'null'}"


def text_problem(value: str) -> str | None:
    """Text PostgreSQL and UTF-8 cannot hold: NUL characters, unpaired surrogates."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if value.isascii():  # the usual case, checked in C without encoding a copy
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    return None


def _check_string(schema: Schema, value: str) -> str | None:
    if problem := text_problem(value):
        return problem
    if "enum" in schema and value not in schema["enum"]:
        return f"must be one of {', '.join(schema['enum'])}"
    fmt = schema.get("format")
    try:
        if fmt == "date":
            date.fromisoformat(value)
        elif fmt == "date-time":
            datetime.fromisoformat(value)
    except ValueError:
        return f"must be an ISO 8601 {fmt}"
    return None


def shape(
    schema: Schema,
    value: Any,
    path: str,
    problems: list[FieldError],
    *,
    skip_required: frozenset[str] = frozenset(),
) -> Any:
    """Validate ``value`` against a resolved schema, collect problems, return the full shape."""
    if value is None:
        return None
    if "oneOf" in schema or "anyOf" in schema:
        for option in schema.get("oneOf") or schema["anyOf"]:
            attempt: list[FieldError] = []
            shaped = shape(option, value, path, attempt)
            if not attempt:
                return shaped
        problems.append(FieldError(path or "body", "matches none of the allowed shapes"))
        return None
    kind = schema.get("type") or ("object" if "properties" in schema else None)
    if kind == "object":
        if not isinstance(value, dict):
            problems.append(FieldError(path or "body", _type_error("object", value)))
            return None
        return _shape_object(schema, value, path, problems, skip_required)
    if kind == "array":
        if not isinstance(value, list):
            problems.append(FieldError(path or "body", _type_error("array", value)))
            return None
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get(
            "maxItems", len(value)
        ):
            problems.append(
                FieldError(
                    path,
                    f"must have between {schema.get('minItems', 0)} and "
                    f"{schema.get('maxItems', 'any number of')} items",
                )
            )
        item_schema = schema.get("items", {})
        # "Not required" reads as nullable for a property, but a list's item is no property:
        # a ``null`` in a list names nothing, and every reader of the list takes an item as
        # the schema's type (a stored ``[null]`` made the germplasm's MCPD read a 500).
        for i in (i for i, v in enumerate(value) if v is None):
            problems.append(FieldError(f"{path}[{i}]", "must not be null (a list holds values)"))
        return [shape(item_schema, v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if kind == "string":
        if not isinstance(value, str):
            problems.append(FieldError(path, _type_error("string", value)))
            return None
        if message := _check_string(schema, value):
            problems.append(FieldError(path, message))
        return value
    if kind == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(FieldError(path, _type_error("integer", value)))
            return None
        if not -(2**63) <= value < 2**63:
            problems.append(FieldError(path, "out of range (a 64-bit integer)"))
            return None
        return value
    if kind == "number":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(FieldError(path, _type_error("number", value)))
            return None
        if isinstance(value, int) and not -MAX_DOUBLE <= value <= MAX_DOUBLE:
            # JSON's integers are unbounded; the rules read numbers as doubles, and 10**400
            # stored as a seed lot's amount made every transaction from the lot a 500.
            problems.append(FieldError(path, "out of range (a double)"))
            return None
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            problems.append(FieldError(path, _type_error("boolean", value)))
            return None
        return value
    return value


def stored_objects(items: Any) -> list[dict[str, Any]]:
    """The objects of a stored document's list, passing over the ``null`` items that writes
    kept before ``shape`` refused them (and anything else that is not an object)."""
    return (
        [item for item in items or [] if isinstance(item, dict)] if isinstance(items, list) else []
    )


def _shape_object(
    schema: Schema,
    value: dict[str, Any],
    path: str,
    problems: list[FieldError],
    skip_required: frozenset[str],
) -> dict[str, Any]:
    prefix = f"{path}." if path else ""
    properties: dict[str, Schema] = schema.get("properties", {})
    if not properties and isinstance(schema.get("additionalProperties"), dict):
        values = schema["additionalProperties"]
        for key in value:
            if problem := text_problem(str(key)):
                problems.append(FieldError(f"{prefix}{key!r}", f"key {problem}"))
        return {str(k): shape(values, v, f"{prefix}{k}", problems) for k, v in value.items()}
    if not properties:
        return value
    # Every property present (its blank where absent); only the values sent need checking.
    plan = _plan(schema)
    out = plan.blank_object()
    for name, item in value.items():
        if item is None:
            continue
        if type(item) is str and name in plan.plain_strings:  # most fields of a bulk write
            if message := text_problem(item):
                problems.append(FieldError(f"{prefix}{name}", message))
            out[name] = item
            continue
        sub = properties.get(name)
        if sub is not None:
            shaped = shape(sub, item, f"{prefix}{name}", problems)
            out[name] = blank(sub) if shaped is None else shaped
    for name in schema.get("required", ()):
        if name not in skip_required and value.get(name) is None and name in properties:
            problems.append(FieldError(f"{prefix}{name}", "is required"))
    return out


def blank(schema: Schema) -> Any:
    """The value served for "no value": ``null``, or ``[]`` for a list the spec wraps in a
    nullable ``anyOf`` (which a strict OpenAPI 3.0 reading says excludes null)."""
    if not schema.get(BLANK_NOT_NULL):
        return None
    return [] if schema.get("type") == "array" else None


def empty(schema: Schema) -> dict[str, Any]:
    """Every property of an object schema, each with its ``blank`` value."""
    return _plan(schema).blank_object()


@dataclass(frozen=True, slots=True)
class _ObjectPlan:
    """What shaping an object schema needs, worked out once per schema rather than per item
    (a bulk write shapes 10,000 objects of one schema)."""

    blanks: dict[str, Any]  # every property with its blank; lists are made fresh per object
    list_blanks: tuple[str, ...]
    plain_strings: frozenset[str]  # string properties with no enum or format to check

    def blank_object(self) -> dict[str, Any]:
        out = dict(self.blanks)
        for name in self.list_blanks:
            out[name] = []
        return out


def _object_plan(schema: Schema) -> _ObjectPlan:
    properties: dict[str, Schema] = schema.get("properties", {})
    blanks = {name: blank(sub) for name, sub in properties.items()}
    return _ObjectPlan(
        blanks={name: None if isinstance(b, list) else b for name, b in blanks.items()},
        list_blanks=tuple(name for name, b in blanks.items() if isinstance(b, list)),
        plain_strings=frozenset(
            name
            for name, sub in properties.items()
            if sub.get("type") == "string" and not {"enum", "format", "oneOf", "anyOf"} & sub.keys()
        ),
    )


# Plans by schema identity; each entry holds its schema so the id is never reused. Schemas
# are the resolved, cached ones of the catalog; the bound only guards against a caller
# shaping against schemas it builds on the fly.
_PLANS: dict[int, tuple[Schema, _ObjectPlan]] = {}
_MAX_PLANS = 4096


def _plan(schema: Schema) -> _ObjectPlan:
    entry = _PLANS.get(id(schema))
    if entry is None or entry[0] is not schema:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        entry = _PLANS[id(schema)] = (schema, _object_plan(schema))
    return entry[1]


def field_schema(schema: Schema, path: tuple[str, ...]) -> Schema:
    """The schema at a document path; ``*`` steps into array items."""
    node = schema
    for step in path:
        node = node.get("items", {}) if step == "*" else node.get("properties", {}).get(step, {})
    return node


def parse_scalar(schema: Schema, raw: str, location: str, problems: list[FieldError]) -> Any:
    """A query-string value converted to the field's JSON type."""
    if problem := text_problem(raw):
        problems.append(FieldError(location, problem))
        return None
    kind = schema.get("type")
    if kind == "boolean":
        if raw.lower() in {"true", "false"}:
            return raw.lower() == "true"
        problems.append(FieldError(location, "expected true or false"))
        return None
    if kind in {"integer", "number"}:
        try:  # ASCII digits only: ``int`` and ``float`` read other scripts' too (ADR 0387)
            return decimal_integer(raw) if kind == "integer" else _ascii_float(raw)
        except ValueError:
            problems.append(FieldError(location, f"expected {kind}"))
            return None
    return raw


__all__ = ["SchemaSet", "empty", "field_schema", "parse_scalar", "shape"]


def _ascii_float(raw: str) -> float:
    if not raw.isascii():
        raise ValueError(raw)
    return float(raw)
