"""read_ahead: same items in the same order, errors in place, sources closed when abandoned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from bijmantra.domain_api.read_ahead import read_ahead


class Source:
    def __init__(self, n: int, fail_after: int | None = None) -> None:
        self.n, self.fail_after = n, fail_after
        self.produced = 0
        self.closed = False

    async def items(self) -> AsyncIterator[int]:
        try:
            for i in range(self.n):
                if i == self.fail_after:
                    raise ValueError(f"broken at {i}")
                self.produced += 1
                yield i
                await asyncio.sleep(0)
        finally:
            self.closed = True


async def test_items_arrive_in_order_and_the_source_is_read_ahead_while_one_is_held() -> None:
    source = Source(10)
    stream = read_ahead(source.items(), depth=2)
    assert await anext(stream) == 0
    await asyncio.sleep(0.01)  # the consumer is busy "sending" item 0
    assert source.produced >= 3, "item 0 held, two queued, the producer waiting on the third"
    assert [0, *[i async for i in stream]] == list(range(10))
    assert source.closed


async def test_an_error_surfaces_after_the_items_produced_before_it() -> None:
    got: list[int] = []

    async def consume() -> None:
        async for item in read_ahead(Source(10, fail_after=4).items()):
            got.append(item)

    with pytest.raises(ValueError, match="broken at 4"):
        await consume()
    assert got == [0, 1, 2, 3]


async def test_a_consumer_that_stops_early_closes_the_source() -> None:
    source = Source(1000)
    stream = read_ahead(source.items())
    async for item in stream:
        if item == 2:
            break
    await stream.aclose()
    assert source.closed
    assert source.produced < 10
