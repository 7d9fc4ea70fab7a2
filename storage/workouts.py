"""The `workouts` read model: fed by the workout events, read by the REST API."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from psycopg import AsyncConnection

from streams.events import WorkoutSummary

_summary_json = msgspec.json.Encoder()
_summary_decoder = msgspec.json.Decoder(WorkoutSummary)


def _ts(ms: int | None) -> dt.datetime | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


async def project_summary(
    conn: AsyncConnection, workout_id: uuid.UUID, user_id: uuid.UUID, summary: WorkoutSummary
) -> bool:
    """Upsert the workout row from a summary unless a newer one is already stored.

    Returns True if the row changed. Events reach the projection from several topics in
    any order; `version` decides which summary is newest.
    """
    cur = await conn.execute(
        """
        INSERT INTO workouts AS w (id, user_id, sport, status, start_time, end_time, distance_m,
            duration_s, moving_time_s, elevation_gain_m, calories_kcal, last_seq, samples_count,
            version, summary, updated_at)
        VALUES (%(id)s, %(user)s, %(sport)s, %(status)s, %(start)s, %(end)s, %(dist)s,
            %(dur)s, %(moving)s, %(gain)s, %(kcal)s, %(last_seq)s, %(count)s, %(version)s,
            %(summary)s, now())
        ON CONFLICT (id) DO UPDATE SET
            status = EXCLUDED.status, end_time = EXCLUDED.end_time,
            distance_m = EXCLUDED.distance_m, duration_s = EXCLUDED.duration_s,
            moving_time_s = EXCLUDED.moving_time_s, elevation_gain_m = EXCLUDED.elevation_gain_m,
            calories_kcal = EXCLUDED.calories_kcal, last_seq = EXCLUDED.last_seq,
            samples_count = EXCLUDED.samples_count, version = EXCLUDED.version,
            summary = EXCLUDED.summary, updated_at = now()
        WHERE w.version < EXCLUDED.version
        """,
        {
            "id": workout_id, "user": user_id, "sport": summary.sport, "status": summary.status,
            "start": _ts(summary.started_at_ms), "end": _ts(summary.ended_at_ms),
            "dist": summary.distance_m, "dur": summary.duration_s,
            "moving": summary.moving_time_s, "gain": summary.elevation_gain_m,
            "kcal": summary.calories_kcal, "last_seq": summary.last_seq,
            "count": summary.samples_count, "version": summary.version,
            "summary": _summary_json.encode(summary).decode(),
        },
    )
    return cur.rowcount == 1


class WorkoutRow(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    user_id: uuid.UUID
    summary: WorkoutSummary
    updated_at: dt.datetime


async def get_workout(conn: AsyncConnection, workout_id: uuid.UUID) -> WorkoutRow | None:
    cur = await conn.execute(
        "SELECT id, user_id, summary::text, updated_at FROM workouts WHERE id = %s", (workout_id,)
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return WorkoutRow(id=row[0], user_id=row[1], summary=_summary_decoder.decode(row[2]),
                      updated_at=row[3])


async def list_workouts(conn: AsyncConnection, user_id: uuid.UUID, limit: int = 50) -> list[WorkoutRow]:
    cur = await conn.execute(
        "SELECT id, user_id, summary::text, updated_at FROM workouts WHERE user_id = %s"
        " ORDER BY start_time DESC LIMIT %s",
        (user_id, limit),
    )
    return [
        WorkoutRow(id=r[0], user_id=r[1], summary=_summary_decoder.decode(r[2]), updated_at=r[3])
        for r in await cur.fetchall()
    ]
