"""Redis implementation of ``RateLimiter``: GCRA buckets charged in one Lua script (ADR 0140).

One round trip per request charges every bucket it names (the organization's and the
client's) or none of them. Time is Redis's own ``TIME``, so replicas with skewed clocks
still share one budget. A bucket is one string (its TAT in ms) that expires when full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bijmantra.application.protection.ratelimit import Bucket, BucketState, Decision
from bijmantra.kernel import Unavailable

from redis.asyncio import Redis
from redis.exceptions import RedisError

# Mirrors bijmantra.application.protection.ratelimit.gcra_step for each bucket in KEYS;
# ARGV holds each bucket's window and emission interval (ms). Numbers go back as strings:
# Redis would truncate Lua floats to integers. A TAT is stored with 17 digits: ``tostring``
# keeps 14, a tenth of a millisecond of a TAT, and calls that close read a later TAT.
_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + tonumber(now_parts[2]) / 1000
local out, tats, allowed = {}, {}, true
for i = 1, #KEYS do
  local window, interval = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  if new_tat - now > window + 1e-6 then  -- SLACK_MS of gcra_step
    allowed = false
    out[i] = {0, tostring(tat - now), tostring(new_tat - now - window)}
  else
    tats[i] = new_tat
    out[i] = {math.floor((window - (new_tat - now)) / interval), tostring(new_tat - now), '0'}
  end
end
if allowed then
  for i = 1, #KEYS do
    redis.call('SET', KEYS[i], string.format('%.17g', tats[i]), 'PX', math.ceil(tats[i] - now) + 1)
  end
end
return out
"""


class RedisRateLimiter:
    """``timeout`` bounds each round trip here: give the client ``socket_timeout=None``, whose
    write timeout costs an extra task per command (see ``wiring``, ADR 0142)."""

    def __init__(self, redis: Redis, *, prefix: str = "ratelimit", timeout: float = 2.0) -> None:
        self._redis = redis
        self._prefix = prefix
        self._timeout = timeout
        self._acquire = redis.register_script(_ACQUIRE)

    async def acquire(self, buckets: Sequence[Bucket]) -> Decision:
        keys = [f"{self._prefix}:{bucket.key}" for bucket in buckets]
        args: list[float] = []
        for bucket in buckets:
            args += [bucket.quota.window_ms, bucket.quota.interval_ms]
        try:
            async with asyncio.timeout(self._timeout):
                replies = await self._acquire(keys=keys, args=args)
        except (RedisError, TimeoutError) as error:
            raise Unavailable("Rate limiter unavailable") from error
        return Decision(
            tuple(
                BucketState(bucket, int(remaining), float(reset) / 1000, float(retry) / 1000)
                for bucket, (remaining, reset, retry) in zip(buckets, replies, strict=True)
            )
        )
