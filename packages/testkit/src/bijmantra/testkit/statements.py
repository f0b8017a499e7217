"""An engine whose connections keep every statement they send, and where: tests count what
crossed the wire or have PostgreSQL explain a statement on the connection that ran it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from bijmantra.adapters.postgres import create_engine
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

Sent = tuple[str, Any, psycopg.AsyncConnection[Any]]  # statement, parameters, connection


@dataclass
class Recording:
    engine: AsyncEngine
    sent: list[Sent] = field(default_factory=list)


@asynccontextmanager
async def recording_engine(url: str, pool_size: int = 2) -> AsyncIterator[Recording]:
    """The domain-api's engine on ``url``, each cursor ``execute`` recorded in ``sent``."""
    engine = create_engine(url, pool_size=pool_size)
    recording = Recording(engine)

    class RecordingCursor(psycopg.AsyncCursor[Any]):
        async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            recording.sent.append((str(query), params, self.connection))
            return await super().execute(query, params, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _record(connection: Any, _record: Any) -> None:
        connection.driver_connection.cursor_factory = RecordingCursor

    try:
        yield recording
    finally:
        await engine.dispose()
