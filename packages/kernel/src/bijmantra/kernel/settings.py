"""A service's settings from the environment (12-factor), declared once per knob.

Each service's ``Settings`` dataclass names a field's variable beside its type and default
(``port: Annotated[int, Env("GATEWAY_PORT")] = 8000``) and builds itself with
``from_environment``: a set variable is converted to the field's type, an unset one leaves
the default. Written out by hand, every default stood twice (the field's and the one
``env.get`` fell back to) in four services' ``from_env``; knobs read some other way (a
fallback to a second variable, a value made from others) are passed to it by name.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Env:
    """``Annotated`` metadata: the environment variable a settings field is read from."""

    name: str


def _converter(hint: Any) -> Callable[[str], Any]:
    """``str``, ``int`` and ``float`` as written; ``str | None``: an empty value is ``None``."""
    if hint in (str, int, float):
        return typing.cast(Callable[[str], Any], hint)
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
    if optional and set(typing.get_args(hint)) == {str, type(None)}:
        return lambda value: value or None
    raise TypeError(f"no conversion from an environment variable to {hint!r}")


def from_environment(cls: type[T], environ: Mapping[str, str], **given: Any) -> T:
    """``cls`` (a dataclass) with every ``Env`` field not in ``given`` read from ``environ``;
    a required field whose variable is unset raises ``KeyError`` naming the variable."""
    hints = typing.get_type_hints(cls, include_extras=True)
    values = dict(given)
    for field in dataclasses.fields(typing.cast(Any, cls)):
        hint = hints[field.name]
        found = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Env)]
        if field.name in given or not found:
            continue
        name = found[0].name
        if name in environ:
            values[field.name] = _converter(typing.get_args(hint)[0])(environ[name])
        elif field.default is dataclasses.MISSING:
            raise KeyError(name)
    return cls(**values)
