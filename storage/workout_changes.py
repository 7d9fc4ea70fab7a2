"""Changes an athlete makes to a stored workout: its title, and deleting it with everything
derived from it.

Where a workout's data lives (what `delete_workout` removes):
- `workouts` — the summary and the GPS path (0002, 0005), the title (0014);
- `sensor_data` — the samples; `workout_metrics` — the live metric snapshots, and their
  per-minute rollup `workout_metrics_1m` (a table natively, a continuous aggregate with
  TimescaleDB, refreshed over the workout's time instead: see `refresh_rollup`). None of
  these has a foreign key to `workouts` (0002), so each is deleted by `workout_id`;
- `leaderboard_entries` and the `leaderboard` rows it counted into (0006): taken off with
  storage/leaderboards.recount (the Redis boards follow in the caller);
- `notification_logs` — risk alerts about it, to the athlete and their coaches; the table
  has no workout column, the dedupe key names it (storage/notifications.py);
- `recommendations` — a set made after it (`items.after_workout`); `inference_log` — the
  model calls it triggered or names (health-derived inputs);
- `user_achievements.workout_id` — set NULL by its foreign key: a badge once earned stays.
Redis (storage/keyspace.py): the actor's snapshot and journal, the placement, the live
state and version, a cached recommendation set made after it — `redis_keys`.

The `workout_ids` row stays, with `deleted_at` set (0014): the id remains its owner's for
ever, and every writer of workout data skips a deleted id, so an event still on its way
through Kafka cannot bring back what was deleted.
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from psycopg import AsyncConnection

from storage import keyspace
from storage import leaderboards as boards
from storage.notifications import RISK_ALERT
from storage.timeseries import dialect_of


async def set_title(conn: AsyncConnection, workout_id: uuid.UUID, title: str | None) -> None:
    """Name the workout (None: take the name away)."""
    await conn.execute("UPDATE workouts SET title = %s, updated_at = now() WHERE id = %s",
                       (title, workout_id))


class Deleted(msgspec.Struct, frozen=True, kw_only=True):
    rows: dict[str, int]
    """Rows deleted per table."""
    boards: boards.Retracted
    """The leaderboard rows to write to Redis."""


async def mark_deleted(conn: AsyncConnection, workout_id: uuid.UUID) -> None:
    """The tombstone, committed before the data goes: from then on every writer skips the id."""
    await conn.execute("UPDATE workout_ids SET deleted_at = coalesce(deleted_at, now())"
                       " WHERE id = %s", (workout_id,))


async def delete_workout(conn: AsyncConnection, workout_id: uuid.UUID,
                         athlete_id: uuid.UUID) -> Deleted:
    """Delete the workout and every row derived from it, in one transaction (after
    `mark_deleted` has committed). Returns the rows deleted per table."""
    statements = {
        "sensor_data": ("DELETE FROM sensor_data WHERE workout_id = %(w)s", True),
        "workout_metrics": ("DELETE FROM workout_metrics WHERE workout_id = %(w)s", True),
        "workout_metrics_1m": ("DELETE FROM workout_metrics_1m WHERE workout_id = %(w)s", False),
        "notification_logs": ("DELETE FROM notification_logs WHERE dedupe_key LIKE %(alerts)s", True),
        "recommendations": ("DELETE FROM recommendations WHERE user_id = %(athlete)s"
                            " AND items->>'after_workout' = %(w)s::text", True),
        "inference_log": ("DELETE FROM inference_log WHERE workout_id = %(w)s"
                          " OR trigger_id = %(w)s", True),
        "workouts": ("DELETE FROM workouts WHERE id = %(w)s", True),
    }
    native = await dialect_of(conn) == "native"
    params = {"w": workout_id, "athlete": athlete_id,
              "alerts": f"{RISK_ALERT}:{workout_id}:%"}
    rows: dict[str, int] = {}
    async with conn.transaction():
        for table, (sql, always) in statements.items():
            if always or native:  # the continuous aggregate is refreshed instead
                cur = await conn.execute(sql, params)
                rows[table] = cur.rowcount
        retracted = await boards.recount(conn, workout_id)
    rows["leaderboard_entries"] = 1 if retracted.standings or retracted.emptied else 0
    return Deleted(rows=rows, boards=retracted)


async def refresh_rollup(conn: AsyncConnection, start: dt.datetime, end: dt.datetime) -> None:
    """With TimescaleDB, recompute the per-minute aggregate over a deleted workout's time
    (a continuous aggregate keeps what it materialized until refreshed; CALL cannot run in a
    transaction, hence autocommit for this one statement). Natively nothing to do."""
    if await dialect_of(conn) != "timescaledb":
        return
    await conn.commit()
    await conn.set_autocommit(True)
    try:
        await conn.execute("CALL refresh_continuous_aggregate('workout_metrics_1m', %s, %s)",
                           (start - dt.timedelta(minutes=1), end + dt.timedelta(minutes=1)))
    finally:
        await conn.set_autocommit(False)


def redis_keys(prefix: str, workout_id: uuid.UUID) -> list[str]:
    """The workout's own Redis keys (a cached recommendation set is checked separately)."""
    return [keyspace.snapshot(prefix, workout_id), keyspace.journal(prefix, workout_id),
            keyspace.placement(prefix, workout_id), keyspace.live_state(prefix, workout_id),
            keyspace.live_version(prefix, workout_id)]
