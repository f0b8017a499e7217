"""The prebuilt binary arrays against real PostgreSQL: what it reads back is exactly what was
sent, for any offset, microsecond, extreme or special value (ADR 0334, 0337)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from bijmantra.adapters.postgres.binary_arrays import (
    bool_array,
    float8_array,
    int2_array,
    int8_array,
    microseconds_since_2000,
    register_array_dumpers,
    timestamptz_array,
)
from bijmantra.testkit.provision import ProvisionedDatabase
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.integration

_offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_times = st.builds(
    lambda naive, zone: naive.replace(tzinfo=zone),
    st.datetimes(datetime(1901, 1, 1), datetime(2199, 12, 31)),
    _offsets,
)


@pytest.fixture(scope="module")
def connection(database: ProvisionedDatabase) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        register_array_dumpers(conn.adapters)
        yield conn


def _read_back(conn: psycopg.Connection[tuple[Any, ...]], array: bytes) -> list[Any]:
    row = conn.execute("SELECT %s", (array,), binary=True).fetchone()
    assert row is not None
    return list(row[0])


@settings(max_examples=60, deadline=None)
@given(st.lists(_times, min_size=1, max_size=300))
def test_times_come_back_to_the_microsecond_whatever_their_offset(
    connection: psycopg.Connection[tuple[Any, ...]], times: list[datetime]
) -> None:
    assert _read_back(connection, timestamptz_array(microseconds_since_2000(times))) == times


def test_times_at_the_edges_of_a_second_are_exact(
    connection: psycopg.Connection[tuple[Any, ...]],
) -> None:
    base = datetime(2026, 12, 6, 23, 59, 59, tzinfo=UTC)
    times = [base.replace(microsecond=us) for us in (0, 1, 499_999, 500_000, 999_998, 999_999)]
    times += [datetime(2000, 1, 1, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, 59, 999_999, UTC)]
    assert _read_back(connection, timestamptz_array(microseconds_since_2000(times))) == times


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=300))
def test_values_come_back_bit_for_bit(
    connection: psycopg.Connection[tuple[Any, ...]], values: list[float]
) -> None:
    back = _read_back(connection, float8_array(values))
    assert [math.copysign(1, v) for v in back] == [math.copysign(1, v) for v in values]
    assert back == values


def test_not_a_number_and_infinities_come_back(
    connection: psycopg.Connection[tuple[Any, ...]],
) -> None:
    back = _read_back(connection, float8_array([math.nan, math.inf, -math.inf, 5e-324]))
    assert math.isnan(back[0])
    assert back[1:] == [math.inf, -math.inf, 5e-324]


@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=300))
@settings(max_examples=30, deadline=None)
def test_small_integers_come_back(
    connection: psycopg.Connection[tuple[Any, ...]], numbers: list[int]
) -> None:
    assert _read_back(connection, int2_array(numbers)) == numbers


@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=300))
@settings(max_examples=30, deadline=None)
def test_big_integers_come_back(
    connection: psycopg.Connection[tuple[Any, ...]], numbers: list[int]
) -> None:
    assert _read_back(connection, int8_array(numbers)) == numbers


@given(st.lists(st.booleans(), min_size=1, max_size=300))
@settings(max_examples=30, deadline=None)
def test_truth_values_come_back(
    connection: psycopg.Connection[tuple[Any, ...]], flags: list[bool]
) -> None:
    assert _read_back(connection, bool_array(flags)) == flags


def test_the_arrays_are_typed_as_postgresql_reads_them(
    connection: psycopg.Connection[tuple[Any, ...]],
) -> None:
    row = connection.execute(
        "SELECT pg_typeof(%s)::text, pg_typeof(%s)::text, pg_typeof(%s)::text, "
        "pg_typeof(%s)::text, pg_typeof(%s)::text",
        (
            int2_array([1]),
            float8_array([1.0]),
            timestamptz_array(microseconds_since_2000([datetime.now(UTC)])),
            int8_array([1]),
            bool_array([True]),
        ),
    ).fetchone()
    assert row == (
        "smallint[]",
        "double precision[]",
        "timestamp with time zone[]",
        "bigint[]",
        "boolean[]",
    )
