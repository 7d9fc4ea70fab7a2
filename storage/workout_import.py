"""An uploaded workout stored as the stream sinks store a streamed one.

The gateway replays the file's samples through the workout actor's own code
(actors/replay.py); its events are written here, in one transaction, to the tables their
sinks write — samples, metrics snapshots (and the native per-minute rollup), the summary
— then the GPS path is built and the workout is counted on the leaderboards, so the
answer to the upload is a workout complete in every read. (A streamed workout reaches
these tables through Kafka; an upload is history, not live: nothing goes to the live
feed, and no injury-risk alert is sent about a workout that is over.)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from psycopg import AsyncConnection

from storage import leaderboards, samples, timeseries, workout_ids, workouts
from streams import events


class IdTaken(Exception):
    """The id belongs to another account (a fresh random id makes this all but impossible)."""


async def store_import(conn: AsyncConnection, workout_id: uuid.UUID, user_id: uuid.UUID,
                       title: str | None, produced: Sequence[events.AnyEvent]
                       ) -> list[leaderboards.Standing]:
    """Write a replayed workout; returns the leaderboard rows to write to Redis."""
    done = produced[-1]
    assert isinstance(done, events.WorkoutCompleted)
    summary = done.summary
    async with conn.transaction():
        if not await workout_ids.claim(conn, workout_id, user_id):
            raise IdTaken(str(workout_id))
        await samples.write_samples(
            conn, [e for e in produced if isinstance(e, events.SamplesAccepted)])
        await timeseries.write_metrics(
            conn, [e for e in produced if isinstance(e, events.WorkoutMetricsUpdated)])
        await workouts.project_summary(conn, workout_id, user_id, summary)
        if title is not None:
            await conn.execute("UPDATE workouts SET title = %s WHERE id = %s", (title, workout_id))
        await workouts.build_gps_path(conn, workout_id)
        return await leaderboards.count_completed(conn, [leaderboards.CompletedWorkout(
            workout_id=workout_id, user_id=user_id, sport=summary.sport,
            started_at_ms=summary.started_at_ms, distance_m=summary.distance_m)])
