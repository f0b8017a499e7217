"""Genotype chunks from domain-api decoded straight into the arrays a kernel reads.

Chunks arrive as 2-bit codes (or raw int8) and are decoded in place — into the job's
preallocated matrix, or into the block buffers a streaming kernel consumes — so no
intermediate int8 copy of a chunk is ever made.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator

import numpy as np
from bijmantra.adapters.grpc import DosageChunk
from bijmantra.genomics.grm import DEFAULT_CHUNK
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


class MatrixFeed:
    """The whole ``(variants, samples)`` matrix, for kernels that need all of it at once."""

    def __init__(self, n_variants: int, n_samples: int) -> None:
        self.dosages = np.empty((n_variants, n_samples), dtype=np.int8)

    def put(self, chunk: DosageChunk) -> None:
        start = chunk.variant_start
        decode_into(chunk, 0, self.dosages[start : start + chunk.n_variants])

    def close(self, error: BaseException | None = None) -> None:
        """Nothing consumes the matrix before it is complete."""


class BlockFeed:
    """Blocks of ``block_variants`` variants handed to a kernel running in another thread.

    Kernels that take an iterable of chunks (GRM, QC) start on the first block, so reading
    the rest overlaps with computing. Blocks have the kernel's own block size, so the kernel
    sees exactly the blocks it would cut from a whole matrix (the GRM is bitwise the same);
    a block the kernel has finished is reused for a later one.
    """

    _END = object()

    def __init__(
        self, n_variants: int, n_samples: int, block_variants: int = DEFAULT_CHUNK
    ) -> None:
        self._n_samples = n_samples
        self._block_variants = max(1, min(block_variants, n_variants))
        self._ready: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._spare: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        self._buffer: np.ndarray | None = None
        self._filled = 0

    @property
    def dosages(self) -> BlockFeed:
        """What the kernel iterates over."""
        return self

    def put(self, chunk: DosageChunk) -> None:
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
        self._ready.put(self._END if error is None else error)

    def _take_spare(self) -> np.ndarray:
        try:
            return self._spare.get_nowait()
        except queue.Empty:
            return np.empty((self._block_variants, self._n_samples), dtype=np.int8)

    def _hand_over(self) -> None:
        self._ready.put((self._buffer, self._filled))
        self._buffer = None

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            item = self._ready.get()
            if isinstance(item, BaseException):
                raise RuntimeError("genotype stream interrupted") from item
            if item is self._END:
                return
            buffer, rows = item  # type: ignore[misc]
            yield buffer[:rows]
            self._spare.put(buffer)  # the kernel asks for the next block only when done
