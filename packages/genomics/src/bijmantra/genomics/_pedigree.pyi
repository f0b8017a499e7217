"""Type stubs for the pedigree extension. Callers pass validated, C-contiguous arrays."""

import numpy as np
from numpy.typing import NDArray

def a_matrix_fill(
    sire: NDArray[np.int64], dam: NDArray[np.int64], A: NDArray[np.float64]
) -> None: ...
def inbreeding_ml(
    sire: NDArray[np.int64], dam: NDArray[np.int64], F: NDArray[np.float64]
) -> None: ...
