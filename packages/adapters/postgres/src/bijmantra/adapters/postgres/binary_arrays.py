"""Columns of a batch as PostgreSQL arrays in binary wire format, built by NumPy.

A telemetry batch reaches its ``INSERT`` as three array parameters (ADR 0334), and its own
rollups as a few more (ADR 0337). psycopg's own
array dumpers call a dumper per element in Python (~4 ms for a batch of 5,000); these fill
the wire format (header, then a length and a big-endian value per element) in one NumPy
pass each, and the timestamps are converted exactly, with no per-item Python code.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from operator import attrgetter

import numpy as np
from psycopg.adapt import AdaptersMap, Buffer, Dumper
from psycopg.pq import Format

# PostgreSQL's element and array type oids (pg_type.dat; fixed since 8.x).
_BOOL, _BOOL_ARRAY = 16, 1000
_INT2, _INT2_ARRAY = 21, 1005
_INT8, _INT8_ARRAY = 20, 1016
_FLOAT8, _FLOAT8_ARRAY = 701, 1022
_TIMESTAMPTZ, _TIMESTAMPTZ_ARRAY = 1184, 1185

# timestamptz on the wire: microseconds since 2000-01-01 UTC.
_POSTGRES_EPOCH = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
_microsecond = attrgetter("microsecond")


class BoolArray(bytes):
    """A one-dimensional ``bool[]`` in binary wire format."""


class Int2Array(bytes):
    """A one-dimensional ``int2[]`` in binary wire format."""


class Int8Array(bytes):
    """A one-dimensional ``int8[]`` in binary wire format."""


class Float8Array(bytes):
    """A one-dimensional ``float8[]`` in binary wire format."""


class TimestamptzArray(bytes):
    """A one-dimensional ``timestamptz[]`` in binary wire format."""


def _wire(element_oid: int, width: int, big_endian: np.ndarray) -> bytes:
    """Header (one dimension, no nulls, lower bound 1), then each element's length and
    bytes, interleaved by a structured array instead of a loop."""
    count = len(big_endian)
    cells = np.empty(count, dtype=[("length", ">i4"), ("value", f"V{width}")])
    cells["length"] = width
    cells["value"] = big_endian.view(f"V{width}")
    return struct.pack(">iiiii", 1, 0, element_oid, count, 1) + cells.tobytes()


def bool_array(values: Sequence[bool] | np.ndarray) -> BoolArray:
    return BoolArray(_wire(_BOOL, 1, np.asarray(values, dtype=np.uint8)))


def int2_array(values: Sequence[int] | np.ndarray) -> Int2Array:
    return Int2Array(_wire(_INT2, 2, np.asarray(values, dtype=">i2")))


def int8_array(values: Sequence[int] | np.ndarray) -> Int8Array:
    return Int8Array(_wire(_INT8, 8, np.asarray(values, dtype=">i8")))


def float8_array(values: Sequence[float] | np.ndarray) -> Float8Array:
    return Float8Array(_wire(_FLOAT8, 8, np.asarray(values, dtype=">f8")))


def microseconds_since_2000(times: Sequence[datetime]) -> np.ndarray:
    """Aware datetimes as PostgreSQL counts them, exact to the microsecond: whole seconds
    from ``timestamp()`` (its float is within a fraction of a microsecond of the truth, so
    its floor is exact for any time of this era) plus the ``microsecond`` field, which no
    offset changes."""
    count = len(times)
    seconds = np.floor(np.fromiter(map(datetime.timestamp, times), np.float64, count))
    micros = np.fromiter(map(_microsecond, times), np.int64, count)
    return (seconds.astype(np.int64) - _POSTGRES_EPOCH) * 1_000_000 + micros


def timestamptz_array(microseconds: np.ndarray) -> TimestamptzArray:
    """Times given as ``microseconds_since_2000`` counts them."""
    return TimestamptzArray(_wire(_TIMESTAMPTZ, 8, microseconds.astype(">i8")))


def _dumper(array_oid: int) -> type[Dumper]:
    class _Prebuilt(Dumper):
        format = Format.BINARY
        oid = array_oid

        def dump(self, obj: Buffer) -> Buffer:
            return obj

    return _Prebuilt


_DUMPERS = (
    (BoolArray, _dumper(_BOOL_ARRAY)),
    (Int2Array, _dumper(_INT2_ARRAY)),
    (Int8Array, _dumper(_INT8_ARRAY)),
    (Float8Array, _dumper(_FLOAT8_ARRAY)),
    (TimestamptzArray, _dumper(_TIMESTAMPTZ_ARRAY)),
)


def register_array_dumpers(adapters: AdaptersMap) -> None:
    """Let ``adapters`` (a connection's) send the prebuilt arrays as they are."""
    for kind, dumper in _DUMPERS:
        adapters.register_dumper(kind, dumper)
