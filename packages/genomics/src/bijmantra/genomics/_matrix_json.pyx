# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""The allele matrix's GT rows as one byte per call, and that written out as JSON, in C.

Calls of up to two allele slots are keyed by 17 bits (the two int8 allele indexes and the
phase bit): one pass counts each key, the caller spells the few keys found, and a second
pass writes each call's code (its spelling's index). ``expand_codes`` turns the codes
into ``[["0/0","0/1"],[...]]`` between a head and a tail, into one bytes object of the
exact size: domain-api sends a page as codes (a sixth of the JSON) and the gateway writes
the response from them (ADR 0295). No pass holds the GIL or makes an object per call.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int8_t, int64_t, uint8_t, uint32_t
from libc.string cimport memcpy

import numpy as np


cdef inline uint32_t call_key(const int8_t *alleles, int width, uint8_t phase) noexcept nogil:
    cdef uint32_t key = <uint8_t>alleles[0]
    if width == 2:
        key |= <uint32_t>(<uint8_t>alleles[1]) << 8
    return key | (<uint32_t>(phase != 0) << 16)


cdef inline char *put(char *p, char c) noexcept nogil:
    p[0] = c
    return p + 1


cdef int narrow_width(const int8_t[:, :, ::1] alleles) except -1:
    if alleles.shape[2] < 1 or alleles.shape[2] > 2:
        raise ValueError("call keys are for one or two allele slots")
    return <int>alleles.shape[2]


def count_call_keys(const int8_t[:, :, ::1] alleles, const uint8_t[:, ::1] phased):
    """How often each 17-bit call key occurs (``uint32[131072]``)."""
    cdef int width = narrow_width(alleles)
    cdef Py_ssize_t n = alleles.shape[0] * alleles.shape[1], i
    counts_array = np.zeros(1 << 17, dtype=np.uint32)
    cdef uint32_t[::1] counts = counts_array
    if n == 0:
        return counts_array
    cdef const int8_t *call = &alleles[0, 0, 0]
    cdef const uint8_t *phase = &phased[0, 0]
    with nogil:
        for i in range(n):
            counts[call_key(call + i * width, width, phase[i])] += 1
    return counts_array


def call_codes(
    const int8_t[:, :, ::1] alleles, const uint8_t[:, ::1] phased, const uint8_t[::1] code_of_key
):
    """Each call's code, ``code_of_key[key]``, one byte per call, row-major."""
    cdef int width = narrow_width(alleles)
    cdef Py_ssize_t n = alleles.shape[0] * alleles.shape[1], i
    out = PyBytes_FromStringAndSize(NULL, n)
    if n == 0:
        return out
    cdef uint8_t *codes = <uint8_t *>PyBytes_AS_STRING(out)
    cdef const int8_t *call = &alleles[0, 0, 0]
    cdef const uint8_t *phase = &phased[0, 0]
    with nogil:
        for i in range(n):
            codes[i] = code_of_key[call_key(call + i * width, width, phase[i])]
    return out


def expand_codes(
    bytes head, const uint8_t[::1] codes, Py_ssize_t rows, Py_ssize_t columns, list tokens,
    bytes tail,
):
    """``head + [[tokens[c], ...] per row] + tail``: the codes written out as JSON rows."""
    if codes.shape[0] != rows * columns or len(tokens) > 256:
        raise ValueError("codes do not fit the shape, or more than 256 tokens")
    cdef int64_t lengths[256]
    cdef const char *texts[256]
    cdef int64_t counts[256]
    cdef Py_ssize_t i, r, c, k
    cdef int64_t n
    for i in range(256):
        counts[i] = 0
    for k, token in enumerate(tokens):
        lengths[k] = len(<bytes>token)
        texts[k] = <bytes>token
    with nogil:
        for i in range(rows * columns):
            counts[codes[i]] += 1
    cdef int64_t size = len(head) + len(tail) + 2 + 2 * rows + max(rows - 1, 0)
    size += rows * max(columns - 1, 0)
    for k in range(256):
        if counts[k] and k >= len(tokens):
            raise ValueError(f"code {k} names no token")
        if counts[k]:
            size += counts[k] * lengths[k]
    out = PyBytes_FromStringAndSize(NULL, size)
    cdef char *start = PyBytes_AS_STRING(out)
    cdef char *p = start
    cdef const uint8_t *code = &codes[0] if rows * columns else NULL
    memcpy(p, <const char *>head, len(head))
    p += len(head)
    with nogil:
        p = put(p, c'[')
        for r in range(rows):
            if r:
                p = put(p, c',')
            p = put(p, c'[')
            for c in range(columns):
                if c:
                    p = put(p, c',')
                k = code[0]
                code += 1
                for i in range(lengths[k]):  # a few bytes: a loop beats a memcpy call
                    p[i] = texts[k][i]
                p += lengths[k]
            p = put(p, c']')
        p = put(p, c']')
    memcpy(p, <const char *>tail, len(tail))
    p += len(tail)
    if p - start != size:
        raise AssertionError("expand_codes wrote the wrong size")
    return out
