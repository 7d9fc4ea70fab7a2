"""workout.lifecycle (WorkoutCompleted) → the leaderboards: PostgreSQL, then Redis.

A workout counts once, when it completes: its final distance goes to the day, week and
all-time boards of its sport, globally and in the athlete's country. Each batch is counted
in one transaction (idempotent, see storage/leaderboards.py), then the athletes' absolute
rows go to Redis with ZADD GT. A Redis failure after the commit is retried like any other
write: the retry counts nothing again and writes the same absolute rows. A workout the
database refuses (no such athlete, a bad value) goes to the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from storage.leaderboards import CompletedWorkout, count_completed
from streams import events, leaderboards, topics
from streams.sink import Record, batches, write_batch

if TYPE_CHECKING:
    from streams.app import Deps

BATCH_MAX = 200
BATCH_WITHIN_S = 0.1
"""Short: a completed workout should show on the boards well within a second."""


def register(app: Any, deps: Deps) -> None:
    @app.agent(deps.topic(topics.LIFECYCLE), name="leaderboards")
    async def leaderboards_agent(stream: Any) -> None:
        async for records in batches(stream, deps, (events.WorkoutCompleted,), size=BATCH_MAX,
                                     within_s=BATCH_WITHIN_S):
            await write_batch(deps, "leaderboards", records, lambda rs: _write(deps, rs))


def completed(event: events.WorkoutCompleted) -> CompletedWorkout:
    return CompletedWorkout(workout_id=event.workout_id, user_id=event.user_id,
                            sport=event.summary.sport, started_at_ms=event.summary.started_at_ms,
                            distance_m=event.summary.distance_m)


async def _write(deps: Deps, records: Sequence[Record[events.WorkoutCompleted]]) -> int:
    pool = await deps.pool()
    async with pool.connection() as conn:
        standings = await count_completed(conn, [completed(r.event) for r in records])
    return await leaderboards.apply_standings(deps.redis, deps.config.redis_prefix, standings)
