"""X-Forwarded-For is believed only from trusted proxies, and only up to the first untrusted hop."""

from __future__ import annotations

import pytest
from bijmantra.edge.client_address import client_address, parse_networks

TRUSTED = parse_networks("10.0.0.0/8, 127.0.0.1")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),  # no proxy at all
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # an untrusted peer cannot claim another address
        ("10.0.0.5", "198.51.100.7", "198.51.100.7"),  # one trusted proxy
        (
            "10.0.0.5",
            "6.6.6.6, 198.51.100.7, 10.0.0.9",
            "198.51.100.7",
        ),  # client-written prefix is ignored
        ("127.0.0.1", "10.1.1.1, 10.2.2.2", "10.1.1.1"),  # only trusted hops: the left-most one
        ("10.0.0.5", "garbage, 198.51.100.7", "198.51.100.7"),
        ("10.0.0.5", "198.51.100.7, not-an-ip", "10.0.0.5"),  # malformed last hop: stop at the peer
        ("10.0.0.5", "2001:db8::1", "2001:db8::1"),
        ("testclient", "1.2.3.4", "testclient"),  # a non-IP peer is never a trusted proxy
        (None, "1.2.3.4", None),
    ],
)
def test_client_address(peer: str | None, forwarded: str | None, expected: str | None) -> None:
    assert client_address(peer, forwarded, TRUSTED) == expected


def test_bad_network_configuration_is_an_error() -> None:
    with pytest.raises(ValueError, match="does not appear"):
        parse_networks("10.0.0.0/8, not-a-network")
