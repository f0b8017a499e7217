"""pytest fixtures that start real servers once per test session.

Set ``TEST_DATABASE_URL`` / ``TEST_NATS_URL`` / ``TEST_REDIS_URL`` to use existing servers;
``smtp_server`` is an in-process aiosmtpd that collects the mail it receives.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bijmantra.testkit.mail import SmtpCatcher
from bijmantra.testkit.provision import ProvisionedDatabase, provision
from bijmantra.testkit.servers import LocalNats, LocalPostgres, LocalRedis, env_or


@pytest.fixture(scope="session")
def postgres_owner_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := env_or("TEST_DATABASE_URL"):
        yield url
        return
    server = LocalPostgres(tmp_path_factory.mktemp("pg") / "data")
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def database(postgres_owner_url: str) -> ProvisionedDatabase:
    return provision(postgres_owner_url)


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := env_or("TEST_NATS_URL"):
        yield url
        return
    server = LocalNats(tmp_path_factory.mktemp("nats"))
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNats]:
    """A NATS server of its own, for tests that stop and restart it."""
    server = LocalNats(tmp_path_factory.mktemp("nats-own"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := env_or("TEST_REDIS_URL"):
        yield url
        return
    server = LocalRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpCatcher]:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it receives."""
    server = SmtpCatcher().start()
    yield server
    server.stop()
