"""The live path: a host's workouts → Redis, straight from the actor, newest wins.

Kafka stays the durable record (samples, metrics, lifecycle: the sinks and the projections
read it); the coaches' live view does not wait for it. Each host hands its live events here
as it makes them, and one task per host writes them to Redis: for every workout only the
newest update waiting (an older one still waiting is replaced, and counted as dropped), and
every risk alert. A slow Redis therefore costs coaches intermediate values, never latency
that grows, and never holds up an acknowledgement.

What goes out, per workout (storage/keyspace.py): `…:live:state:{id}`, its newest update,
JSON, for a coach who opens the view later; and the same payload on the athlete's channel
`…:live:athlete:{id}`, which the gateways subscribe to for the feeds they serve. There is no
group channel: who may watch an athlete is decided by the gateway when a coach subscribes
and re-checked while the feed is open (gateway/live.py), so no path publishes a group's
view without the athletes' consent. Health fields are filtered by the gateway, through the
one field policy (privacy/health.py), before anything reaches a coach.

At rest the state is sealed with the athlete's data key (privacy/sealed_values.py; the key
name is the associated data), so a Redis dump or replica holds no position or heart rate and
erasure's key shredding makes a copy unreadable; the gateway opens it for a coach's snapshot
(streams/live.py). The channel carries the update plain: a published message is not stored
anywhere, it goes from Redis to the subscribed gateways over their connection (TLS where
Redis is reached over TLS), and opening every update in every gateway would cost a key
lookup and a decryption per update for nothing kept. An update of an athlete erased
meanwhile (no key any more) is neither stored nor published.

A restarted host folds again from its last snapshot and may make updates a coach has seen
already: a version kept beside the state makes Redis refuse an update older than the one it
holds, so the view never steps back in time.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from typing import Any

import msgspec

from privacy import sealed_values
from privacy.keys import DataKeys, Shredded
from storage import keyspace
from streams import events, live

log = logging.getLogger("stride.live")

LIVE_EVENTS = (events.WorkoutMetricsUpdated, events.WorkoutStarted, events.WorkoutPaused,
               events.WorkoutResumed, events.WorkoutCompleted)
RETRY_AFTER_S = 0.5
"""After a failed write, wait this long (the updates waiting meanwhile conflate)."""

NEWER_ONLY = """
local held = redis.call('GET', KEYS[2])
if held and tonumber(held) > tonumber(ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
"""
"""Store (ARGV[1], sealed) and publish (ARGV[5], plain) a workout's update unless Redis holds
a newer version of it."""


class LiveStats(msgspec.Struct, frozen=True, kw_only=True):
    published: int
    """Updates and alerts written to Redis."""
    dropped: int
    """Updates replaced by a newer one of the same workout before they went out, or lost
    with a failed write (the next update of the workout supersedes them anyway), or of an
    athlete erased meanwhile."""
    stale: int
    """Updates Redis refused because it held a newer one (after a host restart)."""


class LivePublisher:
    """One per host. `offer` never blocks; a task of its own does the writing."""

    def __init__(self, redis: Any, prefix: str, keys: DataKeys | None = None) -> None:
        """Without `keys` the state is stored plain (tests of the publisher alone)."""
        self._redis = redis
        self._prefix = prefix
        self._keys = keys
        self._script = redis.register_script(NEWER_ONLY)
        self._waiting: dict[uuid.UUID, Any] = {}
        self._alerts: list[events.RiskAlert] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.published = self.dropped = self.stale = 0
        self._reported = LiveStats(published=0, dropped=0, stale=0)
        """What the stats hash in Redis has heard from this host (it lags one write)."""

    def offer(self, produced: Iterable[events.AnyEvent]) -> None:
        """Queue the live events among `produced` (anything else is ignored)."""
        for event in produced:
            if isinstance(event, events.RiskAlert):
                self._alerts.append(event)
            elif isinstance(event, LIVE_EVENTS):
                if self._waiting.get(event.workout_id) is not None:
                    self.dropped += 1
                self._waiting[event.workout_id] = event
            else:
                continue
            self._wake.set()
            self._idle.clear()
        if self._wake.is_set() and self._task is None:
            self._task = asyncio.create_task(self._run(), name="live-publisher")

    def stats(self) -> LiveStats:
        return LiveStats(published=self.published, dropped=self.dropped, stale=self.stale)

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait until nothing waits (tests, and a host about to exit)."""
        await asyncio.wait_for(self._idle.wait(), timeout_s)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            updates, alerts = list(self._waiting.values()), self._alerts
            self._waiting, self._alerts = {}, []
            self._wake.clear()
            try:
                await self._write(updates, alerts)
            except Exception as exc:  # Redis away: coaches resynchronise when it is back
                self.dropped += len(updates) + len(alerts)
                log.warning("live updates not written (%s); %d dropped", exc, len(updates) + len(alerts))
                await asyncio.sleep(RETRY_AFTER_S)
            if not self._wake.is_set():
                self._idle.set()

    async def _stored(self, updates: list[Any]) -> list[tuple[Any, bytes, bytes]]:
        """(event, payload, value to store) of each update whose athlete still has a key."""
        out = []
        for event in updates:
            payload = msgspec.json.encode(live.live_update(event))
            if self._keys is None:
                out.append((event, payload, payload))
                continue
            try:
                key = await self._keys.for_user(event.user_id)
            except Shredded:
                self.dropped += 1
                continue
            state_key = keyspace.live_state(self._prefix, event.workout_id)
            out.append((event, payload, sealed_values.seal_value(key, state_key, payload)))
        return out

    async def _write(self, all_updates: list[Any], alerts: list[events.RiskAlert]) -> None:
        prefix = self._prefix
        updates = await self._stored(all_updates)
        async with self._redis.pipeline(transaction=False) as pipe:
            for event, payload, value in updates:
                ttl = live.FINISHED_TTL_S if event.summary.status == "finished" else live.STATE_TTL_S
                await self._script(keys=[keyspace.live_state(prefix, event.workout_id),
                                         keyspace.live_version(prefix, event.workout_id)],
                                   args=[value, event.summary.version, ttl,
                                         keyspace.live_athlete(prefix, event.user_id), payload],
                                   client=pipe)
            for alert in alerts:  # alerts are not state: each goes out
                pipe.publish(keyspace.live_athlete(prefix, alert.user_id),
                             msgspec.json.encode(live.live_alert(alert)))
            now, before = self.stats(), self._reported
            for field in ("published", "dropped", "stale"):
                if grown := getattr(now, field) - getattr(before, field):
                    pipe.hincrby(keyspace.live_stats(prefix), field, grown)
            written = await pipe.execute()
        self._reported = now
        refused = sum(1 for result in written[:len(updates)] if result == 0)
        self.stale += refused
        self.published += len(updates) - refused + len(alerts)
