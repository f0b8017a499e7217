"""A variant set as a genotype file, streamed from the packed chunks (ADR 0199, 0270).

The header, then one piece of text per stored chunk, rendered in a thread while the event
loop keeps serving: memory is one chunk and its text whatever the set's size. PLINK and
Flapjack are zips written by ``genomics.bundles`` over as many passes as they need.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

from bijmantra.adapters.postgres.genotype_calls import read_calls
from bijmantra.application.genotyping import CallChunk
from bijmantra.genomics import bundles, writers
from bijmantra.genomics import calls as gc
from sqlalchemy.ext.asyncio import AsyncConnection

_ALL = 2**31 - 1  # past the last variant index any set can have


async def export_file(
    connection: AsyncConnection, variant_set_db_id: str, file_format: str, samples: Sequence[str]
) -> AsyncIterator[bytes]:
    if file_format in bundles.BUNDLES:

        def columns_of(columns: Sequence[int] | None) -> AsyncIterator[CallChunk]:
            return read_calls(connection, variant_set_db_id, 0, _ALL, columns)

        pieces = bundle_file(columns_of, variant_set_db_id, file_format, samples)
        async for piece in pieces:
            yield piece
        return
    header, lines = writers.FILE_WRITERS[file_format]
    yield header(samples).encode()
    async for chunk in read_calls(connection, variant_set_db_id, 0, _ALL, None):
        yield await asyncio.to_thread(_render, lines, chunk)


async def bundle_file(
    read: Callable[[Sequence[int] | None], AsyncIterator[CallChunk]],
    variant_set_db_id: str,
    file_format: str,
    samples: Sequence[str],
) -> AsyncIterator[bytes]:
    """A multi-file format's zip; ``read`` makes a pass over the set for some columns
    (the store's and its test fake's reads both fit)."""

    async def chunks(
        columns: Sequence[int] | None,
    ) -> AsyncIterator[tuple[writers.Sites, gc.CallMatrix]]:
        async for chunk in read(columns):
            assert isinstance(chunk.calls, gc.CallMatrix)
            yield _sites(chunk), chunk.calls

    bundle = bundles.BUNDLES[file_format]
    async for piece in bundle(variant_set_db_id, samples, chunks, asyncio.to_thread):
        yield piece


def _render(lines: Callable[..., bytes], chunk: CallChunk) -> bytes:
    assert isinstance(chunk.calls, gc.CallMatrix)
    return lines(_sites(chunk), chunk.calls)


def _sites(chunk: CallChunk) -> writers.Sites:
    return writers.Sites(chunk.chrom, chunk.pos, chunk.names, chunk.ref, chunk.alt)
