"""A variant set as a genotype file, streamed from the packed chunks (ADR 0199).

The header, then one piece of text per stored chunk, rendered in a thread while the event
loop keeps serving: memory is one chunk and its text whatever the set's size.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

from bijmantra.adapters.postgres.genotype_calls import read_calls
from bijmantra.application.genotyping import CallChunk
from bijmantra.genomics import calls as gc
from bijmantra.genomics import writers
from sqlalchemy.ext.asyncio import AsyncConnection

_ALL = 2**31 - 1  # past the last variant index any set can have


async def export_file(
    connection: AsyncConnection, variant_set_db_id: str, file_format: str, samples: Sequence[str]
) -> AsyncIterator[bytes]:
    header, lines = writers.FILE_WRITERS[file_format]
    yield header(samples).encode()
    async for chunk in read_calls(connection, variant_set_db_id, 0, _ALL, None):
        yield await asyncio.to_thread(_render, lines, chunk)


def _render(lines: Callable[..., bytes], chunk: CallChunk) -> bytes:
    assert isinstance(chunk.calls, gc.CallMatrix)
    sites = writers.Sites(chunk.chrom, chunk.pos, chunk.names, chunk.ref, chunk.alt)
    return lines(sites, chunk.calls)
