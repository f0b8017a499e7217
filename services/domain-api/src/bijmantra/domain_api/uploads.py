"""A genotype file arriving over a gRPC client stream, parsed by ``bijmantra.genomics.formats``.

Implements the ``GenotypeUpload`` port. Bytes are coalesced into ~1 MiB pieces and parsed
in a worker thread, so a large upload neither starves the event loop nor pays a thread
hop per network packet. Format errors become ``ValidationFailed`` naming file and line.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from bijmantra.genomics.formats import (
    BedDecoder,
    VariantBlock,
    VcfParser,
    read_bim,
    read_fam,
)
from bijmantra.genomics.streams import FormatError
from bijmantra.genomics.text_readers import FlapjackReader, HapMapParser, read_flapjack_map
from bijmantra.kernel import FieldError, ValidationFailed

FEED_BYTES = 1 << 20
# A compressed VCF is fed in slices: DEFLATE inflates at most ~1,032x, so one parse step
# yields blocks from at most ~64 MiB of text, whatever the file (a gzip bomb included).
COMPRESSED_SLICE = 64 << 10
MAX_DECOMPRESSED_BYTES = 32 << 30  # a VCF's text; the gateway bounds the upload itself
_FILE = {"vcf": ".vcf", "plink": ".bed", "hapmap": ".hmp.txt", "flapjack": ".genotype"}


def invalid_file(error: FormatError, default_file: str) -> ValidationFailed:
    file = error.file or default_file
    where = f"{file}:line {error.line}" if error.line is not None else file
    return ValidationFailed(f"Malformed {file} file: {error}", [FieldError(where, error.reason)])


async def _coalesced(data: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    pending: list[bytes] = []
    size = 0
    async for piece in data:
        pending.append(piece)
        size += len(piece)
        if size >= FEED_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


async def _sliced(data: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Compressed input (gzip magic first) in ``COMPRESSED_SLICE`` pieces; text as it comes."""
    compressed: bool | None = None
    async for piece in data:
        if compressed is None:
            compressed = piece[:2] == b"\x1f\x8b"
        if not compressed:
            yield piece
            continue
        for start in range(0, len(piece), COMPRESSED_SLICE):
            yield piece[start : start + COMPRESSED_SLICE]


class StreamedGenotypeFile:
    def __init__(
        self,
        source_format: str,
        data: AsyncIterator[bytes],
        *,
        bim: bytes = b"",
        fam: bytes = b"",
        genetic_map: bytes = b"",
    ) -> None:
        self._format = source_format
        coalesced = _coalesced(data)
        self._data = _sliced(coalesced) if source_format != "plink" else coalesced
        self._bim, self._fam, self._map = bim, fam, genetic_map
        self._ready: list[VariantBlock] = []
        self._parser: VcfParser | HapMapParser | BedDecoder | None = None
        self._flapjack: FlapjackReader | None = None
        self._names: list[str] | None = None
        self._exhausted = False
        self.skipped: Counter[str] = Counter()

    @property
    def _file(self) -> str:
        return _FILE[self._format]

    async def _parse(self, step: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.to_thread(step, *args)
        except FormatError as error:
            raise invalid_file(error, self._file) from None

    async def sample_names(self) -> list[str]:
        if self._names is not None:
            return self._names
        if self._format == "plink":
            try:
                names, bim = read_fam(self._fam), read_bim(self._bim)
            except FormatError as error:
                raise invalid_file(error, ".bed") from None
            self.skipped.update(bim.skipped)
            self._parser = BedDecoder(bim, len(names))
        elif self._format == "flapjack":
            names = await self._read_flapjack()
        else:
            kind = HapMapParser if self._format == "hapmap" else VcfParser
            parser = kind(max_decompressed_bytes=MAX_DECOMPRESSED_BYTES)
            self._parser = parser
            while parser.samples is None:
                piece = await anext(self._data, None)
                if piece is None:
                    self._exhausted = True
                    self._ready.extend(await self._parse(parser.finish))
                    break
                self._ready.extend(await self._parse(parser.feed, piece))
            assert parser.samples is not None  # finish() raises otherwise
            names = parser.samples
        self._names = names
        return names

    async def _read_flapjack(self) -> list[str]:
        """The whole genotype file is read (rows are samples) into the reader's spool."""
        try:
            genetic_map = read_flapjack_map(self._map)
        except FormatError as error:
            raise invalid_file(error, ".map") from None
        reader = FlapjackReader(
            max_decompressed_bytes=MAX_DECOMPRESSED_BYTES, genetic_map=genetic_map
        )
        self._flapjack = reader
        async for piece in self._data:
            await self._parse(reader.feed, piece)
        names: list[str] = await self._parse(reader.finish)
        return names

    async def _flapjack_blocks(self, reader: FlapjackReader) -> AsyncIterator[VariantBlock]:
        try:
            blocks = reader.blocks()
            while block := await asyncio.to_thread(next, blocks, None):
                yield block
            self.skipped.update(reader.skipped)
        finally:
            reader.close()

    @property
    def contig_lengths(self) -> dict[str, int | None]:
        """A VCF's ``##contig`` lines (ID -> length); other formats declare none."""
        return dict(self._parser.contigs) if isinstance(self._parser, VcfParser) else {}

    async def blocks(self) -> AsyncIterator[VariantBlock]:
        await self.sample_names()
        if self._flapjack is not None:
            async for block in self._flapjack_blocks(self._flapjack):
                yield block
            return
        parser = self._parser
        assert parser is not None
        for block in self._ready:
            yield block
        self._ready.clear()
        if not self._exhausted:
            async for piece in self._data:
                for block in await self._parse(parser.feed, piece):
                    yield block
            for block in await self._parse(parser.finish):
                yield block
        if isinstance(parser, VcfParser | HapMapParser):
            self.skipped.update(parser.skipped)
