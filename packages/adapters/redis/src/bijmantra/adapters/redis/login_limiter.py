"""Redis implementation of ``LoginAttemptLimiter``: failure counters and lock keys with TTLs.

Keys (the account is hashed so no e-mail address is stored in Redis):
``login:fail:acct:<sha256 of account and address>`` / ``login:fail:addr:<ip>`` count failures
within a sliding window; ``login:lock:…`` exists while that subject is locked out, its TTL is
the back-off. The account is counted *per client address* (issue 17): someone who knows an
address can lock only their own attempts at it, never its owner signing in from elsewhere.
"""

from __future__ import annotations

import hashlib

from bijmantra.adapters.redis.client import COMMAND_SECONDS, redis_client
from bijmantra.application.tenancy.throttle import ACCOUNT_POLICY, ADDRESS_POLICY, BackoffPolicy

from redis.asyncio import Redis

# INCR the counter, refresh its window, and set the lock for the back-off the count earns.
_RECORD_FAILURE = """
local failures = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
local free, base, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if failures >= free then
  local ms = math.min(cap, base * 2 ^ (failures - free)) * 1000
  redis.call('SET', KEYS[2], failures, 'PX', math.floor(ms))
end
return failures
"""


def _account_key(account: str, address: str | None) -> str:
    pair = f"{account.strip().lower()}\n{address or '-'}"
    return hashlib.sha256(pair.encode()).hexdigest()


class RedisLoginLimiter:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "login",
        account_policy: BackoffPolicy = ACCOUNT_POLICY,
        address_policy: BackoffPolicy = ADDRESS_POLICY,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._policies = {"acct": account_policy, "addr": address_policy}
        self._record = redis.register_script(_RECORD_FAILURE)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        account_policy: BackoffPolicy = ACCOUNT_POLICY,
        address_policy: BackoffPolicy = ADDRESS_POLICY,
        command_seconds: float = COMMAND_SECONDS,
    ) -> RedisLoginLimiter:
        client = redis_client(url, command_seconds=command_seconds)
        return cls(client, account_policy=account_policy, address_policy=address_policy)

    def _subjects(self, account: str, address: str | None) -> list[tuple[str, str]]:
        subjects = [("acct", _account_key(account, address))]
        if address:
            subjects.append(("addr", address))
        return subjects

    async def retry_after(self, account: str, address: str | None) -> float:
        pipe = self._redis.pipeline(transaction=False)
        for kind, subject in self._subjects(account, address):
            pipe.pttl(f"{self._prefix}:lock:{kind}:{subject}")
        ttls: list[int] = await pipe.execute()
        return max([0.0, *(ttl / 1000 for ttl in ttls if ttl > 0)])

    async def failed(self, account: str, address: str | None) -> None:
        for kind, subject in self._subjects(account, address):
            policy = self._policies[kind]
            await self._record(
                keys=[
                    f"{self._prefix}:fail:{kind}:{subject}",
                    f"{self._prefix}:lock:{kind}:{subject}",
                ],
                args=[policy.window_seconds, policy.free, policy.base_seconds, policy.max_seconds],
            )

    async def succeeded(self, account: str, address: str | None) -> None:
        subject = _account_key(account, address)
        await self._redis.delete(
            f"{self._prefix}:fail:acct:{subject}", f"{self._prefix}:lock:acct:{subject}"
        )

    async def close(self) -> None:
        await self._redis.aclose()
