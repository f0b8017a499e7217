"""Sessions kept by key in memory: what the browser-session and console-session fakes share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K")
S = TypeVar("S")


@dataclass
class FakeSessionMap(Generic[K, S]):
    """Save, get and delete by key; nothing expires."""

    sessions: dict[K, S] = field(default_factory=dict)

    async def save(self, key: K, session: S) -> None:
        self.sessions[key] = session

    async def get(self, key: K) -> S | None:
        return self.sessions.get(key)

    async def delete(self, key: K) -> None:
        self.sessions.pop(key, None)
