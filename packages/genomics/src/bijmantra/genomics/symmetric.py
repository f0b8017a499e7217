"""Symmetric ``.npy`` matrices stored as their upper triangle, served whole byte for byte.

A GRM is symmetric: storing one triangle halves the bytes written to WAL and TOAST when a job
completes (16 MB -> 8 MB for 2,000 samples; ADR 0070). Stored form: the original ``.npy``
header (kept verbatim, so the served file is the exact bytes the worker sent) followed by the
rows ``m[i, i:]`` one after the other. Only a matrix whose bit patterns are symmetric is
packed (``-0.0`` vs ``0.0`` or differing NaN payloads keep it whole), so expansion is exact.
"""

from __future__ import annotations

import io

import numpy as np
from numpy.lib import format as npy

UPPER_TRIANGLE = "upper-triangle"


def _header(data: bytes) -> tuple[tuple[int, ...], bool, np.dtype, int] | None:
    stream = io.BytesIO(data)
    try:
        version = npy.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = npy.read_array_header_2_0(stream)
        else:
            return None
    except ValueError:
        return None
    return shape, fortran, dtype, stream.tell()


def _square(data: bytes) -> tuple[int, np.dtype, int] | None:
    """(n, dtype, header size) of a C-order square ``.npy`` header of plain values, or None."""
    header = _header(data)
    if header is None:
        return None
    shape, fortran, dtype, offset = header
    if len(shape) != 2 or shape[0] != shape[1] or fortran or dtype.hasobject:
        return None
    if dtype.itemsize not in (1, 2, 4, 8):
        return None
    return shape[0], dtype, offset


def pack_symmetric(data: bytes) -> bytes | None:
    """The stored form of a symmetric square ``.npy`` matrix, or None if ``data`` is not one."""
    square = _square(data)
    if square is None:
        return None
    n, dtype, offset = square
    if len(data) != offset + n * n * dtype.itemsize:
        return None
    bits = np.frombuffer(data, dtype=f"u{dtype.itemsize}", offset=offset).reshape(n, n)
    return _upper_triangle(data[:offset], bits)


def pack_symmetric_array(matrix: np.ndarray) -> bytes | None:
    """``pack_symmetric`` of the ``.npy`` file ``np.save`` writes for ``matrix`` (in C order),
    made from the array itself: a producer (the worker's GRM) skips writing and re-reading
    the whole file, 16 MB of copies for 2,000 samples."""
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.dtype.hasobject:
        return None
    if matrix.dtype.itemsize not in (1, 2, 4, 8):
        return None
    matrix = np.ascontiguousarray(matrix)
    header = io.BytesIO()
    fields = npy.header_data_from_array_1_0(matrix)
    try:  # the version np.save picks: 1.0 unless the header does not fit
        npy.write_array_header_1_0(header, fields)
    except ValueError:
        header = io.BytesIO()
        npy.write_array_header_2_0(header, fields)
    return _upper_triangle(header.getvalue(), matrix.view(f"u{matrix.dtype.itemsize}"))


def _upper_triangle(header: bytes, bits: np.ndarray) -> bytes | None:
    """``header`` + rows ``bits[i, i:]``, if the bit patterns are symmetric."""
    n = bits.shape[0]
    if not np.array_equal(bits, bits.T):
        return None
    upper = np.empty(n * (n + 1) // 2, dtype=bits.dtype)
    start = 0
    for i in range(n):
        upper[start : start + n - i] = bits[i, i:]
        start += n - i
    return header + upper.tobytes()


def packed_served_size(stored: bytes) -> int | None:
    """The size of the ``.npy`` file a packed matrix expands to, or None if ``stored`` is not
    a well-formed packed matrix (a producer may pack its own symmetric result: ADR 0070)."""
    square = _square(stored)
    if square is None:
        return None
    n, dtype, offset = square
    if len(stored) != offset + n * (n + 1) // 2 * dtype.itemsize:
        return None
    return offset + n * n * dtype.itemsize


def expand_symmetric(stored: bytes) -> bytes:
    """The ``.npy`` file ``pack_symmetric`` was given."""
    header = _header(stored)
    if header is None:
        raise ValueError("not a packed symmetric matrix")
    (n, _), _, dtype, offset = header
    upper = np.frombuffer(stored, dtype=f"u{dtype.itemsize}", offset=offset)
    if upper.size != n * (n + 1) // 2:
        raise ValueError(
            f"a packed {n} x {n} matrix has {n * (n + 1) // 2} values, not {upper.size}"
        )
    matrix = np.empty((n, n), dtype=upper.dtype)
    start = 0
    for i in range(n):  # row i from the diagonal on, mirrored into column i below it
        row = upper[start : start + n - i]
        matrix[i, i:] = row
        matrix[i + 1 :, i] = row[1:]
        start += n - i
    return stored[:offset] + matrix.tobytes()
