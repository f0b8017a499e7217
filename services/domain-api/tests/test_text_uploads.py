"""HapMap and Flapjack uploads keep the VCF upload's bounds: a decompressed-size cap that a
gzip bomb hits, and errors that name file and line (a 422, before anything is stored)."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import numpy as np
import pytest
from bijmantra.domain_api import uploads
from bijmantra.domain_api.uploads import StreamedGenotypeFile
from bijmantra.kernel import ValidationFailed

HEADER = b"rs#\talleles\tchrom\tpos\tstrand\tassembly#\tcenter\tprotLSID\tassayLSID\tpanelLSID"
HEADER += b"\tQCcode\ts1\ts2\n"


async def pieces(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def everything(upload: StreamedGenotypeFile) -> tuple[list[str], np.ndarray]:
    names = await upload.sample_names()
    blocks = [b.dosages async for b in upload.blocks()]
    return names, np.concatenate(blocks)


async def test_a_hapmap_upload_reads_its_samples_and_calls() -> None:
    body = HEADER + b"m1\tA/G\t1\t5\t+\tNA\tNA\tNA\tNA\tNA\tNA\tAG\tGG\n"
    names, dosages = await everything(StreamedGenotypeFile("hapmap", pieces(gzip.compress(body))))
    assert names == ["s1", "s2"]
    assert dosages.tolist() == [[1, 2]]


async def test_a_hapmap_gzip_bomb_stops_at_the_decompressed_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(uploads, "MAX_DECOMPRESSED_BYTES", 1 << 20)
    line = b"m1\tA/G\t1\t5\t+\tNA\tNA\tNA\tNA\tNA\tNA\tAG\tGG\n"
    bomb = gzip.compress(HEADER + line * ((4 << 20) // len(line)))
    upload = StreamedGenotypeFile("hapmap", pieces(bomb, 1 << 16))
    with pytest.raises(ValidationFailed) as caught:
        await everything(upload)
    assert "exceeds 1048576 bytes" in str(caught.value)
    assert caught.value.details[0].location.startswith(".hmp.txt:line ")


async def test_flapjack_errors_name_the_map_or_the_genotype_line() -> None:
    genotype = b"# fjFile = GENOTYPE\n\tm1\tm2\nL1\tA\tC\nL2\tA\n"
    bad_rows = StreamedGenotypeFile("flapjack", pieces(genotype), genetic_map=b"m1\t1\t5\n")
    with pytest.raises(ValidationFailed) as caught:
        await everything(bad_rows)
    assert caught.value.details[0].location == ".genotype:line 4"
    bad_map = StreamedGenotypeFile("flapjack", pieces(genotype), genetic_map=b"m1\t1\n")
    with pytest.raises(ValidationFailed) as caught:
        await everything(bad_map)
    assert caught.value.details[0].location == ".map:line 1"


async def test_a_flapjack_upload_is_transposed_back_to_variants() -> None:
    genotype = b"\tm1\tm2\tm3\nL1\tA\tC/T\tG\nL2\tA/G\t-\tG\nL3\tG\tT\tG\n"
    genetic_map = b"m1\t1\t5\nm2\t1\t9\n"
    upload = StreamedGenotypeFile("flapjack", pieces(genotype, 5), genetic_map=genetic_map)
    names, dosages = await everything(upload)
    assert names == ["L1", "L2", "L3"]
    assert dosages.tolist() == [[0, 1, 2], [1, -1, 2]]
    assert upload.skipped == {"not_in_map": 1}
