"""Per-account quotas, enforced cluster-wide: the counters live in Redis, so every gateway
behind a load balancer draws on the same ones.

Four shapes, each one atomic Lua script (Redis's own clock, so gateways with skewed clocks
agree):
- a token bucket for samples, two at once: live samples (recent times) and backlog
  (a device resending what it buffered offline) have separate rates;
- a slot set (a sorted set scored by last use) for things held at once: live workouts,
  device and live-feed connections, workout files being imported. A slot not touched for
  its lifetime falls out, so a gateway that died cannot keep an account's slots forever;
- a fixed-window counter for actions per minute or hour (OIDC flows, group and consent
  changes, registrations per address, workout files uploaded).

Every refusal carries the code a client can act on and how long to wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from storage import keyspace


class Quotas(msgspec.Struct, frozen=True, kw_only=True):
    """What one account (or one address, for registrations) may do. Every field is a
    setting (STRIDE_QUOTA_<NAME>); the defaults are for production."""

    live_workouts: int = 3
    """Workouts live (started, not finished) at once."""
    live_samples_per_s: float = 30.0
    """Samples a second whose time is recent (within `backlog_after_s`): three 10 Hz devices."""
    live_samples_burst: int = 1000
    backlog_samples_per_s: float = 5000.0
    """Older samples a second: a day of 1 Hz samples (86,400) resyncs in about 15 s."""
    backlog_samples_burst: int = 20000
    backlog_after_s: int = 120
    """A sample older than this (by the gateway's clock) is backlog, not live."""
    device_connections: int = 8
    """Open device WebSockets at once, across all gateways."""
    live_connections: int = 8
    """Open live-feed WebSockets at once, across all gateways."""
    oidc_flows_per_min: int = 10
    """OpenID Connect sign-ins or links started a minute (per account, or per address
    before sign-in)."""
    changes_per_min: int = 30
    """Group and consent changes a minute (create, invite, answer, add, remove, leave,
    grant, withdraw)."""
    registrations_per_hour: int = 10
    """Accounts created an hour from one client address."""
    imports_per_hour: int = 30
    """Workout files uploaded an hour (`POST /v1/workouts/import`), refused ones included:
    a 20 MB file costs the gateway tens of seconds of CPU."""
    imports_at_once: int = 1
    """Workout files of one account being imported at once, across all gateways."""
    slot_lifetime_s: int = 90
    """A connection slot not refreshed for this long is freed (its gateway died)."""
    live_workout_lifetime_s: int = 1860
    """A live-workout slot not used for this long is freed: the actor finishes a silent
    workout after 30 minutes."""


class Refused(Exception):
    """A quota refused the action: `code` for the client, `retry_after_s` when waiting helps."""

    def __init__(self, code: str, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s


# KEYS: live bucket, backlog bucket of each take, in pairs. ARGV: live rate/s, live burst,
# backlog rate/s, backlog burst, then the live and backlog samples of each take. Takes are
# judged in order (two of one account see each other). Returns, per take, 0 when both of its
# buckets had enough tokens (and gave them), else the milliseconds until they would.
_SAMPLE_BUCKETS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rates = {tonumber(ARGV[1]), tonumber(ARGV[3])}
local bursts = {tonumber(ARGV[2]), tonumber(ARGV[4])}
local levels = {}
local function level(key, i)
  if levels[key] ~= nil then return levels[key] end
  local v = redis.call('HMGET', key, 'tokens', 'at')
  local tokens, at = tonumber(v[1]), tonumber(v[2])
  if tokens == nil then return bursts[i] end
  return math.min(bursts[i], tokens + (now - at) * rates[i] / 1000)
end
local waits = {}
for k = 1, #KEYS / 2 do
  local wait = 0
  local got = {}
  for i = 1, 2 do
    local n = tonumber(ARGV[4 + 2 * (k - 1) + i])
    got[i] = level(KEYS[2 * (k - 1) + i], i)
    if got[i] < n then wait = math.max(wait, math.ceil((n - got[i]) * 1000 / rates[i])) end
  end
  if wait == 0 then
    for i = 1, 2 do
      local n = tonumber(ARGV[4 + 2 * (k - 1) + i])
      if n > 0 then
        local key = KEYS[2 * (k - 1) + i]
        levels[key] = got[i] - n
        redis.call('HSET', key, 'tokens', got[i] - n, 'at', now)
        redis.call('PEXPIRE', key, math.ceil(bursts[i] * 1000 / rates[i]) + 1000)
      end
    end
  end
  waits[k] = wait
end
return waits
"""

# KEYS: the slot set. ARGV: member, limit, lifetime_s. Returns 1 (already held, refreshed),
# 2 (taken now) or -1 (all slots in use).
_CLAIM_SLOT = """
local now = tonumber(redis.call('TIME')[1])
local lifetime = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - lifetime)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('EXPIRE', KEYS[1], lifetime)
return 2
"""

# KEYS: slot sets; ARGV[i]: a member of KEYS[i] to refresh if it is still held.
_TOUCH_SLOTS = """
local now = tonumber(redis.call('TIME')[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now, ARGV[i])
  redis.call('EXPIRE', key, tonumber(ARGV[#KEYS + 1]), 'GT')
end
return 0
"""

# KEYS: the counter. ARGV: limit, window_s. Returns 0 if counted, else seconds to wait.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2])) end
if n > tonumber(ARGV[1]) then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 0 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2])); ttl = tonumber(ARGV[2]) end
  return ttl
end
return 0
"""


IMPORT_RETRY_S = 10.0
"""What an import refused for the one still running is told to wait (a large file takes
tens of seconds)."""
MAX_TAKES_PER_CALL = 500
"""Sample-quota takes judged by one Redis script call."""


class QuotaGuard:
    """The quotas of `Quotas`, on the Redis all gateways share."""

    def __init__(self, redis: Any, prefix: str, quotas: Quotas) -> None:
        self.quotas = quotas
        self._redis = redis
        self._prefix = prefix
        self._buckets = redis.register_script(_SAMPLE_BUCKETS)
        self._takes: list[tuple[uuid.UUID, int, int, asyncio.Future[int]]] = []
        self._taking: asyncio.Task[None] | None = None
        self._claim = redis.register_script(_CLAIM_SLOT)
        self._touch = redis.register_script(_TOUCH_SLOTS)
        self._count = redis.register_script(_COUNT)

    # -- samples --

    async def take_samples(self, user_id: uuid.UUID, live: int, backlog: int) -> None:
        q = self.quotas
        if live > q.live_samples_burst or backlog > q.backlog_samples_burst:
            raise Refused("sample_rate_limited",
                          f"one frame may carry at most {q.live_samples_burst} recent or "
                          f"{q.backlog_samples_burst} older samples for this account; send "
                          "smaller batches")
        waiting: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._takes.append((user_id, live, backlog, waiting))
        if self._taking is None:
            self._taking = asyncio.create_task(self._take_queued())
        wait_ms = await waiting
        if wait_ms:
            raise Refused("sample_rate_limited",
                          f"more than {q.live_samples_per_s:g} live samples a second (or "
                          f"{q.backlog_samples_per_s:g} resent ones) for this account; nothing "
                          f"of this frame was applied: send it again in {int(wait_ms)} ms",
                          retry_after_s=wait_ms / 1000)

    async def _take_queued(self) -> None:
        """One script for every take queued meanwhile: the frames a gateway handles in one
        turn of its event loop (and those that come while a call is in flight) cost one
        Redis round trip, not one each."""
        q = self.quotas
        try:
            while self._takes:
                await asyncio.sleep(0)  # the other frames of this turn queue theirs
                takes, self._takes = self._takes[:MAX_TAKES_PER_CALL], self._takes[MAX_TAKES_PER_CALL:]
                keys, args = [], [q.live_samples_per_s, q.live_samples_burst,
                                  q.backlog_samples_per_s, q.backlog_samples_burst]
                for user_id, live, backlog, _ in takes:
                    keys += [keyspace.quota(self._prefix, "samples", "live", user_id),
                             keyspace.quota(self._prefix, "samples", "backlog", user_id)]
                    args += [live, backlog]
                try:
                    waits = await self._buckets(keys=keys, args=args)
                except Exception as exc:  # Redis away: every caller hears it
                    for *_, waiting in takes:
                        if not waiting.done():
                            waiting.set_exception(exc)
                    continue
                for (*_, waiting), wait_ms in zip(takes, waits, strict=True):
                    if not waiting.done():
                        waiting.set_result(int(wait_ms))
        finally:
            self._taking = None

    # -- things held at once --

    def _slots(self, kind: str, user_id: uuid.UUID) -> str:
        return keyspace.quota(self._prefix, kind, user_id)

    async def claim_live_workout(self, user_id: uuid.UUID, workout_id: uuid.UUID) -> bool:
        """Hold a live-workout slot; True if it was taken now (False: already held).
        Raises Refused when the account has all its live workouts."""
        q = self.quotas
        got = await self._claim(keys=[self._slots("workouts", user_id)],
                                args=[str(workout_id), q.live_workouts, q.live_workout_lifetime_s])
        if got == -1:
            raise Refused("too_many_workouts",
                          f"this account already has {q.live_workouts} live workouts; finish one "
                          "before starting another")
        return bool(got == 2)

    async def release_live_workout(self, user_id: uuid.UUID, workout_id: uuid.UUID) -> None:
        await self._redis.zrem(self._slots("workouts", user_id), str(workout_id))

    async def open_connection(self, kind: str, user_id: uuid.UUID, connection_id: uuid.UUID) -> None:
        """`kind`: `device` or `live`. Raises Refused when the account has all its slots."""
        limit = self.quotas.device_connections if kind == "device" else self.quotas.live_connections
        got = await self._claim(keys=[self._slots(f"connections:{kind}", user_id)],
                                args=[str(connection_id), limit, self.quotas.slot_lifetime_s])
        if got == -1:
            what = "device" if kind == "device" else "live-feed"
            raise Refused("too_many_connections",
                          f"this account already has {limit} open {what} connections; close one "
                          "first")

    async def close_connection(self, kind: str, user_id: uuid.UUID, connection_id: uuid.UUID) -> None:
        await self._redis.zrem(self._slots(f"connections:{kind}", user_id), str(connection_id))

    @contextlib.asynccontextmanager
    async def importing(self, user_id: uuid.UUID) -> AsyncIterator[None]:
        """Hold one of the account's import slots while the body runs. The slot is kept
        fresh meanwhile, so one whose gateway died is free again after `slot_lifetime_s`."""
        q, key, member = self.quotas, self._slots("imports", user_id), str(uuid.uuid4())
        if await self._claim(keys=[key], args=[member, q.imports_at_once, q.slot_lifetime_s]) == -1:
            raise Refused("import_in_progress",
                          f"this account already has {q.imports_at_once} workout file(s) being "
                          f"imported; try again when done (in about {IMPORT_RETRY_S:g} s)",
                          retry_after_s=IMPORT_RETRY_S)
        keeper = asyncio.create_task(self._keep_fresh(key, member))
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(Exception):  # Redis away: the slot lapses by itself
                await self._redis.zrem(key, member)

    async def _keep_fresh(self, key: str, member: str) -> None:
        lifetime = self.quotas.slot_lifetime_s
        while True:
            await asyncio.sleep(lifetime / 3)
            with contextlib.suppress(Exception):  # a later turn may reach Redis again
                await self._touch(keys=[key], args=[member, lifetime])

    async def touch(self, held: list[tuple[str, uuid.UUID, uuid.UUID]]) -> None:
        """Keep slots this gateway still holds: (kind, user, member) with kind `workouts`,
        `connections:device` or `connections:live`."""
        if not held:
            return
        lifetime = max(self.quotas.slot_lifetime_s, self.quotas.live_workout_lifetime_s)
        for first in range(0, len(held), 500):
            chunk = held[first:first + 500]
            await self._touch(keys=[self._slots(kind, user) for kind, user, _ in chunk],
                              args=[*(str(member) for _, _, member in chunk), lifetime])

    # -- actions per window --

    async def count(self, action: str, who: str, limit: int, window_s: int, code: str,
                    message: str) -> None:
        """Count one `action` by `who` (an account id or a client address); raise Refused
        with `code` beyond `limit` per `window_s`."""
        digest = hashlib.sha256(who.encode()).hexdigest()[:32]  # addresses stay out of key dumps
        wait_s = await self._count(keys=[keyspace.quota(self._prefix, "count", action, digest)],
                                   args=[limit, window_s])
        if wait_s:
            raise Refused(code, f"{message}; try again in {int(wait_s)} s",
                          retry_after_s=float(max(1, math.ceil(wait_s))))

    async def changed_groups_or_consents(self, user_id: uuid.UUID) -> None:
        await self.count("changes", str(user_id), self.quotas.changes_per_min, 60,
                         "too_many_changes",
                         f"more than {self.quotas.changes_per_min} group and consent changes a "
                         "minute for this account")

    async def started_oidc_flow(self, who: str) -> None:
        await self.count("oidc", who, self.quotas.oidc_flows_per_min, 60, "too_many_oidc_flows",
                         f"more than {self.quotas.oidc_flows_per_min} sign-in attempts with a "
                         "provider a minute")

    async def imported(self, user_id: uuid.UUID) -> None:
        await self.count("imports", str(user_id), self.quotas.imports_per_hour, 3600,
                         "too_many_imports",
                         f"more than {self.quotas.imports_per_hour} workout files uploaded an "
                         "hour for this account")

    async def registered(self, address: str) -> None:
        await self.count("register", address, self.quotas.registrations_per_hour, 3600,
                         "too_many_registrations",
                         f"more than {self.quotas.registrations_per_hour} new accounts an hour "
                         "from this address")
