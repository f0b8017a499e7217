"""Chunks decoded in place (or centred as they arrive): the kernel sees the same blocks as
on a whole matrix, so its results are bitwise those of the kernel on the whole matrix."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from bijmantra.adapters.grpc import DosageChunk
from bijmantra.analytics_worker.analyses import feed_for
from bijmantra.analytics_worker.chunk_decoding import (
    BlockBuffers,
    BlockFeed,
    CentringFeed,
    MatrixFeed,
)
from bijmantra.genomics import grm, qc_stats
from bijmantra.genomics.grm import CentredBlock, GrmCentring, grm_from_blocks
from bijmantra.genomics.packing import pack_dosages
from bijmantra.kernel import BijmantraError
from hypothesis import given, settings
from hypothesis import strategies as st


def chunks_of(g: np.ndarray, sizes: list[int], codec: str) -> list[DosageChunk]:
    out, start = [], 0
    for size in sizes:
        block = g[start : start + size]
        data = pack_dosages(block).tobytes() if codec == "2bit" else block.tobytes()
        out.append(DosageChunk(start, len(block), g.shape[1], codec, data, [], [], []))
        start += size
    return out


def split(n: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    sizes = []
    while n > 0:
        sizes.append(min(n, int(rng.integers(1, 9))))
        n -= sizes[-1]
    return sizes


def dosages(n_variants: int, n_samples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-1, 3, size=(n_variants, n_samples)).astype(np.int8)


def feed_in_thread(
    feed: BlockFeed | CentringFeed, chunks: list[DosageChunk], kernel: object
) -> object:
    """The worker's shape: the kernel consumes in a thread while chunks are put."""
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["out"] = kernel(feed.dosages)
        except Exception as error:
            result["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    for chunk in chunks:
        feed.put(chunk)
    feed.close()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["out"]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(2, 11), st.integers(1, 16), st.sampled_from(["2bit", "raw"]))
def test_grm_through_the_block_feed_equals_the_kernel_on_the_whole_matrix(
    n_variants: int, n_samples: int, block: int, codec: str
) -> None:
    g = dosages(n_variants, n_samples, n_variants * 100 + n_samples)
    g[0, :2] = [0, 2]  # at least one polymorphic variant
    feed = BlockFeed(n_variants, n_samples, block_variants=block)
    got = feed_in_thread(
        feed, chunks_of(g, split(n_variants, block), codec), lambda b: grm(b, chunk_variants=block)
    )
    np.testing.assert_array_equal(got, grm(g, chunk_variants=block))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 60),
    st.integers(2, 11),
    st.integers(1, 16),
    st.sampled_from(["2bit", "raw"]),
    st.sampled_from(["vanraden1", "vanraden2"]),
)
def test_grm_centred_as_chunks_arrive_equals_the_kernel_on_the_whole_matrix(
    n_variants: int, n_samples: int, block: int, codec: str, method: str
) -> None:
    g = dosages(n_variants, n_samples, n_variants * 100 + n_samples)
    g[0, :2] = [0, 2]  # at least one polymorphic variant
    centring = GrmCentring(method=method, block_variants=block, n_variants=n_variants, threads=1)
    feed = CentringFeed(centring, n_samples)
    got = feed_in_thread(
        feed,
        chunks_of(g, split(n_variants, block), codec),
        lambda blocks: grm_from_blocks(blocks, method=method),
    )
    np.testing.assert_array_equal(got, grm(g, method=method, chunk_variants=block))


def test_the_centring_thread_holds_at_most_two_blocks_however_far_the_reader_is_ahead() -> None:
    g = dosages(40, 5, 2)
    feed = CentringFeed(GrmCentring(block_variants=4, n_variants=40), 5)
    for chunk in chunks_of(g, split(40, 9), "2bit"):  # all of it queued before the kernel starts
        feed.put(chunk)
    feed.close()
    for _ in range(10_000):  # until the centring thread has handed over what it may (or more)
        if feed._ready.qsize() >= 2:
            break
        time.sleep(0.001)
    buffers = set()
    for block in feed:
        buffers.add(id(block._buffer))
        block.release()
    assert len(buffers) == 2


