"""Multi-file exports, each streamed as one zip: PLINK 1 binary and Flapjack (ADR 0270).

PLINK is ``.bed`` (SNP-major, 2-bit packed), ``.bim`` and ``.fam``; Flapjack is a
``.map`` and a ``.genotype`` file whose rows are *samples*. The zip is written to a sink
that hands back what each write produced, so memory is one chunk and its bytes. The
``.bed`` and ``.bim`` each take a pass over the chunks (zip entries are sequential);
Flapjack's genotype file is transposed by passes over the chunks for blocks of samples,
each block at most ``BLOCK_BYTES`` of text, so no pass ever holds the whole matrix.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from typing import IO

import numpy as np
from bijmantra.genomics.calls import ABSENT, MISSING, CallMatrix, n_alt_of
from bijmantra.genomics.writers import Sites
from numpy.typing import NDArray

BED_MAGIC = b"\x6c\x1b\x01"  # SNP-major
BLOCK_BYTES = 64 << 20  # text of one Flapjack sample block
CELL_BYTES = 4  # a Flapjack cell's usual size with its tab ("A/G\t"), to size the blocks
# PLINK's code for each dosage + 1 (missing, 0, 1, 2 copies of A1 = ALT): 01, 11, 10, 00.
_BED_CODE = np.array([1, 3, 2, 0], dtype=np.uint8)
_SPACE = re.compile(r"\s")

Chunks = Callable[[Sequence[int] | None], AsyncIterator[tuple[Sites, CallMatrix]]]
"""A pass over the set's chunks in order, for the given call-set columns (None: all)."""
Offload = Callable[[Callable[[], bytes]], Awaitable[bytes]]
"""Runs a rendering step (e.g. in a thread) and returns its bytes."""


