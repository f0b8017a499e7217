"""Type stub for the VCF text kernel. Callers pass C-contiguous arrays (see vcf_text.py)."""

import numpy as np
from numpy.typing import NDArray

def vcf_text(
    alleles: NDArray[np.int8],
    phased: NDArray[np.uint8],
    prefixes: bytes,
    prefix_offsets: NDArray[np.int64],
    fields: list[tuple[NDArray[np.float32], NDArray[np.uint32], NDArray[np.int64], bytes]],
    longest_spelled: int,
) -> bytes: ...
def parse_diploid_gt(
    text: bytes,
    starts: NDArray[np.int64],
    n_alt: NDArray[np.int16],
    alleles: NDArray[np.int8],
    phased: NDArray[np.uint8],
    dosages: NDArray[np.int8],
    status: NDArray[np.uint8],
) -> None: ...
