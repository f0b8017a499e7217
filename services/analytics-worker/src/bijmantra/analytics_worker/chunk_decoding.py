"""Genotype chunks from domain-api decoded straight into the arrays a kernel reads.

Chunks arrive as 2-bit codes (or raw int8) and are decoded in place — into the job's
preallocated matrix, or into the block buffers a streaming kernel consumes — so no
intermediate int8 copy of a chunk is ever made. A GRM goes one step further: each chunk is
centred into the kernel's float block as it arrives (``CentringFeed``).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator
from typing import Self

import numpy as np
from bijmantra.adapters.grpc import DosageChunk
from bijmantra.genomics.grm import DEFAULT_CHUNK, CentredBlock, GrmCentring
from bijmantra.genomics.packing import unpack_dosages
from bijmantra.kernel import BijmantraError


def decode_into(chunk: DosageChunk, first: int, out: np.ndarray) -> None:
    """Decode the chunk's variants ``first .. first + len(out)`` into ``out`` (int8, C order)."""
    rows = slice(first, first + out.shape[0])
    if chunk.codec == "2bit":
        codes = np.frombuffer(chunk.dosages, dtype=np.uint8).reshape(chunk.n_variants, -1)
        unpack_dosages(codes[rows], chunk.n_samples, out=out)
    elif chunk.codec == "raw":
        raw = np.frombuffer(chunk.dosages, dtype=np.int8)
        out[...] = raw.reshape(chunk.n_variants, chunk.n_samples)[rows]
    else:
        raise BijmantraError(f"unknown genotype chunk codec {chunk.codec!r}")


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # the reader may have been cancelled meanwhile
        future.set_result(None)


