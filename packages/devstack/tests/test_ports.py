"""The local stack's ports are distinct even when the free-port draw repeats itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bijmantra.devstack import ports as ports_module
from bijmantra.devstack.ports import PORT_NAMES, Ports


def _draws(values: list[int]) -> Iterator[int]:
    yield from values
    yield from range(40_000, 41_000)


def test_ports_drawn_twice_are_redrawn(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = _draws([50_001] * 12)  # the kernel handing out one port again and again
    monkeypatch.setattr(ports_module, "free_port", lambda: next(draws))
    ports = Ports(
        **{name: 50_001 for name in PORT_NAMES - {"gateway"}}, gateway=8000, fixed=frozenset()
    )
    values = [getattr(ports, name) for name in PORT_NAMES]
    assert len(set(values)) == len(PORT_NAMES)


def test_a_fixed_port_is_never_redrawn_and_never_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = _draws([8000, 8000, 8000])
    monkeypatch.setattr(ports_module, "free_port", lambda: next(draws))
    ports = Ports(gateway=8000, identity=8000, domain_api=8000)
    assert ports.gateway == 8000
    others = [getattr(ports, name) for name in PORT_NAMES - {"gateway"}]
    assert 8000 not in others
    assert len(set(others)) == len(others)
    ports.repick()
    assert ports.gateway == 8000
    assert len({getattr(ports, name) for name in PORT_NAMES}) == len(PORT_NAMES)