def test_a_kernel_that_stops_early_leaves_no_centring_thread_waiting() -> None:
    g = dosages(40, 5, 4)
    feed = CentringFeed(GrmCentring(block_variants=4, n_variants=40), 5)
    for chunk in chunks_of(g, split(40, 5), "raw"):
        feed.put(chunk)
    feed.close()
    for block in feed:  # the kernel fails on its first block
        block.release()
        break
    feed._thread.join(timeout=60)
    assert not feed._thread.is_alive()


KEEP_ALIVE: list[np.ndarray] = []


def grm_job(g: np.ndarray, buffers: BlockBuffers) -> tuple[np.ndarray, set[int]]:
    """A GRM job's feed and kernel as the worker runs them; the block buffers it used (their
    ids: the buffers are kept alive in ``KEEP_ALIVE``, so no id is reused by a later one)."""
    feed = feed_for("grm", g.shape[0], g.shape[1], {}, buffers)
    assert isinstance(feed, CentringFeed)
    used: set[int] = set()

    def kernel(blocks: CentringFeed) -> np.ndarray:
        def noted() -> Iterator[CentredBlock]:
            for block in blocks:
                used.add(id(block._buffer))
                KEEP_ALIVE.append(block._buffer)
                yield block

        return grm_from_blocks(noted())

    k = feed_in_thread(feed, chunks_of(g, split(g.shape[0], 7), "2bit"), kernel)
    return k, used


def test_a_later_job_of_the_same_shape_reuses_the_block_buffers_and_is_still_exact() -> None:
    buffers = BlockBuffers(1 << 30)
    first, second, other = dosages(30, 6, 1), dosages(30, 6, 2), dosages(30, 7, 3)
    _, used_first = grm_job(first, buffers)
    k, used_second = grm_job(second, buffers)  # centred over the first job's values
    assert used_second == used_first
    np.testing.assert_array_equal(k, grm(second))
    k, used_other = grm_job(other, buffers)
    assert not used_other & used_first
    np.testing.assert_array_equal(k, grm(other))


def test_buffers_larger_than_the_budget_are_not_kept() -> None:
    buffers = BlockBuffers(30 * 6 * 4)  # one 30 x 6 float32 buffer: two do not fit
    g = dosages(30, 6, 1)
    _, used_first = grm_job(g, buffers)
    _, used_second = grm_job(g, buffers)
    assert not used_first & used_second


def test_bad_dosages_in_a_centred_chunk_fail_the_kernel_with_the_chunk_named() -> None:
    g = dosages(12, 4, 3)
    chunks = chunks_of(g, [5, 7], "raw")
    bad = bytearray(chunks[1].dosages)
    bad[3] = 7
    chunks[1] = DosageChunk(5, 7, 4, "raw", bytes(bad), [], [], [])
    feed = CentringFeed(GrmCentring(block_variants=4, n_variants=12), 4)
    with pytest.raises(ValueError, match="chunk at variant 5"):
        feed_in_thread(feed, chunks, lambda blocks: grm_from_blocks(blocks))


def test_an_interrupted_stream_stops_the_centred_kernel() -> None:
    feed = CentringFeed(GrmCentring(block_variants=2, n_variants=10), 4)
    feed.put(chunks_of(dosages(3, 4, 1), [3], "2bit")[0])
    feed.close(ConnectionError("domain-api went away"))
    with pytest.raises(RuntimeError, match="interrupted"):
        grm_from_blocks(feed)


def test_qc_through_the_block_feed_equals_the_kernel() -> None:
    g = dosages(97, 13, 5)
    feed = BlockFeed(97, 13, block_variants=10)
    got = feed_in_thread(feed, chunks_of(g, split(97, 3), "2bit"), qc_stats)
    np.testing.assert_array_equal(got.maf, qc_stats(g).maf)
    np.testing.assert_array_equal(got.sample_call_rate, qc_stats(g).sample_call_rate)


