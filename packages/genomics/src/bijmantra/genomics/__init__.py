"""bijmantra.genomics — genomics kernels for plant and animal breeding.

One implementation of the statistics breeders need, in Cython + NumPy, checked against
independent references and built to run near the hardware's limits.

Genotype convention: ``int8`` dosages of shape ``(n_variants, n_samples)`` holding 0, 1, 2
(copies of the alternate allele) and -1 for a missing call. Functions that say so also accept
an iterable of such arrays split along the variant axis, so data can stream through.
Every function raises ``ValueError`` naming the problem for invalid input.
"""

from bijmantra.genomics._kernels import max_threads, openmp_enabled, popcount_isa
from bijmantra.genomics.grm import PCAResult, grm, pca
from bijmantra.genomics.ld import ld_prune, ld_r2
from bijmantra.genomics.mixed import GBLUPResult, GWASResult, gblup, gwas, reml_gblup
from bijmantra.genomics.pedigree import a_inverse, a_matrix, inbreeding
from bijmantra.genomics.qc import QCStats, hwe_exact, qc_stats

__all__ = [
    "GBLUPResult",
    "GWASResult",
    "PCAResult",
    "QCStats",
    "a_inverse",
    "a_matrix",
    "gblup",
    "grm",
    "gwas",
    "hwe_exact",
    "inbreeding",
    "ld_prune",
    "ld_r2",
    "max_threads",
    "openmp_enabled",
    "pca",
    "popcount_isa",
    "qc_stats",
    "reml_gblup",
]
