"""Mutual TLS on a real gRPC server (ADR 0176): only a peer with a certificate from the
platform's CA gets as far as a method; everyone else fails in the handshake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from bijmantra.adapters.grpc.tls import (
    SERVER_OPTIONS,
    InternalTls,
    TransportSecurityMissing,
    add_listener,
    open_channel,
    require_transport_security,
    start_probe_listener,
)
from bijmantra.testkit.certificates import LocalCertificateAuthority
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


class CountingHealth:
    """grpc.health.v1.Health/Check that counts the calls that reached a method at all."""

    def __init__(self) -> None:
        self.calls = 0

    async def check(
        self, _: health_pb2.HealthCheckRequest, __: grpc.aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        self.calls += 1
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    def attach(self, server: grpc.aio.Server) -> None:
        handler = grpc.unary_unary_rpc_method_handler(
            self.check,
            request_deserializer=health_pb2.HealthCheckRequest.FromString,
            response_serializer=health_pb2.HealthCheckResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": handler})]
        )


def _tls(ca: LocalCertificateAuthority, service: str) -> InternalTls:
    files = ca.issue(service)
    return InternalTls(files.ca_file, files.cert_file, files.key_file)


@pytest.fixture(scope="module")
def platform_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCertificateAuthority:
    return LocalCertificateAuthority(tmp_path_factory.mktemp("platform-ca"))


@pytest.fixture
async def server(
    platform_ca: LocalCertificateAuthority,
) -> AsyncIterator[tuple[str, CountingHealth]]:
    servicer = CountingHealth()
    grpc_server = grpc.aio.server()  # gRPC's defaults: the probe's own options must refuse
    servicer.attach(grpc_server)
    port = add_listener(grpc_server, "127.0.0.1:0", _tls(platform_ca, "domain-api"))
    await grpc_server.start()
    yield f"127.0.0.1:{port}", servicer
    await grpc_server.stop(None)


async def _check(channel: grpc.aio.Channel) -> grpc.StatusCode:
    async with channel:
        try:
            await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def test_a_peer_with_a_certificate_from_the_platform_ca_is_served(
    server: tuple[str, CountingHealth], platform_ca: LocalCertificateAuthority
) -> None:
    target, servicer = server
    channel = open_channel(target, _tls(platform_ca, "gateway"))
    assert await _check(channel) == grpc.StatusCode.OK
    assert servicer.calls == 1


async def test_a_plaintext_peer_is_refused(server: tuple[str, CountingHealth]) -> None:
    target, servicer = server
    assert await _check(open_channel(target, None)) == grpc.StatusCode.UNAVAILABLE
    assert servicer.calls == 0


async def test_a_probe_listener_cannot_share_the_port_of_a_mutual_tls_listener(
    server: tuple[str, CountingHealth], platform_ca: LocalCertificateAuthority
) -> None:
    """gRPC's default SO_REUSEPORT let a plaintext probe bind a taken port and answer half of
    the mutual-TLS listener's handshakes; now the second bind fails and the first keeps it."""
    address, _ = server
    port = int(address.rsplit(":", 1)[1])
    with pytest.raises(RuntimeError, match="Failed to bind"):
        await start_probe_listener(health.aio.HealthServicer(), "127.0.0.1", port)
    tls = _tls(platform_ca, "gateway")
    for _ in range(8):  # with a shared port some of these would reach the plaintext probe
        assert await _check(open_channel(address, tls)) == grpc.StatusCode.OK


async def test_a_server_with_the_platform_options_owns_its_port() -> None:
    first = grpc.aio.server(options=SERVER_OPTIONS)
    port = first.add_insecure_port("127.0.0.1:0")
    await first.start()
    try:
        with pytest.raises(RuntimeError, match="Failed to bind"):
            grpc.aio.server(options=SERVER_OPTIONS).add_insecure_port(f"127.0.0.1:{port}")
    finally:
        await first.stop(None)


