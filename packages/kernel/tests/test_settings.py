"""``from_environment``: a set variable wins over the field's default, converted to its type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pytest
from bijmantra.kernel.settings import Env, from_environment


@dataclass(frozen=True)
class Knobs:
    url: Annotated[str, Env("KNOB_URL")]
    port: Annotated[int, Env("KNOB_PORT")] = 8000
    wait: Annotated[float, Env("KNOB_WAIT")] = 1.5
    redis: Annotated[str | None, Env("KNOB_REDIS")] = None
    computed: str = "default"


def test_unset_variables_leave_the_defaults() -> None:
    assert from_environment(Knobs, {"KNOB_URL": "u"}) == Knobs("u")


def test_set_variables_are_converted_to_the_field_type() -> None:
    environ = {"KNOB_URL": "u", "KNOB_PORT": "9", "KNOB_WAIT": "0.25", "KNOB_REDIS": "r://"}
    assert from_environment(Knobs, environ) == Knobs("u", 9, 0.25, "r://")


def test_an_empty_optional_value_is_none_and_an_empty_string_stays() -> None:
    assert from_environment(Knobs, {"KNOB_URL": "", "KNOB_REDIS": ""}) == Knobs("", redis=None)


def test_given_values_win_and_fields_without_env_keep_their_default() -> None:
    found = from_environment(Knobs, {"KNOB_URL": "u", "KNOB_PORT": "9"}, port=1, computed="c")
    assert (found.port, found.computed) == (1, "c")


def test_a_required_variable_unset_names_itself() -> None:
    with pytest.raises(KeyError, match="KNOB_URL"):
        from_environment(Knobs, {})


def test_a_malformed_number_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        from_environment(Knobs, {"KNOB_URL": "u", "KNOB_PORT": "eighty"})


def test_a_type_without_a_conversion_is_refused() -> None:
    @dataclass(frozen=True)
    class Odd:
        when: Annotated[list[str], Env("KNOB_LIST")]

    with pytest.raises(TypeError, match="no conversion"):
        from_environment(Odd, {"KNOB_LIST": "a,b"})
