"""The domain-api role's engine, shared by this directory's modules (each gets its own), and
a server of a module's own for the tests that restart it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from bijmantra.adapters.postgres import create_engine
from bijmantra.testkit.provision import ProvisionedDatabase, provision
from bijmantra.testkit.servers import LocalPostgres
from bijmantra.testkit.statements import Recording, recording_engine
from sqlalchemy.ext.asyncio import AsyncEngine


@pytest.fixture(scope="module")
async def engine(database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database.domain_url, pool_size=8)
    yield engine
    await engine.dispose()


@pytest.fixture
async def recorded(database: ProvisionedDatabase) -> AsyncIterator[Recording]:
    """The domain-api role's engine keeping every statement its connections send."""
    async with recording_engine(database.domain_url) as recording:
        yield recording


@pytest.fixture(scope="module")
def restartable_server(
    tmp_path_factory: pytest.TempPathFactory, postgres_template: Path
) -> Iterator[tuple[LocalPostgres, str]]:
    """A server of the module's own and its owner's URL: the session's is shared, and a test
    that restarts a server must not end every other module's connections."""
    server = LocalPostgres(tmp_path_factory.mktemp("restart") / "data", template=postgres_template)
    owner_url = server.start()
    yield server, owner_url
    server.stop()


@pytest.fixture(scope="module")
def restartable_database(restartable_server: tuple[LocalPostgres, str]) -> ProvisionedDatabase:
    return provision(restartable_server[1])