async def test_a_tls_peer_without_a_client_certificate_is_refused(
    server: tuple[str, CountingHealth], platform_ca: LocalCertificateAuthority
) -> None:
    """It trusts our CA and would happily talk TLS, but presents no certificate."""
    target, servicer = server
    credentials = grpc.ssl_channel_credentials(platform_ca.ca_file.read_bytes())
    channel = grpc.aio.secure_channel(target, credentials)
    assert await _check(channel) == grpc.StatusCode.UNAVAILABLE
    assert servicer.calls == 0


async def test_a_certificate_from_another_ca_is_refused(
    server: tuple[str, CountingHealth],
    platform_ca: LocalCertificateAuthority,
    tmp_path: Path,
) -> None:
    """Same service name, well-formed, but signed by a CA the platform does not trust; the
    peer even trusts the platform's CA for the server side."""
    target, servicer = server
    stranger = _tls(LocalCertificateAuthority(tmp_path / "other", name="Other CA"), "gateway")
    credentials = grpc.ssl_channel_credentials(
        platform_ca.ca_file.read_bytes(),
        stranger.key_file.read_bytes(),
        stranger.cert_file.read_bytes(),
    )
    channel = grpc.aio.secure_channel(target, credentials)
    assert await _check(channel) == grpc.StatusCode.UNAVAILABLE
    assert servicer.calls == 0


async def test_a_client_refuses_a_server_from_another_ca(
    platform_ca: LocalCertificateAuthority, tmp_path: Path
) -> None:
    """The check runs both ways: an impostor listener is not trusted by our clients."""
    impostor = grpc.aio.server()
    servicer = CountingHealth()
    servicer.attach(impostor)
    other = LocalCertificateAuthority(tmp_path / "other", name="Other CA")
    port = add_listener(impostor, "127.0.0.1:0", _tls(other, "domain-api"))
    await impostor.start()
    try:
        channel = open_channel(f"127.0.0.1:{port}", _tls(platform_ca, "gateway"))
        assert await _check(channel) == grpc.StatusCode.UNAVAILABLE
        assert servicer.calls == 0
    finally:
        await impostor.stop(None)


def test_certificates_are_made_once_and_reused(tmp_path: Path) -> None:
    ca = LocalCertificateAuthority(tmp_path)
    first = ca.issue("identity")
    pem = (first.ca_file.read_bytes(), first.cert_file.read_bytes(), first.key_file.read_bytes())
    again = LocalCertificateAuthority(tmp_path).issue("identity")
    assert (again.ca_file.read_bytes(), again.cert_file.read_bytes()) == pem[:2]
    assert again.key_file.read_bytes() == pem[2]
    assert first.key_file.stat().st_mode & 0o077 == 0  # the key is the owner's alone


def test_a_certificate_no_longer_signed_by_the_ca_on_disk_is_issued_again(tmp_path: Path) -> None:
    ca = LocalCertificateAuthority(tmp_path)
    old = ca.issue("identity").cert_file.read_bytes()
    (tmp_path / "ca.pem").unlink()  # a new CA replaces the old one
    renewed = LocalCertificateAuthority(tmp_path).issue("identity")
    assert renewed.cert_file.read_bytes() != old


def test_serving_without_certificates_needs_an_explicit_opt_out(tmp_path: Path) -> None:
    with pytest.raises(TransportSecurityMissing, match="TLS_CA_FILE"):
        require_transport_security(InternalTls.from_env({}), {})
    with pytest.raises(TransportSecurityMissing, match="TLS_CA_FILE"):
        require_transport_security(None, {"INTERNAL_TLS": "on"})
    require_transport_security(None, {"INTERNAL_TLS": "off"})  # a deliberate choice
    half = {"TLS_CA_FILE": str(tmp_path / "ca.pem"), "TLS_CERT_FILE": str(tmp_path / "c.pem")}
    assert InternalTls.from_env(half) is None  # two of three files is no configuration
    named = {**half, "TLS_KEY_FILE": str(tmp_path / "k.pem")}
    with pytest.raises(TransportSecurityMissing, match="does not exist"):
        require_transport_security(InternalTls.from_env(named), named)
