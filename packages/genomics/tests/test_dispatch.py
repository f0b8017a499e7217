"""Every SIMD code path (chosen at import by CPU features) gives the reference results."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import sys
import numpy as np
sys.path.insert(0, {tests!r})
from genomics_refs import ref_ld_r2, ref_qc
import bijmantra.genomics as bg
rng = np.random.default_rng(4)
g = rng.integers(-1, 3, (40, 333), dtype=np.int8)
g[5] = 2
q = bg.qc_stats(g)
r = ref_qc(g)
np.testing.assert_array_equal(q.n_called, r["n_called"])
np.testing.assert_allclose(q.alt_freq, r["alt_freq"], rtol=1e-12)
np.testing.assert_allclose(q.het_obs, r["het_obs"], rtol=1e-12)
np.testing.assert_allclose(q.sample_het_obs, r["sample_het_obs"], rtol=1e-12)
np.testing.assert_allclose(bg.ld_r2(g, window=3), ref_ld_r2(g, 3), rtol=1e-12, atol=1e-14,
                           equal_nan=True)
print(bg.popcount_isa(), bg._kernels.simd_isa())
"""


@pytest.mark.parametrize("isa", ["generic", "popcnt", "native"])
def test_code_path(isa):
    env = dict(os.environ)
    env.pop("BIJMANTRA_GENOMICS_ISA", None)
    if isa != "native":
        env["BIJMANTRA_GENOMICS_ISA"] = isa
    code = SCRIPT.format(tests=os.path.dirname(__file__))
    res = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    if isa == "generic":
        assert res.stdout.split() == ["generic", "generic"]
