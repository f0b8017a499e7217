# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""VCF text written in C from the store's call arrays (``bijmantra.genomics.writers``).

One pass over a block of variants: each line is its fixed columns (spelled by the caller),
then per sample the GT (allele indexes, ``|``/``/``, ``.`` for a missing allele, absent
slots skipped) and the FORMAT values, into one growing buffer without the GIL. A FORMAT
value that is an integer below 2^24 is printed here; any other (fractions, -0, inf) is
looked up by its bit pattern in a table the caller spelled once per distinct value, so
the text is byte for byte what the Python spelling gives.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.math cimport fabsf, floorf, signbit
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint32_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy


cdef struct FieldTable:
    const float *values  # (variants, samples), NaN where a call has no value
    const uint32_t *keys  # sorted distinct bit patterns of the values spelled by the table
    const int64_t *offsets  # n_keys + 1 offsets into text
    const char *text
    int64_t n_keys


cdef enum:
    MAX_FIELDS = 3
    INT_FIELD_CHARS = 10  # "-16777215" and the ':' before it


cdef inline bint printed_as_integer(float v) noexcept nogil:
    """The values written as integers here (the caller's table holds the others)."""
    return fabsf(v) < 16777216.0 and v == floorf(v) and not (v == 0 and signbit(v))


cdef inline char *write_int(char *p, int32_t x) noexcept nogil:
    cdef char digits[12]
    cdef int n = 0
    cdef uint32_t u
    if x < 0:
        p[0] = c'-'
        p += 1
        u = <uint32_t>(-(<int64_t>x))
    else:
        u = <uint32_t>x
    while True:
        digits[n] = <char>(c'0' + u % 10)
        n += 1
        u //= 10
        if u == 0:
            break
    while n > 0:
        n -= 1
        p[0] = digits[n]
        p += 1
    return p


cdef inline char *write_field(char *p, const FieldTable *t, int64_t cell) noexcept nogil:
    cdef float v = t.values[cell]
    cdef uint32_t bits
    cdef int64_t lo, hi, mid
    if v != v:
        p[0] = c'.'
        return p + 1
    if printed_as_integer(v):
        return write_int(p, <int32_t>v)
    memcpy(&bits, &v, 4)
    lo, hi = 0, t.n_keys
    while lo < hi:
        mid = (lo + hi) >> 1
        if t.keys[mid] < bits:
            lo = mid + 1
        else:
            hi = mid
    if lo == t.n_keys or t.keys[lo] != bits:  # the caller spells every such value
        p[0] = c'.'
        return p + 1
    memcpy(p, t.text + t.offsets[lo], t.offsets[lo + 1] - t.offsets[lo])
    return p + (t.offsets[lo + 1] - t.offsets[lo])


cdef int64_t render(
    const int8_t *alleles, const uint8_t *phased, int64_t n_variants, int64_t n_samples,
    int width, const char *prefixes, const int64_t *prefix_offsets,
    const FieldTable *fields, int n_fields, int64_t cell_bound,
    char **buffer, int64_t *capacity,
) noexcept nogil:
    """Write the block's lines into ``*buffer`` (grown as needed); the length, or -1."""
    cdef int64_t v, s, cell, used = 0, need, prefix
    cdef int k, f, first
    cdef int8_t x
    cdef char separator
    cdef char *p
    cdef char *grown
    for v in range(n_variants):
        prefix = prefix_offsets[v + 1] - prefix_offsets[v]
        need = used + prefix + n_samples * cell_bound + 1
        if need > capacity[0]:
            grown = <char *>realloc(buffer[0], need * 2)
            if grown == NULL:
                return -1
            buffer[0], capacity[0] = grown, need * 2
        p = buffer[0] + used
        memcpy(p, prefixes + prefix_offsets[v], prefix)
        p += prefix
        for s in range(n_samples):
            cell = v * n_samples + s
            if s > 0:
                p[0] = c'\t'
                p += 1
            separator = c'|' if phased[cell] else c'/'
            first = 1
            for k in range(width):
                x = alleles[cell * width + k]
                if x == -2:
                    continue
                if not first:
                    p[0] = separator
                    p += 1
                first = 0
                if x == -1:
                    p[0] = c'.'
                    p += 1
                elif 0 <= x <= 9:
                    p[0] = <char>(c'0' + x)
                    p += 1
                else:
                    p = write_int(p, x)
            for f in range(n_fields):
                p[0] = c':'
                p = write_field(p + 1, &fields[f], cell)
        p[0] = c'\n'
        used = (p + 1) - buffer[0]
    return used


