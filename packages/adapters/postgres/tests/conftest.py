"""The domain-api role's engine, shared by this directory's modules (each gets its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from bijmantra.adapters.postgres import create_engine
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy.ext.asyncio import AsyncEngine


@pytest.fixture(scope="module")
async def engine(database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database.domain_url, pool_size=8)
    yield engine
    await engine.dispose()