def test_matrix_feed_places_chunks_by_their_start() -> None:
    g = dosages(23, 6, 8)
    feed = MatrixFeed(23, 6)
    for chunk in reversed(chunks_of(g, split(23, 4), "2bit")):
        feed.put(chunk)
    np.testing.assert_array_equal(feed.dosages, g)


def test_an_interrupted_stream_stops_the_kernel() -> None:
    feed = BlockFeed(10, 4, block_variants=4)
    feed.put(chunks_of(dosages(3, 4, 1), [3], "2bit")[0])
    feed.close(ConnectionError("domain-api went away"))
    with pytest.raises(RuntimeError, match="interrupted"):
        grm(feed.dosages)


def test_an_unknown_codec_is_refused() -> None:
    chunk = DosageChunk(0, 1, 4, "zstd", b"\x00", [], [], [])
    with pytest.raises(BijmantraError, match="zstd"):
        MatrixFeed(1, 4).put(chunk)


def slowly(blocks: Iterator[Any], seen: list[Any]) -> Iterator[Any]:
    """A kernel far slower than the network: what it is handed, noted, a moment apart."""
    for block in blocks:
        seen.append(block)
        time.sleep(0.003)
        yield block


async def read_ahead(
    feed: BlockFeed | CentringFeed, chunks: Iterator[DosageChunk], kernel: Any, after_put: Any
) -> Any:
    """The worker's reader (``jobs._read``): each chunk put once the feed has room, while the
    kernel runs in a thread. (The timeout only turns a deadlock into a failure.)"""
    computing = asyncio.ensure_future(asyncio.to_thread(kernel, feed.dosages))
    try:
        for chunk in chunks:
            await asyncio.wait_for(feed.room(), 60)
            feed.put(chunk)
            after_put()
    finally:
        feed.close()
    return await computing


async def test_a_reader_far_ahead_of_qc_keeps_three_blocks_alive() -> None:
    g = dosages(400, 6, 9)
    feed = BlockFeed(400, 6, block_variants=10)
    seen: list[np.ndarray] = []
    got = await read_ahead(
        feed,
        iter(chunks_of(g, [10] * 40, "2bit")),  # made as read, like the network's
        lambda blocks: qc_stats(slowly(blocks, seen)),
        lambda: None,
    )
    np.testing.assert_array_equal(got.maf, qc_stats(g).maf)
    assert len(seen) == 40
    assert len({id(block.base) for block in seen}) <= 3


async def test_a_reader_far_ahead_of_a_grm_queues_at_most_two_chunks() -> None:
    g = dosages(400, 6, 10)
    feed = CentringFeed(GrmCentring(block_variants=10, n_variants=400), 6)
    queued: list[int] = []
    seen: list[CentredBlock] = []
    got = await read_ahead(
        feed,
        iter(chunks_of(g, [10] * 40, "2bit")),
        lambda blocks: grm_from_blocks(slowly(blocks, seen)),
        lambda: queued.append(feed._chunks.qsize()),
    )
    np.testing.assert_array_equal(got, grm(g, chunk_variants=10))
    assert len(seen) == 40
    assert max(queued) <= 2


async def test_a_kernel_that_fails_early_never_leaves_the_reader_waiting() -> None:
    g = dosages(400, 6, 11)

    def fails_on_the_first_block(blocks: Iterator[np.ndarray]) -> None:
        next(iter(blocks))
        raise ValueError("bad block")

    feed = BlockFeed(400, 6, block_variants=10)
    with pytest.raises(ValueError, match="bad block"):
        await read_ahead(
            feed, iter(chunks_of(g, [10] * 40, "2bit")), fails_on_the_first_block, lambda: None
        )
    bad = chunks_of(g, [10] * 40, "raw")
    bad[1] = DosageChunk(10, 10, 6, "raw", b"\x07" * 60, [], [], [])
    centring = CentringFeed(GrmCentring(block_variants=10, n_variants=400), 6)
    with pytest.raises(ValueError, match="chunk at variant 10"):
        await read_ahead(centring, iter(bad), grm_from_blocks, lambda: None)
