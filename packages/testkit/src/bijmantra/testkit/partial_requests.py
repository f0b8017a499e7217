"""A request whose body is sent only in part, to show a server answered before reading it."""

from __future__ import annotations

import http.client

import httpx


def partly_sent(
    base_url: str,
    authorization: str,
    method: str,
    path: str,
    content_type: str,
    declared: int,
    first: bytes,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, bytes]:
    """Declare ``declared`` bytes of body, send ``first`` only, then wait for the answer:
    (status, Retry-After, body). A timeout means the server waited for the rest. ``headers``:
    sent besides (an ``Idempotency-Key``)."""
    url = httpx.URL(base_url)
    connection = http.client.HTTPConnection(url.host, url.port, timeout=30)
    try:
        connection.putrequest(method, path)
        connection.putheader("Authorization", authorization)
        connection.putheader("Content-Type", content_type)
        connection.putheader("Content-Length", str(declared))
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        connection.send(first)
        answer = connection.getresponse()
        return answer.status, answer.getheader("Retry-After") or "", answer.read()
    finally:
        connection.close()
