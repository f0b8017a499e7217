"""Build the Cython kernels with -O3 and OpenMP when the compiler supports it.

The OpenMP probe compiles a tiny program; when it fails (for example clang on macOS without
libomp) the kernels are built serially — ``prange`` then degrades to a plain loop.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1;
}
"""


def _openmp_flags() -> list[str]:
    """Return ``["-fopenmp"]`` if the C compiler builds and links an OpenMP program."""
    if os.environ.get("BIJMANTRA_NO_OPENMP"):
        return []
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    cc_argv = cc.split()
    if shutil.which(cc_argv[0]) is None:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as fh:
            fh.write(_PROBE)
        try:
            res = subprocess.run(
                [*cc_argv, "-fopenmp", src, "-o", os.path.join(tmp, "probe")],
                capture_output=True,
                check=False,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError):
            return []
    if res.returncode != 0:
        print("bijmantra-genomics: OpenMP not available, building serial kernels", file=sys.stderr)
        return []
    return ["-fopenmp"]


omp = _openmp_flags()


def _kernel_module(name: str) -> Extension:
    """An OpenMP kernel module; ``_bj_kernels.pxd`` declares the C code they share."""
    return Extension(
        f"bijmantra.genomics.{name}",
        sources=[f"src/bijmantra/genomics/{name}.pyx"],
        include_dirs=[np.get_include(), "src/bijmantra/genomics"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        extra_compile_args=["-O3", *omp],
        extra_link_args=omp,
    )


# VCF text is one pass of byte writes: no OpenMP, the export streams chunk by chunk.
vcf = Extension(
    "bijmantra.genomics._vcf",
    sources=["src/bijmantra/genomics/_vcf.pyx"],
    extra_compile_args=["-O3"],
)

# The allele matrix as a byte per call, and that written out as JSON (ADR 0295).
matrix_json = Extension(
    "bijmantra.genomics._matrix_json",
    sources=["src/bijmantra/genomics/_matrix_json.pyx"],
    extra_compile_args=["-O3"],
)

setup(
    ext_modules=cythonize(
        [_kernel_module("_kernels"), _kernel_module("_pedigree"), vcf, matrix_json],
        include_path=["src"],  # resolves ``cimport bijmantra.genomics._bj_kernels``
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "nonecheck": False,
        },
    ),
)
