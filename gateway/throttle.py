"""Login throttling that cannot be raced, nor turned against the account's owner.

Each attempt is counted in Redis, atomically, *before* the password hash is checked, in
three keys at once:
- account × client address: `pair_free` attempts, then each one more sets a growing wait
  before the next (1, 2, 4 … s, at most `pair_max_wait_s`). Someone guessing from one
  address is slowed down to a crawl; the owner logging in from elsewhere is not;
- the account, from anywhere: past `account_free` attempts, a growing wait of at most
  `account_max_wait_s` (a minute by default) — a delay, never a lockout, against guessing
  spread over many addresses;
- the client address, over all accounts: past `address_free` attempts, waits up to
  `address_max_wait_s` (credential stuffing from one place).

An attempt that must wait is refused without touching the hash (429 + Retry-After). As the
wait is set by the attempt that crossed the line, 1,000 parallel guesses get exactly
`pair_free` tries. A correct password clears the account × address key and takes its own
attempt back from the other two. Keys expire `forget_after_s` after the last attempt.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from storage import keyspace


class LoginLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Settings STRIDE_LOGIN_<NAME>."""

    pair_free: int = 5
    pair_max_wait_s: int = 900
    account_free: int = 20
    account_max_wait_s: int = 60
    address_free: int = 100
    address_max_wait_s: int = 900
    forget_after_s: int = 3600


# KEYS: pair, account, address. ARGV: (free, max_wait_s) per key, then forget_after_s.
# Each key is a hash {n, next_ms}. Returns 0 when the attempt may go on (and was counted),
# else the milliseconds to wait.
_BEGIN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i, key in ipairs(KEYS) do
  local next_ms = tonumber(redis.call('HGET', key, 'next_ms'))
  if next_ms and next_ms > now then wait = math.max(wait, next_ms - now) end
end
if wait > 0 then return wait end
local forget = tonumber(ARGV[#ARGV])
for i, key in ipairs(KEYS) do
  local free, max_wait = tonumber(ARGV[2*i-1]), tonumber(ARGV[2*i])
  local n = redis.call('HINCRBY', key, 'n', 1)
  if n >= free then
    local delay = math.min(max_wait, 2 ^ math.min(n - free, 30))
    redis.call('HSET', key, 'next_ms', now + delay * 1000)
  end
  redis.call('EXPIRE', key, forget)
end
return 0
"""

# KEYS: pair, account, address. The attempt was right: forget the pair, give the others
# their count back.
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
for i = 2, 3 do
  local n = redis.call('HINCRBY', KEYS[i], 'n', -1)
  if n <= 0 then redis.call('DEL', KEYS[i]) end
end
return 0
"""


class LoginThrottle:
    def __init__(self, redis: Any, prefix: str, limits: LoginLimits | None = None) -> None:
        self.limits = limits or LoginLimits()
        self._prefix = prefix
        self._begin = redis.register_script(_BEGIN)
        self._succeeded = redis.register_script(_SUCCEEDED)

    def _keys(self, email: str, address: str) -> list[str]:
        account = hashlib.sha256(email.encode()).hexdigest()[:32]
        place = hashlib.sha256(address.encode()).hexdigest()[:32]
        return [keyspace.login(self._prefix, "pair", account, place),
                keyspace.login(self._prefix, "account", account),
                keyspace.login(self._prefix, "address", place)]

    async def begin(self, email: str, address: str) -> int | None:
        """Count an attempt; None if it may go on, else the seconds to wait first."""
        lim = self.limits
        wait_ms = await self._begin(keys=self._keys(email, address), args=[
            lim.pair_free, lim.pair_max_wait_s, lim.account_free, lim.account_max_wait_s,
            lim.address_free, lim.address_max_wait_s, lim.forget_after_s])
        return None if not wait_ms else max(1, -(-int(wait_ms) // 1000))

    async def succeeded(self, email: str, address: str) -> None:
        await self._succeeded(keys=self._keys(email, address))
