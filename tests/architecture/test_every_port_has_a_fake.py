"""Every port has a complete fake in the testkit (ADR 0260): each ``Protocol`` declared in the
application or the kernel is in ``port_fakes.PORT_FAKES`` or, with its reason, in
``NOT_ADAPTER_PORTS``; each fake defines every method of its port. mypy checks the
signatures (``port_fakes``' ``TYPE_CHECKING`` block); this test checks that none is left out."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import bijmantra.application
import bijmantra.kernel
from bijmantra.testkit.port_fakes import NOT_ADAPTER_PORTS, PORT_FAKES

# Dunders a protocol may declare that the fake must define too (the rest are typing's own).
_PROTOCOL_DUNDERS = {"__aenter__", "__aexit__", "__call__"}


def _protocols() -> dict[str, type[Any]]:
    found: dict[str, type[Any]] = {}
    for package in (bijmantra.application, bijmantra.kernel):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if (
                    inspect.isclass(value)
                    and getattr(value, "_is_protocol", False)
                    and value.__module__ == info.name
                ):
                    found[f"{info.name}.{name}"] = value
    return found


def _methods(protocol: type[Any]) -> set[str]:
    """What a protocol and its protocol bases declare as methods or properties."""
    names: set[str] = set()
    for base in protocol.__mro__:
        if base is object or not getattr(base, "_is_protocol", False):
            continue
        for name, value in vars(base).items():
            declared = callable(value) or isinstance(value, property)
            if declared and (not name.startswith("_") or name in _PROTOCOL_DUNDERS):
                names.add(name)
    return names


def test_every_protocol_is_a_port_with_a_fake_or_says_why_not() -> None:
    protocols = _protocols()
    assert len(protocols) > 40  # the walk found the application's ports
    unaccounted = sorted(
        name
        for name, protocol in protocols.items()
        if protocol not in PORT_FAKES and protocol not in NOT_ADAPTER_PORTS
    )
    assert unaccounted == [], f"add a fake to bijmantra.testkit and to PORT_FAKES: {unaccounted}"


def _defines(fake: type[Any], name: str) -> bool:
    """A method, or an attribute the fake declares (a unit of work sets its stores on entry)."""
    return hasattr(fake, name) or any(
        name in vars(c).get("__annotations__", {}) for c in fake.__mro__
    )


def test_every_fake_defines_every_method_of_its_port() -> None:
    missing = {
        f"{fake.__name__} ({port.__name__})": sorted(
            name for name in _methods(port) if not _defines(fake, name)
        )
        for port, fake in PORT_FAKES.items()
    }
    assert {fake: names for fake, names in missing.items() if names} == {}
