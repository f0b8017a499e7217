"""pytest fixtures that start real servers once per test session.

Set ``TEST_DATABASE_URL`` / ``TEST_NATS_URL`` / ``TEST_REDIS_URL`` to use existing servers;
``smtp_server`` is an in-process aiosmtpd that collects the mail it receives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import pytest
from bijmantra.testkit.device_nats import LocalDeviceNats
from bijmantra.testkit.mail import SmtpCatcher
from bijmantra.testkit.provision import ProvisionedDatabase, provision
from bijmantra.testkit.servers import (
    POSTGRES_TEMPLATE,
    LocalNats,
    LocalPostgres,
    LocalRedis,
    env_or,
)


class _Server(Protocol):
    def start(self) -> str: ...

    def stop(self) -> None: ...


def _existing_or_local(variable: str, local: Callable[[], _Server]) -> Iterator[str]:
    """The URL in ``variable`` when it is set; otherwise a local server for the session."""
    if url := env_or(variable):
        yield url
        return
    server = local()
    yield server.start()
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def postgres_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the session's migrated data directory is made, when a server first needs it;
    every ``LocalPostgres`` given it, and every ``DevStack`` (through the environment),
    copies it instead of running initdb and the migrations again."""
    template = tmp_path_factory.mktemp("pg-template")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(POSTGRES_TEMPLATE, str(template))
        yield template


@pytest.fixture(scope="session")
def postgres_owner_url(
    tmp_path_factory: pytest.TempPathFactory, postgres_template: Path
) -> Iterator[str]:
    yield from _existing_or_local(
        "TEST_DATABASE_URL",
        lambda: LocalPostgres(tmp_path_factory.mktemp("pg") / "data", template=postgres_template),
    )


@pytest.fixture(scope="session")
def database(postgres_owner_url: str) -> ProvisionedDatabase:
    return provision(postgres_owner_url)


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _existing_or_local(
        "TEST_NATS_URL", lambda: LocalNats(tmp_path_factory.mktemp("nats"))
    )


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNats]:
    """A NATS server of its own, for tests that stop and restart it."""
    server = LocalNats(tmp_path_factory.mktemp("nats-own"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def device_edge(tmp_path: Path) -> Iterator[LocalDeviceNats]:
    """A device edge of the test's own (its MQTT listener, auth callout and JetStream), as
    ``just up`` and the device-edge chart run it: streams and durables start empty."""
    server = LocalDeviceNats(tmp_path / "device-nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _existing_or_local(
        "TEST_REDIS_URL", lambda: LocalRedis(tmp_path_factory.mktemp("redis"))
    )


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpCatcher]:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it receives."""
    server = SmtpCatcher().start()
    yield server
    server.stop()
