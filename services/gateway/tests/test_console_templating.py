"""The console's Jinja environment reads dict fields directly and renders exactly as Jinja's own
(ADR 0322): fields, dict methods, missing names, nested values, objects."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from bijmantra.gateway.console.templating import ConsoleEnvironment
from jinja2 import DictLoader, Environment, StrictUndefined, UndefinedError

SOURCE = (
    "{% for row in rows %}{{ row.id }}|{{ row.items }}|{{ row.get('id') }}|"
    "{{ row.missing or 'none' }}|{{ row.nested.name }}|{{ row['id'] }}|"
    "{% for k, v in row.items() %}{{ k }}={{ v }};{% endfor %}{{ row.values }}\n{% endfor %}"
    "{{ thing.label }}|{{ thing.absent is defined }}|{{ text.upper() }}"
)


@dataclass
class Thing:
    label: str


# The same objects for both renders: a dict method shows as its repr, address included.
ROWS = [
    {"id": "<a>", "items": ["x"], "nested": {"name": "n1"}},
    {"id": "b", "nested": {}, "values": 3},
]


def _render(environment: type[Environment]) -> str:
    rendered = environment(autoescape=True, loader=DictLoader({"t": SOURCE})).get_template("t")
    return rendered.render(rows=ROWS, thing=Thing("t"), text="abc")


def test_it_renders_exactly_as_jinja_does() -> None:
    expected = _render(Environment)
    assert "&lt;a&gt;|&lt;built-in method items" in expected  # ``row.items`` is the method
    assert "|&lt;a&gt;|none|n1|&lt;a&gt;|id=&lt;a&gt;;items=" in expected
    assert _render(ConsoleEnvironment) == expected


def test_a_missing_field_is_still_undefined() -> None:
    strict = ConsoleEnvironment(undefined=StrictUndefined, loader=DictLoader({"t": "{{ r.x }}"}))
    with pytest.raises(UndefinedError):
        strict.get_template("t").render(r={"y": 1})
