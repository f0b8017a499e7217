"""Every event type the code can emit reaches a subscriber allowed to read it (issue 17 #5)."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import msgspec
import pytest
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.events.bulk import BULK_SUFFIX, bulk_type
from bijmantra.application.events.live_feed import FeedItem, Subscribe, feed_filter
from bijmantra.application.events.permissions import BRAPI_VERBS, event_permissions
from bijmantra.application.security import ROLE_PERMISSIONS, Action, Permission
from bijmantra.kernel import Principal, TenantId

ROOT = Path(__file__).resolve().parents[3]
CATALOG = catalog()
PERMISSIONS = event_permissions((e.name, e.context) for e in CATALOG.entities.values())
TENANT = TenantId(uuid.uuid4())
# The one place that builds types from data: the BrAPI engine, ``<entity>.<verb>``, whose
# types come from the catalog and are checked entity by entity below.
ENGINE = "packages/application/src/bijmantra/application/brapi/entity.py"  # WriteContext.record


def delivered(event_type: str, *roles: str) -> bool:
    payload = msgspec.json.encode({"subject": "s", "data": {"ids": ["s"]}})
    subscriber = Principal("u", TENANT, frozenset(roles))
    return feed_filter(subscriber, Subscribe(), PERMISSIONS).admits(
        FeedItem("e", str(TENANT), event_type, payload)
    )


def readers_of(context: str) -> list[str]:
    return [r for r, ps in ROLE_PERMISSIONS.items() if Permission(context, Action.READ) in ps]


@pytest.mark.parametrize("event_type", ["program.updated", "observation.created"])
def test_the_reported_events_reach_an_admin_and_a_viewer(event_type: str) -> None:
    assert delivered(event_type, "admin")
    assert delivered(event_type, "viewer")
    assert not delivered(event_type)  # no role, no events


def test_every_brapi_entity_event_reaches_exactly_the_readers_of_its_context() -> None:
    for entity in CATALOG.entities.values():
        readers = readers_of(entity.context)
        assert readers, entity.context
        for verb in BRAPI_VERBS:
            event_type = f"{entity.name}.{verb}"
            for role in ROLE_PERMISSIONS:
                expected = role in readers
                assert delivered(event_type, role) is expected, (event_type, role)
                assert delivered(bulk_type(event_type), role) is expected, (event_type, role)


def _module_strings(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }


def _static_prefix(node: ast.expr, constants: dict[str, str]) -> str | None:
    """The fixed start of an event type expression (all of it for a literal)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if not isinstance(node, ast.JoinedStr):
        return None
    prefix = ""
    for part in node.values:
        if isinstance(part, ast.Constant):
            prefix += str(part.value)
        elif isinstance(part.value, ast.Name) and part.value.id in constants:
            prefix += constants[part.value.id]
        else:
            return prefix + "\0"  # a run-time part follows
    return prefix


def emitted_types() -> tuple[set[str], set[str]]:
    """(``DomainEvent(type=...)`` of production code as literal types or fixed prefixes + NUL,
    files that build a type without a fixed start)."""
    found, dynamic = set(), set()
    sources = [*ROOT.glob("packages/**/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]
    for path in sources:
        if "/contracts/" in str(path):
            continue
        tree = ast.parse(path.read_text())
        constants = _module_strings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            for keyword in node.keywords if name == "DomainEvent" else ():
                if keyword.arg != "type":
                    continue
                for expression in _alternatives(keyword.value):
                    prefix = _static_prefix(expression, constants)
                    if prefix is None or "." not in prefix.split("\0")[0]:
                        dynamic.add(str(path.relative_to(ROOT)))
                    else:
                        found.add(prefix)
    return found, dynamic


def _alternatives(node: ast.expr) -> list[ast.expr]:
    """Each type an expression can evaluate to: both arms of ``a if c else b``, and a
    ``bulk_type(t)`` as ``t`` with the suffix (a bulk event is read with its item's right)."""
    if isinstance(node, ast.IfExp):
        return [*_alternatives(node.body), *_alternatives(node.orelse)]
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "bulk_type":
        return [
            ast.JoinedStr([*_parts(item), ast.Constant(BULK_SUFFIX)])
            for item in _alternatives(node.args[0])
        ]
    return [node]


def _parts(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.JoinedStr):
        return list(node.values)
    if isinstance(node, ast.Constant):
        return [node]
    return [ast.FormattedValue(node, -1)]


def test_every_event_type_the_code_emits_has_a_permission_and_reaches_an_admin() -> None:
    found, dynamic = emitted_types()
    assert dynamic == {ENGINE}, "an emitter whose type the table cannot know"
    assert len(found) >= 8, found  # the scan sees the emitters (tenancy, sensors, analysis…)
    for prefix in sorted(found):
        example = prefix.replace("\0", "example")
        needed = PERMISSIONS.needed(example)
        assert needed is not None, f"no permission for {example!r}: add it to FAMILIES"
        if not example.startswith("tenancy.login"):  # account events carry no tenant
            assert delivered(example, "admin"), example


def test_unknown_event_types_are_delivered_to_no_one() -> None:
    assert not delivered("billing.invoice.issued", "admin")
    assert not delivered("programme.updated", "admin")
