"""Records read from and written to the rows that store them, where a column carries its
field's name: only the fields whose column differs (a UUID as text, an enum's value, seconds
for a timedelta) are written out by hand."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

R = TypeVar("R")
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def record(cls: type[R], row: Any, **converted: Any) -> R:
    """The dataclass ``cls`` from ``row``'s columns named as its fields; ``converted`` gives
    the fields whose column needs converting."""
    columns = row._mapping
    values = {name: columns[name] for name in _field_names(cls) if name not in converted}
    return cls(**values, **converted)


def parameters(value: Any, **converted: Any) -> dict[str, Any]:
    """A statement's parameters for the dataclass ``value``: each field under its name, and
    ``converted`` for the columns stored differently. The statement takes the names it uses
    (SQLAlchemy leaves the others out)."""
    return {name: getattr(value, name) for name in _field_names(type(value))} | converted
