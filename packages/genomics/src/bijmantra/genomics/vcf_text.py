"""VCF lines for a block of calls, written by the C kernel (``_vcf.vcf_text``).

The kernel writes every byte of the calls; Python spells only what is per line (the fixed
columns) or per distinct value (a FORMAT value that is not a small integer), so a block of
2,000 samples x 4,096 variants costs a few milliseconds whatever its genotypes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from bijmantra.genomics._vcf import vcf_text
from bijmantra.genomics.calls import FIELDS, CallMatrix, number_text
from numpy.typing import NDArray

_EXACT_INTEGERS = float(1 << 24)  # float32 integers below this print as integers in C


def vcf_block(prefixes: Sequence[str], calls: CallMatrix) -> bytes:
    """Each variant's line: ``prefixes[v]`` (its fixed columns, FORMAT and a tab), then
    its calls: GT, then the FORMAT values ``calls`` holds, in ``FIELDS`` order."""
    encoded = [p.encode() for p in prefixes]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in encoded], out=offsets[1:])
    tables = [_spelled(calls.fields[k]) for k in FIELDS if k in calls.fields]
    longest = max((_longest(t[2]) for t in tables), default=0)
    return vcf_text(
        np.ascontiguousarray(calls.alleles, dtype=np.int8),
        np.ascontiguousarray(calls.phased, dtype=np.bool_).view(np.uint8),
        b"".join(encoded),
        offsets,
        tables,
        longest,
    )


def _spelled(
    values: NDArray[np.float32],
) -> tuple[NDArray[np.float32], NDArray[np.uint32], NDArray[np.int64], bytes]:
    """The values, and the text of each distinct one the kernel does not print itself
    (keyed by bit pattern, so -0 and 0 stay apart)."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    integer = (np.abs(values) < _EXACT_INTEGERS) & (values == np.floor(values))
    integer &= ~((values == 0) & np.signbit(values))
    bits = np.unique(values[~(integer | np.isnan(values))].view(np.uint32))
    texts = [number_text(float(b)) for b in bits.view(np.float32)]
    encoded = [t.encode() for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in encoded], out=offsets[1:])
    return values, bits, offsets, b"".join(encoded)


def _longest(offsets: NDArray[np.int64]) -> int:
    return int(np.diff(offsets).max()) if offsets.size > 1 else 0
