"""workout.metrics + workout.lifecycle + risk.alerts → Redis: each workout's live state and
the pub/sub channels a coach's live view listens to (per workout, per athlete, per group).

Only the newest summary event of each workout in a batch goes out: after a backlog a coach
wants where the athlete is now, not a replay. Every risk alert goes out. Group channels
follow the athletes' active live consents, looked up in PostgreSQL and cached for
`CONSENTS_TTL_S`; the gateway checks access again on every feed it serves.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from storage import keyspace
from streams import events, live, topics
from streams.sink import Record, batches, write_batch

if TYPE_CHECKING:
    from streams.app import Deps

CONSENTS_TTL_S = 2.0
LIVE_EVENTS = (events.WorkoutMetricsUpdated, events.WorkoutStarted, events.WorkoutPaused,
               events.WorkoutResumed, events.WorkoutCompleted)


class ConsentCache:
    """athlete → groups they belong to and let watch them live, refreshed after `ttl_s`."""

    def __init__(self, deps: Deps, ttl_s: float = CONSENTS_TTL_S) -> None:
        self._deps = deps
        self._ttl_s = ttl_s
        self._groups: dict[uuid.UUID, tuple[float, list[uuid.UUID]]] = {}

    async def groups_of(self, athletes: set[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        now = time.monotonic()
        stale = [a for a in athletes if a not in self._groups or self._groups[a][0] < now]
        if stale:
            pool = await self._deps.pool()
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT c.athlete_id, c.group_id FROM consents c JOIN user_groups member"
                    " ON member.group_id = c.group_id AND member.user_id = c.athlete_id"
                    " WHERE c.athlete_id = ANY(%s) AND c.scope = 'live' AND c.withdrawn_at IS NULL",
                    (stale,))
                found: dict[uuid.UUID, list[uuid.UUID]] = {a: [] for a in stale}
                for athlete, group in await cur.fetchall():
                    found[athlete].append(group)
            for athlete, groups in found.items():
                self._groups[athlete] = (now + self._ttl_s, groups)
        return {a: self._groups[a][1] for a in athletes}


def register(app: Any, deps: Deps) -> None:
    source = app.topic(deps.config.topic_prefix + topics.METRICS,
                       deps.config.topic_prefix + topics.LIFECYCLE,
                       deps.config.topic_prefix + topics.RISK_ALERTS,
                       key_serializer="raw", value_serializer="raw")
    consents = ConsentCache(deps)
    newer_only = deps.redis.register_script(NEWER_ONLY)

    @app.agent(source, name="live_fanout")
    async def live_fanout(stream: Any) -> None:
        async for records in batches(stream, deps, (*LIVE_EVENTS, events.RiskAlert), size=1000,
                                     within_s=0.01):
            newest: dict[uuid.UUID, Record[Any]] = {}
            alerts = []
            for record in records:
                if isinstance(record.event, events.RiskAlert):
                    alerts.append(record)
                    continue
                seen = newest.get(record.event.workout_id)
                if seen is None or seen.event.summary.version <= record.event.summary.version:
                    newest[record.event.workout_id] = record
            await write_batch(deps, "live fan-out", [*newest.values(), *alerts],
                              lambda rs: _publish(deps, consents, newer_only, rs))


NEWER_ONLY = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, state = pcall(cjson.decode, current)
  if ok and state['summary'] and tonumber(state['summary']['version']) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
for i = 4, #ARGV do
  redis.call('PUBLISH', ARGV[i], ARGV[1])
end
return 1
"""
"""Store a workout's live state and publish it, unless Redis already holds a newer version:
a redelivered or late event never takes a coach's view back in time."""


async def _publish(deps: Deps, consents: ConsentCache, newer_only: Any,
                   records: Sequence[Record[Any]]) -> None:
    prefix = deps.config.redis_prefix
    groups = await consents.groups_of({r.event.user_id for r in records})
    async with deps.redis.pipeline(transaction=False) as pipe:
        for record in records:
            event = record.event
            channels = [keyspace.live_workout(prefix, event.workout_id),
                        keyspace.live_athlete(prefix, event.user_id),
                        *(keyspace.live_group(prefix, group) for group in groups[event.user_id])]
            if isinstance(event, events.RiskAlert):  # alerts are not state: each goes out
                payload = msgspec.json.encode(live.live_alert(event))
                for channel in channels:
                    pipe.publish(channel, payload)
                continue
            payload = msgspec.json.encode(live.live_update(event))
            ttl = live.FINISHED_TTL_S if event.summary.status == "finished" else live.STATE_TTL_S
            await newer_only(keys=[keyspace.live_state(prefix, event.workout_id)],
                             args=[payload, event.summary.version, ttl, *channels], client=pipe)
        await pipe.execute()
