"""Failed-login throttling per account and per client address, in Redis.

After `limit` failures within `window_s`, further attempts for that key are refused with
429 until the window has passed, whether or not the password would be right, so guessing
is capped at `limit` tries per window.
"""

from __future__ import annotations

from typing import Any


class LoginThrottle:
    def __init__(self, redis: Any, prefix: str, *, per_account: int = 5, per_address: int = 20,
                 window_s: int = 900) -> None:
        self._redis = redis
        self._prefix = prefix
        self._limits = {"account": per_account, "address": per_address}
        self._window_s = window_s

    def _keys(self, email: str, address: str) -> dict[str, str]:
        return {"account": f"{self._prefix}:login-failures:account:{email}",
                "address": f"{self._prefix}:login-failures:address:{address}"}

    async def retry_after_s(self, email: str, address: str) -> int | None:
        """Seconds until another attempt is allowed, or None if it is allowed now."""
        for kind, key in self._keys(email, address).items():
            count = await self._redis.get(key)
            if count is not None and int(count) >= self._limits[kind]:
                ttl = await self._redis.ttl(key)
                return max(int(ttl), 1)
        return None

    async def failed(self, email: str, address: str) -> None:
        for key in self._keys(email, address).values():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, self._window_s, nx=True)
                await pipe.execute()

    async def succeeded(self, email: str) -> None:
        await self._redis.delete(self._keys(email, "-")["account"])
