"""The whole topology on one machine: real servers from PyPI packages + the four services.

``bijmantra up`` and the end-to-end tests both use ``DevStack``, so what the tests drive is
what a developer runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import grpc
import httpx
import psycopg
from argon2 import PasswordHasher
from bijmantra.adapters.grpc.tls import InternalTls, http_verify, open_channel
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.identity import register_member
from bijmantra.adapters.postgres.placement_admin import place_organization, provision_database
from bijmantra.adapters.postgres.recovery import BackupLocation
from bijmantra.devstack.ports import LOCAL_QUOTAS, SERVICE_PORTS, Ports, ServiceStartError, listens
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.testkit.certificates import CertificateFiles, LocalCertificateAuthority
from bijmantra.testkit.device_nats import LocalDeviceNats
from bijmantra.testkit.provision import ProvisionedDatabase, provision
from bijmantra.testkit.servers import (
    POSTGRES_TEMPLATE,
    LocalMailCatcher,
    LocalNats,
    LocalPostgres,
    LocalRedis,
    env_or,
    free_port,
    terminate,
)

DEMO_ORGANIZATION_ID = "0193a000-0000-7000-8000-00000000d001"
DEMO_EMAIL = "demo@bijmantra.org"
DEMO_PASSWORD = "demo-breeder-2026"  # noqa: S105 (the documented local demo login)
Server = TypeVar("Server", LocalNats, LocalRedis)
# The second demo organization, on a database of its own (``bijmantra up --dedicated-org``).
DEDICATED_DEMO_ORGANIZATION_ID = "0193a000-0000-7000-8000-00000000d002"
DEDICATED_DEMO_EMAIL = "dedicated@bijmantra.org"
DEDICATED_DEMO_DATABASE = PlacementDatabase("bijmantra_demo_dedicated")


async def _register_member(identity_url: str, **member: Any) -> None:
    engine = create_engine(identity_url, pool_size=1)
    try:
        await register_member(engine, **member)
    finally:
        await engine.dispose()


WORKER_CLIENT_ID = "analytics-worker"
# The certificate the dev stack's own calls (login, tests' direct gRPC) present (ADR 0176).
DEVSTACK_CLIENT = "devstack"


@dataclass
class DevStack:
    workdir: Path
    ports: Ports = field(default_factory=Ports)
    log_dir: Path | None = None
    # Extra environment for the four services (e.g. BIJMANTRA_TRACE_FILE, OTEL_*).
    env: dict[str, str] = field(default_factory=dict)
    services: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    database: ProvisionedDatabase | None = None
    nats_url: str = ""
    redis_url: str = ""
    # Fresh per stack: analytics-worker's client secret at identity (registered by seed), and
    # the one secret every gateway replica seals live-feed resume tokens with (ADR 0384).
    worker_client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    resume_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    # Outgoing mail goes to the local catcher unless SMTP_HOST names a real server.
    smtp_host: str = ""
    smtp_port: int = 0
    maildir: Path | None = None
    # With a backup folder, the local PostgreSQL archives its WAL there (``bijmantra backup``).
    backup_dir: Path | None = None
    # Seed a second organization whose data lives in its own database (ADR 0102).
    dedicated_org: bool = False
    # Mutual TLS between the services, CA under ``workdir/tls`` (ADR 0176); INTERNAL_TLS=off: none.
    tls: bool = field(default_factory=lambda: os.environ.get("INTERNAL_TLS", "") != "off")
    # The device edge: a second NATS server, MQTT for devices, domain-api's auth callout (0207).
    device_edge: bool = False
    devices: LocalDeviceNats | None = None
    _servers: list[LocalPostgres | LocalNats | LocalRedis | LocalMailCatcher | LocalDeviceNats] = (
        field(default_factory=list)
    )

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway}"

    @property
    def console_callback(self) -> str:
        """Where identity sends the web console's authorization codes (ADR 0060)."""
        return f"{self.gateway_url}/app/auth/callback"

    @property
    def identity_url(self) -> str:
        """identity's own HTTP listener: HTTPS demanding a client certificate under TLS."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.ports.identity}"

    @property
    def certificate_authority(self) -> LocalCertificateAuthority:
        return LocalCertificateAuthority(self.workdir / "tls")

    def certificate(self, name: str) -> CertificateFiles:
        """``name``'s certificate from the stack's CA: made once, reused by later runs."""
        return self.certificate_authority.issue(name)

    def internal_tls(self, name: str) -> InternalTls | None:
        """``name``'s certificate as the services take it; None when TLS is off."""
        if not self.tls:
            return None
        files = self.certificate(name)
        return InternalTls(files.ca_file, files.cert_file, files.key_file)

    def http_verify(self, name: str = DEVSTACK_CLIENT) -> ssl.SSLContext | bool:
        """httpx's ``verify=`` for a direct call to identity, presenting ``name``'s certificate."""
        return http_verify(self.internal_tls(name))

    def grpc_channel(self, target: str, name: str = DEVSTACK_CLIENT) -> grpc.aio.Channel:
        """A channel to one of the stack's gRPC services, as ``name`` (tests, tools)."""
        return open_channel(target, self.internal_tls(name))

    def start_servers(self) -> None:
        owner_url = env_or("DATABASE_URL")
        if owner_url is None:
            archive = BackupLocation(self.backup_dir) if self.backup_dir else None
            template = Path(found) if (found := env_or(POSTGRES_TEMPLATE)) else None
            postgres = LocalPostgres(self.workdir / "postgres", archive=archive, template=template)
            self._servers.append(postgres)
            owner_url = postgres.start()
        self.nats_url = env_or("NATS_URL") or self._start(LocalNats(self.workdir / "nats"))
        self.redis_url = env_or("REDIS_URL") or self._start(LocalRedis(self.workdir / "redis"))
        if smtp_host := env_or("SMTP_HOST"):
            self.smtp_host, self.smtp_port = smtp_host, int(os.environ.get("SMTP_PORT", "25"))
        else:
            catcher = LocalMailCatcher(self.workdir / "mail")
            self._start(catcher)
            self.smtp_host, self.smtp_port = "127.0.0.1", catcher.port
            self.maildir = catcher.maildir
        if self.device_edge:
            self.devices = LocalDeviceNats(self.workdir / "device-nats")
            self._servers.append(self.devices)
            self.devices.start()
        self.database = provision(owner_url)

    @property
    def mqtt_address(self) -> str:
        """Where devices connect over MQTT 3.1.1 (empty without the device edge)."""
        return f"mqtt://127.0.0.1:{self.devices.mqtt_port}" if self.devices else ""

    def local_server(self, kind: type[Server]) -> Server:
        """The NATS or Redis server this stack started (chaos tests stop and restart it)."""
        return next(s for s in self._servers if isinstance(s, kind))

    def _start(self, server: LocalNats | LocalRedis | LocalMailCatcher) -> str:
        self._servers.append(server)
        return server.start()

    def environment(self) -> dict[str, str]:
        assert self.database is not None
        issuer = self.identity_url
        return {
            **os.environ,
            "NATS_URL": self.nats_url,
            "REDIS_URL": self.redis_url,
            "SMTP_HOST": self.smtp_host,
            "SMTP_PORT": str(self.smtp_port),
            "PUBLIC_URL": self.gateway_url,  # invitation links point at the gateway
            "TOKEN_ISSUER": issuer,
            "TOKEN_AUDIENCE": "bijmantra",
            "IDENTITY_PORT": str(self.ports.identity),
            "IDENTITY_HOST": "127.0.0.1",
            "IDENTITY_TRUSTED_PROXIES": "127.0.0.1/32",  # X-Forwarded-For: the gateway's only
            "IDENTITY_GRPC_PORT": str(self.ports.identity_grpc),
            "IDENTITY_TARGET": f"127.0.0.1:{self.ports.identity_grpc}",
            "IDENTITY_HEALTH_PORT": str(self.ports.identity_health),
            "IDENTITY_METRICS_PORT": str(self.ports.identity_metrics),
            "DOMAIN_API_HEALTH_PORT": str(self.ports.domain_health),
            "IDENTITY_URL": self.identity_url,
            "DOMAIN_API_PORT": str(self.ports.domain_api),
            "DOMAIN_API_TARGET": f"127.0.0.1:{self.ports.domain_api}",
            "METRICS_PORT": str(self.ports.domain_metrics),
            "GATEWAY_PORT": str(self.ports.gateway),
            "GATEWAY_METRICS_PORT": str(self.ports.gateway_metrics),
            "GATEWAY_HOST": "127.0.0.1",
            "WORKER_HEALTH_PORT": str(self.ports.worker_health),
            "DATABASE_OWNER_URL": self.database.owner_url,
            "WORKER_CLIENT_ID": WORKER_CLIENT_ID,
            "WORKER_CLIENT_SECRET": self.worker_client_secret,
            "GATEWAY_RESUME_SECRET": self.resume_secret,
            **(self.devices.environment() if self.devices else {}),
            **({} if self.tls else {"INTERNAL_TLS": "off"}),
            **LOCAL_QUOTAS,
            **self.env,
        }

    def seed(self, *, testdata: bool = True) -> None:
        """identity's seed (one interpreter start, not three) runs while the data is imported."""
        assert self.database is not None
        seed_identity = ["seed-devstack", WORKER_CLIENT_ID, self.console_callback]
        identity = subprocess.Popen(
            [_script("bijmantra-identity"), *seed_identity],
            env={
                **self.environment(),
                "DATABASE_URL": self.database.identity_url,
                "SERVICE_CLIENT_SECRET": self.worker_client_secret,
            },
        )
        try:
            organizations = [DEMO_ORGANIZATION_ID]
            if self.dedicated_org:
                self._seed_dedicated_org()
                organizations.append(DEDICATED_DEMO_ORGANIZATION_ID)
            for organization in organizations if testdata else []:
                subprocess.run(
                    [_script("bijmantra-domain-api"), "import-testdata", "--tenant", organization],
                    env={**self.environment(), "DATABASE_URL": self.database.domain_url},
                    check=True,
                )
        finally:
            if identity.wait() != 0:
                raise subprocess.CalledProcessError(identity.returncode, identity.args)

    def _seed_dedicated_org(self) -> None:
        """Provision the second demo organization's database, place it there, add its user."""
        assert self.database is not None
        provision_database(self.database.owner_url, DEDICATED_DEMO_DATABASE)
        with psycopg.connect(self.database.owner_url) as conn:
            place_organization(
                conn, uuid.UUID(DEDICATED_DEMO_ORGANIZATION_ID), DEDICATED_DEMO_DATABASE
            )
        asyncio.run(
            _register_member(
                self.database.identity_url,
                organization_id=uuid.UUID(DEDICATED_DEMO_ORGANIZATION_ID),
                organization_name="Dedicated Demo Breeding",
                user_id=uuid.UUID("0193a000-0000-7000-8000-00000000e002"),
                email=DEDICATED_DEMO_EMAIL,
                display_name="Dedicated Demo Breeder",
                password_hash=PasswordHasher().hash(DEMO_PASSWORD),
                roles=["admin"],
            )
        )

    def start_services(self, timeout: float = 60.0, attempts: int = 3) -> None:
        """Start the four; when one could not bind its port (taken since it was picked),
        stop them and start again on new ports; otherwise name the service that failed."""
        for attempt in range(1, attempts + 1):
            try:
                self._start_all(timeout)
                return
            except ServiceStartError as failure:
                self.stop_services()
                if attempt == attempts or not failure.port_taken:
                    raise
                print(f"{failure.service}: its port was taken; retrying", file=sys.stderr)
                self.ports.repick()

    def _start_all(self, timeout: float) -> None:
        """Two waves of processes started together (a service's start is mostly Python
        importing): first the two nothing else calls at start-up, then their callers."""
        for wave in (("identity", "domain-api"), ("analytics-worker", "gateway")):
            self._start_wave(wave, timeout)
        self.wait_ready(timeout)

    def _start_wave(self, names: tuple[str, ...], timeout: float, attempts: int = 3) -> None:
        """Start ``names`` until *their* processes listen on their ports: another program that
        took a port since it was picked would answer a mere connect. A bind failure draws new
        ports for that service and restarts the wave (its peers were given the old ones);
        nothing started in a later wave depends on them yet."""
        for attempt in range(1, attempts + 1):
            started = {name: self.start_service(name) for name in names}
            failure = next(
                (
                    found
                    for name, process in started.items()
                    if (found := self._await_listening(name, process, timeout)) is not None
                ),
                None,
            )
            if failure is None:
                return
            for name, process in started.items():
                terminate(process)
                self.services.pop(name, None)
            fields = SERVICE_PORTS[failure.service]
            if attempt == attempts or not failure.port_taken or set(fields) & self.ports.fixed:
                raise failure
            print(f"{failure.service}: its port was taken; retrying on another", file=sys.stderr)
            for field_name in fields:
                setattr(self.ports, field_name, free_port())
            self.ports.make_distinct()

    def _await_listening(
        self, name: str, process: subprocess.Popen[bytes], timeout: float
    ) -> ServiceStartError | None:
        port = getattr(self.ports, SERVICE_PORTS[name][0])
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            if listens(process.pid, port):
                return None
            time.sleep(0.1)
        reason = (
            f"exited with code {process.returncode} before listening on {port}"
            if process.poll() is not None
            else f"not listening on {port} after {timeout}s"
        )
        return self._failed(name, reason)

    def _failed(self, name: str, reason: str) -> ServiceStartError:
        log = self.log_dir / f"{name}.log" if self.log_dir is not None else None
        tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
        return ServiceStartError(name, reason, tail)

    def _check_alive(self) -> None:
        for name, process in self.services.items():
            if process.poll() is not None:
                raise self._failed(name, f"exited with code {process.returncode}")

    def start_service(
        self,
        name: str,
        database_url: str | None = None,
        *,
        replica: str = "",
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start one service process; ``replica`` names an extra instance (its own log and key)."""
        if database_url is None:
            assert self.database is not None
            database_url = {
                "identity": self.database.identity_url,
                "domain-api": self.database.domain_url,
                "analytics-worker": self.database.analytics_url,
            }.get(name, "")
        key = f"{name}{replica}"
        own_certificate = self.certificate(name).environment() if self.tls else {}
        environment = {
            **self.environment(),
            **own_certificate,
            "DATABASE_URL": database_url,
            **(env or {}),
        }
        output: int | IO[bytes] = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = (self.log_dir / f"{key}.log").open("ab")
        # Its own process group: whatever the service forks (granian's workers) can be
        # stopped with it, even when the service itself had to be killed.
        self.services[key] = subprocess.Popen(
            [_script(f"bijmantra-{name}")],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self.services[key]

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Gateway and worker ready, every process alive; a failure names the service (the
        gateway's readiness body names the upstream it waits for)."""
        deadline = time.monotonic() + timeout
        urls = [
            ("gateway", f"{self.gateway_url}/health/ready"),
            ("analytics-worker", f"http://127.0.0.1:{self.ports.worker_health}/health/ready"),
        ]
        for name, url in urls:
            answer = "no answer"
            while True:
                self._check_alive()
                try:
                    reply = httpx.get(url, timeout=2)
                    if reply.status_code == 200:
                        break
                    answer = f"{reply.status_code} {reply.text[:300]}"
                except httpx.HTTPError as exc:
                    answer = str(exc)
                if time.monotonic() > deadline:
                    raise self._failed(name, f"{url} not ready after {timeout}s ({answer})")
                time.sleep(0.2)

    def login(
        self,
        email: str = DEMO_EMAIL,
        password: str = DEMO_PASSWORD,
        organization_id: str | None = None,
    ) -> str:
        response = httpx.post(
            f"{self.identity_url}/api/v1/auth/login",
            json={"email": email, "password": password, "organizationId": organization_id},
            timeout=10,
            verify=self.http_verify(),
        )
        response.raise_for_status()
        return str(response.json()["data"]["access_token"])

    def register_member(self, email: str, password: str, roles: list[str]) -> uuid.UUID:
        """A user with ``roles`` in a new organization, straight into identity's tables as
        ``seed-demo`` does: tests need members of other organizations."""
        assert self.database is not None
        organization = uuid.uuid4()
        asyncio.run(
            _register_member(
                self.database.identity_url,
                organization_id=organization,
                organization_name=f"Organization {organization.hex[:8]}",
                user_id=uuid.uuid4(),
                email=email,
                display_name="Member",
                password_hash=PasswordHasher().hash(password),
                roles=roles,
            )
        )
        return organization

    def stop_services(self) -> None:
        """SIGTERM all four (they drain), then wait; servers and data stay for a restart."""
        for process in reversed(list(self.services.values())):
            with contextlib.suppress(Exception):
                process.send_signal(15)
        for process in reversed(list(self.services.values())):
            terminate(process)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # workers orphaned by a killed parent
        self.services.clear()

    def stop(self) -> None:
        self.stop_services()
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()

    def log_tails(self, chars: int = 6000) -> str:
        """The end of every service log: where the cause of a failed start-up is written."""
        if self.log_dir is None:
            return ""
        logs = sorted(self.log_dir.glob("*.log"))
        return "".join(
            f"==== {log.name}\n{log.read_text(errors='replace')[-chars:]}\n" for log in logs
        )


@contextlib.contextmanager
def running_stack(
    workdir: Path,
    *,
    testdata: bool = False,
    env: dict[str, str] | None = None,
    ports: Ports | None = None,
    dedicated_org: bool = False,
    device_edge: bool = False,
) -> Iterator[DevStack]:
    """Fresh servers, migrations, the demo seed and the four services, stopped on exit.

    The end-to-end tests' one way to get a stack; a failed start-up prints the service logs."""
    ports = ports or Ports(gateway=free_port(), fixed=frozenset())
    stack = DevStack(
        workdir,
        ports,
        log_dir=workdir / "logs",
        env=dict(env or {}),
        dedicated_org=dedicated_org,
        device_edge=device_edge,
    )
    try:
        stack.start_servers()
        stack.seed(testdata=testdata)
        stack.start_services()
    except BaseException:
        print(stack.log_tails())
        stack.stop()
        raise
    try:
        yield stack
    finally:
        stack.stop()


def _script(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name
