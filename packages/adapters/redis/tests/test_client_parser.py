"""The services' Redis client reads replies with hiredis (ADR 0357).

redis-py picks its parser at import: hiredis's C reader when the package is installed, else
a pure-Python one that cost the gateway a tenth of its CPU per request (every request runs a
rate-limit script). The dependency is declared; this checks it is the parser in use and that
a script's nested reply (the rate limiter's) reads the same."""

from __future__ import annotations

from bijmantra.adapters.redis.client import redis_client
from redis.asyncio.connection import _AsyncHiredisParser


async def test_replies_are_read_by_hiredis(redis_url: str) -> None:
    client = redis_client(redis_url)
    try:
        connection = await client.connection_pool.get_connection()
        try:
            assert isinstance(connection._parser, _AsyncHiredisParser)
        finally:
            await client.connection_pool.release(connection)
        script = client.register_script("return {1, {2, tostring(0.5), '0'}, ARGV[1]}")
        assert await script(keys=[], args=["x"]) == [1, [2, b"0.5", b"0"], b"x"]
    finally:
        await client.aclose()
