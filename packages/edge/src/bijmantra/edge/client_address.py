"""The client's address behind reverse proxies, for rate limiting and logs.

``X-Forwarded-For`` is only believed when the TCP peer is a configured trusted proxy, and
then only as far as the chain of trusted proxies goes: the right-most address that is not a
trusted proxy is the client. Anything left of it was written by the client itself and
could be anything.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str | Iterable[str]) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` -> networks; raises ``ValueError`` on a bad entry."""
    items = spec.split(",") if isinstance(spec, str) else spec
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[Network, ...]
) -> bool:
    return any(address in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]
) -> str | None:
    peer_address = _address(peer) if peer else None
    if peer_address is None or not forwarded_for or not _trusted(peer_address, trusted):
        return peer
    client = peer_address
    for hop in reversed(forwarded_for.split(",")):
        address = _address(hop)
        if address is None:
            break  # a malformed entry: stop at the last address we could trust
        client = address
        if not _trusted(address, trusted):
            break
    return str(client)
