"""A bounded map of per-placement connection resources (engines, pools) that retires the
least recently used one when a new one would exceed the bound."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class RetiringCache(Generic[K, V]):
    """At most ``limit`` values. An evicted value is retired (``retire(value)``: close a pool,
    dispose of an engine) in the background, so the caller that needed room does not wait;
    ``close`` retires the rest and waits for those still retiring."""

    def __init__(self, limit: int, retire: Callable[[V], Coroutine[Any, Any, None]]) -> None:
        self._values: OrderedDict[K, V] = OrderedDict()
        self._limit, self._retire = limit, retire
        self._retiring: set[asyncio.Task[None]] = set()

    def get(self, key: K) -> V | None:
        """The value of ``key``, now the most recently used; None if there is none."""
        value = self._values.get(key)
        if value is not None:
            self._values.move_to_end(key)
        return value

    def add(self, key: K, value: V) -> None:
        self._values[key] = value
        while len(self._values) > self._limit:
            _, evicted = self._values.popitem(last=False)
            task = asyncio.get_running_loop().create_task(self._retire(evicted))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        values, self._values = list(self._values.values()), OrderedDict()
        for value in values:
            await self._retire(value)
        await asyncio.gather(*self._retiring, return_exceptions=True)