def vcf_text(
    const int8_t[:, :, ::1] alleles,
    const uint8_t[:, ::1] phased,
    const unsigned char[::1] prefixes,
    const int64_t[::1] prefix_offsets,
    list fields,
    int64_t longest_spelled,
) -> bytes:
    """The block's VCF lines. ``prefixes`` holds each line's fixed columns and its tab;
    ``fields`` is ``(values, keys, offsets, text)`` per FORMAT key, in FORMAT order;
    ``longest_spelled`` the longest text in any field's table."""
    cdef FieldTable tables[MAX_FIELDS]
    cdef const float[:, ::1] values
    cdef const uint32_t[::1] keys
    cdef const int64_t[::1] offsets
    cdef const unsigned char[::1] text
    cdef int n_fields = len(fields), f
    cdef int64_t n_variants = alleles.shape[0], n_samples = alleles.shape[1]
    cdef int width = alleles.shape[2]
    cdef int64_t used, capacity, cell_bound
    cdef char *buffer
    cdef const char *no_text = b""
    if n_fields > MAX_FIELDS:
        raise ValueError(f"at most {MAX_FIELDS} FORMAT fields besides GT")
    if n_variants == 0:
        return b""
    keep_alive = []
    for f in range(n_fields):
        values, keys, offsets, text = fields[f]
        keep_alive.append((values, keys, offsets, text))
        tables[f].values = &values[0, 0] if values.shape[0] * values.shape[1] else NULL
        tables[f].keys = &keys[0] if keys.shape[0] else NULL
        tables[f].offsets = &offsets[0]
        tables[f].text = <const char *>&text[0] if text.shape[0] else no_text
        tables[f].n_keys = keys.shape[0]
    # A cell: up to 4 characters per allele and a separator, a tab, and its FORMAT values.
    cell_bound = 5 * width + 1 + n_fields * (1 + max(INT_FIELD_CHARS, longest_spelled))
    capacity = (prefix_offsets[n_variants] + n_variants * (n_samples * cell_bound + 1)) // 4
    capacity = max(capacity, 1 << 16)
    buffer = <char *>malloc(capacity)
    if buffer == NULL:
        raise MemoryError()
    try:
        with nogil:
            used = render(
                &alleles[0, 0, 0] if n_samples and width else NULL,
                &phased[0, 0] if n_samples else NULL,
                n_variants, n_samples, width,
                <const char *>&prefixes[0] if prefixes.shape[0] else no_text,
                &prefix_offsets[0], tables, n_fields, cell_bound, &buffer, &capacity,
            )
        if used < 0:
            raise MemoryError()
        return PyBytes_FromStringAndSize(buffer, used)
    finally:
        free(buffer)


cdef enum LineStatus:
    PLAIN = 0  # every call 0/0, 0/1, 1/1 or ./. at a biallelic site: the dosages say it all
    CALLS = 1  # parsed; phase, REF-second hets, half-missing or other sites need the calls
    RETRY = 2  # not single-digit diploid calls within the site's alleles: the caller decides


cdef inline int digit_allele(unsigned char c, int n_alt) noexcept nogil:
    """0..9 for a digit within the site's alleles, -1 for '.', -3 for anything else."""
    if c == c'.':
        return -1
    if c >= c'0' and c <= c'9' and c - c'0' <= n_alt:
        return c - c'0'
    return -3


def parse_diploid_gt(
    const unsigned char[::1] text,
    const int64_t[::1] starts,
    const int16_t[::1] n_alt,
    int8_t[:, :, ::1] alleles,
    uint8_t[:, ::1] phased,
    int8_t[:, ::1] dosages,
    uint8_t[::1] status,
) -> None:
    """Lines of GT-only calls ``a/b\\ta|b…`` (line ``i`` is ``text[starts[i]:starts[i+1]]``,
    exactly four bytes a call less the last tab) into alleles, phase, the dosage view and a
    :class:`LineStatus` per line."""
    cdef int64_t n_lines = starts.shape[0] - 1, n = alleles.shape[1], i, s
    cdef const unsigned char *cell
    cdef int a, b, site_alt, bad, plain
    cdef unsigned char sep
    with nogil:
        for i in range(n_lines):
            site_alt = n_alt[i]
            bad = starts[i + 1] - starts[i] != 4 * n - 1
            plain = site_alt == 1
            s = 0
            while s < n and not bad:
                cell = &text[starts[i] + 4 * s]
                a = digit_allele(cell[0], site_alt)
                b = digit_allele(cell[2], site_alt)
                sep = cell[1]
                if a == -3 or b == -3 or (sep != c'/' and sep != c'|'):
                    bad = 1
                    break
                if s + 1 < n and cell[3] != c'\t':
                    bad = 1
                    break
                alleles[i, s, 0] = a
                alleles[i, s, 1] = b
                phased[i, s] = sep == c'|'
                if a >= 0 and b >= 0 and site_alt == 1:
                    dosages[i, s] = a + b
                else:
                    dosages[i, s] = -1
                if sep == c'|' or a > b or (a < 0) != (b < 0):
                    plain = 0
                s += 1
            status[i] = RETRY if bad else (PLAIN if plain else CALLS)
