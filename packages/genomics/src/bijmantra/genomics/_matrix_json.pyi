"""Type stub for the allele-matrix code kernels (see calls.genotype_codes)."""

import numpy as np
from numpy.typing import NDArray

def count_call_keys(alleles: NDArray[np.int8], phased: NDArray[np.uint8]) -> NDArray[np.uint32]: ...
def call_codes(
    alleles: NDArray[np.int8], phased: NDArray[np.uint8], code_of_key: NDArray[np.uint8]
) -> bytes: ...
def expand_codes(
    head: bytes, codes: bytes, rows: int, columns: int, tokens: list[bytes], tail: bytes
) -> bytes: ...