class _Sink:
    """A write-only file for ``zipfile`` (which then writes data descriptors, no seeks)."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._pieces.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def take(self) -> bytes:
        data, self._pieces = b"".join(self._pieces), []
        return data


class ZipStream:
    """A zip written entry by entry; every method returns the bytes it produced."""

    def __init__(self) -> None:
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(self._sink, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        self._entry: IO[bytes] | None = None

    def begin(self, name: str) -> bytes:
        ended = self.end()
        self._entry = self._zip.open(name, "w", force_zip64=True)
        return ended + self._sink.take()

    def write(self, data: bytes) -> bytes:
        assert self._entry is not None, "begin an entry first"
        self._entry.write(data)
        return self._sink.take()

    def end(self) -> bytes:
        if self._entry is not None:
            self._entry.close()
            self._entry = None
        return self._sink.take()

    def close(self) -> bytes:
        ended = self.end()
        self._zip.close()
        return ended + self._sink.take()


# ---- PLINK 1 binary -----------------------------------------------------------------------


def plink_kept(sites: Sites) -> NDArray[np.bool_]:
    """PLINK 1 holds at most one ALT allele: multi-allelic sites are left out."""
    return n_alt_of(sites.alt) <= 1


def bed_rows(sites: Sites, calls: CallMatrix) -> bytes:
    """The ``.bed`` records of a block: the dosage view (ALT copies of diploid calls,
    haploid as homozygous, anything else missing), four samples a byte, low bits first."""
    kept = plink_kept(sites)
    n_alt = np.maximum(n_alt_of(sites.alt), 1)[kept]  # a site without ALT: 0 copies
    dosages = calls.pick(np.flatnonzero(kept).tolist()).dosages(n_alt)
    n_variants, n_samples = dosages.shape
    codes = np.zeros((n_variants, -(-n_samples // 4) * 4), dtype=np.uint8)  # padding: 00
    codes[:, :n_samples] = _BED_CODE[dosages.astype(np.intp) + 1]
    quads = codes.reshape(n_variants, -1, 4)
    packed = quads[..., 0] | quads[..., 1] << 2 | quads[..., 2] << 4 | quads[..., 3] << 6
    return bytes(packed.astype(np.uint8).tobytes())


def bim_lines(sites: Sites) -> bytes:
    """``chrom id cM pos A1 A2``: A1 is ALT (``0`` when the site has none), A2 is REF."""
    kept = plink_kept(sites)
    out = [
        f"{sites.chrom[v]}\t{sites.names[v] or '.'}\t0\t{sites.pos[v]}\t"
        f"{sites.alt[v] or '0'}\t{sites.ref[v]}\n"
        for v in range(len(sites))
        if kept[v]
    ]
    return "".join(out).encode()


def fam_lines(samples: Sequence[str]) -> bytes:
    """``FID IID father mother sex phenotype``; whitespace in a name becomes ``_``."""
    return "".join(f"{n} {n} 0 0 0 -9\n" for n in (_SPACE.sub("_", s) for s in samples)).encode()


# ---- Flapjack -------------------------------------------------------------------------------


def marker_names(sites: Sites) -> list[str]:
    return [sites.names[v] or f"{sites.chrom[v]}_{sites.pos[v]}" for v in range(len(sites))]


def flapjack_map_lines(sites: Sites) -> bytes:
    """``marker chromosome position``, one line per variant."""
    names = marker_names(sites)
    return "".join(
        f"{names[v]}\t{sites.chrom[v]}\t{sites.pos[v]}\n" for v in range(len(sites))
    ).encode()


def flapjack_marker_cells(sites: Sites) -> bytes:
    """The block's part of the genotype file's header line (each name after a tab)."""
    return "".join(f"\t{name}" for name in marker_names(sites)).encode()


def _spell(alleles: Sequence[int], bases: Sequence[str]) -> bytes:
    kept = [a for a in alleles if a != ABSENT]
    if not kept or MISSING in kept:
        return b"-"
    if len(set(kept)) == 1 and len(kept) <= 2:  # a polyploid homozygote keeps its ploidy
        return bases[kept[0]].encode()
    return "/".join(bases[a] for a in kept).encode()


def flapjack_cells(sites: Sites, calls: CallMatrix) -> list[bytes]:
    """Per sample (column), its cells for the block's variants, each after a tab: bases
    (``A``, ``A/G``, an indel's whole allele), homozygotes collapsed, ``-`` for missing.
    Each distinct (variant, genotype) of the block is spelled once."""
    n_variants, n_samples, width = calls.alleles.shape
    if n_variants * n_samples == 0:
        return [b""] * n_samples
    keys = np.empty((n_variants, n_samples, width + 1), dtype=np.int32)
    keys[..., 0] = np.arange(n_variants, dtype=np.int32)[:, None]
    keys[..., 1:] = calls.alleles
    void = np.ascontiguousarray(keys).view(np.dtype((np.void, 4 * (width + 1)))).ravel()
    distinct, inverse = np.unique(void, return_inverse=True)
    alleles = [
        [sites.ref[v], *(sites.alt[v].split(",") if sites.alt[v] else [])]
        for v in range(n_variants)
    ]
    spelled = np.empty(len(distinct), dtype=object)
    for i, key in enumerate(distinct):
        row = np.frombuffer(key.tobytes(), dtype=np.int32)
        spelled[i] = _spell(row[1:].tolist(), alleles[int(row[0])])
    cells = spelled[inverse.reshape(n_variants, n_samples)]
    return [b"\t" + b"\t".join(cells[:, s].tolist()) for s in range(n_samples)]


def flapjack_rows(names: Sequence[str], pieces: Sequence[Sequence[bytes]]) -> bytes:
    """The block's sample rows: each name, then its cells piece by piece."""
    return b"".join(
        name.encode() + b"".join(parts) + b"\n" for name, parts in zip(names, pieces, strict=True)
    )


def sample_block(n_variants: int, n_samples: int, budget: int = BLOCK_BYTES) -> int:
    """Samples per transposing pass: as many as fit ``budget`` bytes of text."""
    return max(1, min(n_samples, budget // max(CELL_BYTES * n_variants, 1)))


# ---- the streams -----------------------------------------------------------------------------


async def _direct(step: Callable[[], bytes]) -> bytes:
    return step()


async def plink_zip(
    stem: str, samples: Sequence[str], chunks: Chunks, offload: Offload = _direct
) -> AsyncIterator[bytes]:
    archive = ZipStream()
    yield archive.begin(f"{stem}.bed") + archive.write(BED_MAGIC)
    async for sites, calls in chunks(None):
        yield await offload(partial(_then_write, archive, bed_rows, sites, calls))
    yield archive.begin(f"{stem}.bim")
    async for sites, _ in chunks(()):
        yield archive.write(bim_lines(sites))
    yield archive.begin(f"{stem}.fam") + archive.write(fam_lines(samples))
    yield archive.close()


def _then_write(archive: ZipStream, render: Callable[..., bytes], *args: object) -> bytes:
    return archive.write(render(*args))


async def flapjack_zip(
    stem: str,
    samples: Sequence[str],
    chunks: Chunks,
    offload: Offload = _direct,
    budget: int = BLOCK_BYTES,
) -> AsyncIterator[bytes]:
    archive = ZipStream()
    yield archive.begin(f"{stem}.map") + archive.write(b"# fjFile = MAP\n")
    n_variants = 0
    async for sites, _ in chunks(()):
        n_variants += len(sites)
        yield archive.write(flapjack_map_lines(sites))
    yield archive.begin(f"{stem}.genotype") + archive.write(b"# fjFile = GENOTYPE\n")
    async for sites, _ in chunks(()):
        yield archive.write(flapjack_marker_cells(sites))
    yield archive.write(b"\n")
    step = sample_block(n_variants, len(samples), budget)
    for first in range(0, len(samples), step):
        columns = list(range(first, min(first + step, len(samples))))
        pieces: list[list[bytes]] = [[] for _ in columns]
        async for sites, calls in chunks(columns):
            await offload(partial(_cells_into, pieces, sites, calls))
        names = [samples[c] for c in columns]
        yield await offload(partial(_then_write, archive, flapjack_rows, names, pieces))
    yield archive.close()


def _cells_into(pieces: list[list[bytes]], sites: Sites, calls: CallMatrix) -> bytes:
    for row, cells in zip(pieces, flapjack_cells(sites, calls), strict=True):
        row.append(cells)
    return b""


BUNDLES: dict[str, Callable[[str, Sequence[str], Chunks, Offload], AsyncIterator[bytes]]] = {
    "plink": plink_zip,
    "flapjack": flapjack_zip,
}
