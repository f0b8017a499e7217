"""The console's Jinja environment reads dict fields directly and renders exactly as Jinja's own
(ADR 0322): fields, dict methods, missing names, nested values, objects."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from bijmantra.gateway.console.templating import ConsoleEnvironment, template_config
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


def test_a_blank_or_missing_name_falls_back_to_what_identifies_the_record() -> None:
    """BrAPI accepts a name of only whitespace and older documents hold none: a heading or a
    link shows the fallback (the id) rather than nothing, and never "None"."""
    engine = template_config().instance
    assert engine is not None
    template = engine.engine.from_string("[{{ name|named(id) }}]")
    shown = [template.render(name=name, id="g1") for name in (None, " \t ", "", 42, "<b> x")]
    assert shown == ["[g1]", "[g1]", "[g1]", "[g1]", "[&lt;b&gt; x]"]