class Backlog:
    """How far the reader (on the event loop) may run ahead of the thread that consumes what
    it reads: ``room`` waits while ``limit`` items are outstanding.

    Without it a reader faster than the kernel queues the whole job in memory (a GRM's BLAS
    is far slower than the network): the codes of every chunk, or a block for every 16,384
    variants, where the estimate of ADR 0338 counts three blocks. Waiting on the event loop
    leaves the rest of the stream in gRPC's flow-control window, unsent by domain-api.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._outstanding = 0
        self._unbounded = False
        self._lock = threading.Lock()
        self._waiting: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None

    def add(self) -> None:
        with self._lock:
            self._outstanding += 1

    def done(self) -> None:
        """One item is finished with (called from any thread)."""
        with self._lock:
            self._outstanding -= 1
        self._wake_reader()

    def unbound(self) -> None:
        """The consumer has stopped: the reader must never wait for it again."""
        with self._lock:
            self._unbounded = True
        self._wake_reader()

    async def room(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._unbounded or self._outstanding < self._limit:
                    return
                future: asyncio.Future[None] = loop.create_future()
                self._waiting = (loop, future)
            await future

    def _wake_reader(self) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, None
        if waiting is not None:
            loop, future = waiting
            loop.call_soon_threadsafe(_wake, future)


class MatrixFeed:
    """The whole ``(variants, samples)`` matrix, for kernels that need all of it at once."""

    def __init__(self, n_variants: int, n_samples: int) -> None:
        self.dosages = np.empty((n_variants, n_samples), dtype=np.int8)

    async def room(self) -> None:
        """The matrix is allocated whole: reading never waits."""

    def put(self, chunk: DosageChunk) -> None:
        start = chunk.variant_start
        decode_into(chunk, 0, self.dosages[start : start + chunk.n_variants])

    def close(self, error: BaseException | None = None) -> None:
        """Nothing consumes the matrix before it is complete."""


class _ThreadedFeed:
    """What a feed consumed by a kernel on another thread shares: the kernel iterates over the
    feed itself (``dosages``), the reader awaits ``room`` in a backlog of two items before each
    chunk, and ``_kernel_gone`` tells the feed the kernel stopped iterating."""

    def __init__(self) -> None:
        self._backlog = Backlog(2)
        self._kernel_gone = False

    @property
    def dosages(self) -> Self:
        """What the kernel iterates over."""
        return self

    async def room(self) -> None:
        await self._backlog.room()


class BlockFeed(_ThreadedFeed):
    """Blocks of ``block_variants`` variants handed to a kernel running in another thread.

    Kernels that take an iterable of chunks (QC; a GRM takes ``CentringFeed``) start on the
    first block, so reading the rest overlaps with computing. Blocks have the kernel's own
    block size, so the kernel sees the blocks it would cut from a whole matrix; a block the
    kernel has finished is reused for a later one. A reader that awaits ``room`` before each
    chunk keeps three blocks alive: the kernel's, one waiting and one being filled.
    """

    def __init__(
        self, n_variants: int, n_samples: int, block_variants: int = DEFAULT_CHUNK
    ) -> None:
        super().__init__()  # its backlog: blocks handed over and not yet given back
        self._n_samples = n_samples
        self._block_variants = max(1, min(block_variants, n_variants))
        # A filled block, the end (``None``) or what stopped the stream.
        self._ready: queue.SimpleQueue[tuple[np.ndarray, int] | BaseException | None] = (
            queue.SimpleQueue()
        )
        self._spare: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        self._buffer: np.ndarray | None = None
        self._filled = 0

    def put(self, chunk: DosageChunk) -> None:
        if self._kernel_gone:
            return  # the kernel failed: what is still read is not decoded, nor kept
        done = 0
        while done < chunk.n_variants:
            if self._buffer is None:
                self._buffer = self._take_spare()
                self._filled = 0
            take = min(chunk.n_variants - done, self._block_variants - self._filled)
            decode_into(chunk, done, self._buffer[self._filled : self._filled + take])
            done += take
            self._filled += take
            if self._filled == self._block_variants:
                self._hand_over()

    def close(self, error: BaseException | None = None) -> None:
        if error is None and self._buffer is not None:
            self._hand_over()
        self._ready.put(error)

    def _take_spare(self) -> np.ndarray:
        try:
            return self._spare.get_nowait()
        except queue.Empty:
            return np.empty((self._block_variants, self._n_samples), dtype=np.int8)

    def _hand_over(self) -> None:
        assert self._buffer is not None
        self._backlog.add()
        self._ready.put((self._buffer, self._filled))
        self._buffer = None

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            while True:
                item = self._ready.get()
                if isinstance(item, BaseException):
                    raise RuntimeError("genotype stream interrupted") from item
                if item is None:
                    return
                buffer, rows = item
                yield buffer[:rows]
                self._spare.put(buffer)  # the kernel asks for the next block only when done
                self._backlog.done()
        finally:
            self._kernel_gone = True
            self._backlog.unbound()


class BlockBuffers:
    """The float block buffers of a GRM job, kept for the next job of the same shape.

    A fresh 16,384 x 2,000 float32 buffer (131 MB) costs ~20-40 ms of page faults and
    zeroing on first touch, paid again by every job, the first block's on the critical
    path; a worker runs job after job, so it keeps them. Only one shape is kept (a job of
    another shape starts a new pool and the old buffers are freed), and only while its
    ``in_flight`` buffers fit in ``max_bytes``.
    """

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._shape: tuple[int, int, str] | None = None
        self._spares: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()

    def spares(
        self, rows: int, n_samples: int, dtype: np.dtype, in_flight: int
    ) -> queue.SimpleQueue[np.ndarray]:
        """The pool for blocks of ``rows`` x ``n_samples`` (a private one if too large)."""
        if rows * n_samples * dtype.itemsize * in_flight > self._max_bytes:
            return queue.SimpleQueue()
        with self._lock:
            if self._shape != (rows, n_samples, dtype.str):
                self._shape = (rows, n_samples, dtype.str)
                self._spares = queue.SimpleQueue()
            return self._spares


class CentringFeed(_ThreadedFeed):
    """A GRM's centred blocks, built while the genotypes stream in (ADR 0070).

    ``put`` (the event loop) only queues a chunk; a thread of its own decodes it and centres
    it into the current block (``GrmCentring``, one OpenMP thread: it runs beside the BLAS
    call), so a block is complete, centred, the moment its last chunk lands and the kernel
    thread (iterating over the feed, ``grm_from_blocks``) spends its time in BLAS alone. At
    most ``in_flight`` blocks exist at once: the centring thread waits while the kernel has
    one and the next is ready; chunks arriving meanwhile wait as codes, two at the most for a
    reader that awaits ``room``. The blocks and their ``2p(1-p)`` sums are those ``grm`` cuts
    from the whole matrix: the GRM is bitwise equal.
    """

    def __init__(self, centring: GrmCentring, n_samples: int, in_flight: int = 2) -> None:
        super().__init__()  # its backlog: chunks put and not yet centred
        self.centring = centring
        self._n_samples = n_samples
        # Chunks or blocks, then the end (``None``) or what stopped the stream.
        self._chunks: queue.SimpleQueue[DosageChunk | BaseException | None] = queue.SimpleQueue()
        self._ready: queue.SimpleQueue[CentredBlock | BaseException | None] = queue.SimpleQueue()
        self._slots = threading.Semaphore(max(1, in_flight - 1))
        self._thread = threading.Thread(target=self._centre_all, name="grm-centring", daemon=True)
        self._thread.start()

    def put(self, chunk: DosageChunk) -> None:
        self._backlog.add()
        self._chunks.put(chunk)

    def close(self, error: BaseException | None = None) -> None:
        self._chunks.put(error)

    def _centre_all(self) -> None:
        scratch = np.empty((0, self._n_samples), dtype=np.int8)
        try:
            while (chunk := self._chunks.get()) is not None:
                if isinstance(chunk, BaseException):
                    self._ready.put(RuntimeError("genotype stream interrupted"))
                    return
                self._backlog.done()
                if self._kernel_gone:
                    continue  # nothing reads the blocks any more: none is made
                if chunk.n_samples != self._n_samples:
                    raise BijmantraError(
                        f"a chunk has {chunk.n_samples} samples, the job has {self._n_samples}"
                    )
                if scratch.shape[0] < chunk.n_variants:
                    scratch = np.empty((chunk.n_variants, self._n_samples), dtype=np.int8)
                rows = scratch[: chunk.n_variants]
                decode_into(chunk, 0, rows)
                name = f"chunk at variant {chunk.variant_start}"
                for block in self.centring.add(rows, name):
                    self._hand_over(block)
            for block in self.centring.finish():
                self._hand_over(block)
            self._ready.put(None)
        except Exception as error:  # bad data (ValueError, BijmantraError): the kernel raises it
            self._ready.put(error)
            self._backlog.unbound()  # let the reader finish; nothing more is centred
            while not (chunk is None or isinstance(chunk, BaseException)):
                chunk = self._chunks.get()

    def _hand_over(self, block: CentredBlock) -> None:
        self._ready.put(block)
        if not self._kernel_gone:
            self._slots.acquire()  # until the kernel has finished with an earlier block

    def __iter__(self) -> Iterator[CentredBlock]:
        try:
            while (item := self._ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
                self._slots.release()
        finally:  # the kernel stopped (done or failed): never leave the centring thread waiting
            self._kernel_gone = True
            self._slots.release()  # (release(n) notifies n times: a loop, not a counter)
