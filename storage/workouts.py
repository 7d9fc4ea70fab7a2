"""The `workouts` read model: fed by the workout events, read by the REST API."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import msgspec
from psycopg import AsyncConnection

from storage.consents import LIVE_AFTERGLOW, Access
from streams.events import WorkoutSummary

_summary_json = msgspec.json.Encoder()
_summary_decoder = msgspec.json.Decoder(WorkoutSummary)


def _ts(ms: int | None) -> dt.datetime | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


_PROJECT = """
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
"""


def _projected(workout_id: uuid.UUID, user_id: uuid.UUID, summary: WorkoutSummary) -> dict[str, object]:
    return {
        "id": workout_id, "user": user_id, "sport": summary.sport, "status": summary.status,
        "start": _ts(summary.started_at_ms), "end": _ts(summary.ended_at_ms),
        "dist": summary.distance_m, "dur": summary.duration_s,
        "moving": summary.moving_time_s, "gain": summary.elevation_gain_m,
        "kcal": summary.calories_kcal, "last_seq": summary.last_seq,
        "count": summary.samples_count, "version": summary.version,
        "summary": _summary_json.encode(summary).decode(),
    }


async def project_summary(
    conn: AsyncConnection, workout_id: uuid.UUID, user_id: uuid.UUID, summary: WorkoutSummary
) -> bool:
    """Upsert the workout row from a summary unless a newer one is already stored.

    Returns True if the row changed. Events reach the projection from several topics in
    any order; `version` decides which summary is newest.
    """
    cur = await conn.execute(_PROJECT, _projected(workout_id, user_id, summary))
    return cur.rowcount == 1


async def project_summaries(
    conn: AsyncConnection, summaries: Sequence[tuple[uuid.UUID, uuid.UUID, WorkoutSummary]]
) -> None:
    """`project_summary` for many workouts in one round trip (psycopg pipelines executemany)."""
    async with conn.cursor() as cur:
        await cur.executemany(_PROJECT, [_projected(*item) for item in summaries])


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


class Cursor(msgspec.Struct, frozen=True, array_like=True):
    """Where a page of an athlete's workouts ended: (start time, id) of its last row."""

    start_time: dt.datetime
    id: uuid.UUID


async def list_workouts(conn: AsyncConnection, user_id: uuid.UUID, limit: int = 50,
                        after: Cursor | None = None, access: Access | None = None) -> list[WorkoutRow]:
    """An athlete's workouts, newest first; `after` continues from a previous page. With
    `access`, only the workouts it covers (storage/consents.py: Access.covers)."""
    access = access or Access(full=True)
    cur = await conn.execute(
        """
        SELECT id, user_id, summary::text, updated_at FROM workouts
        WHERE user_id = %(user)s
          AND (%(start)s::timestamptz IS NULL OR (start_time, id) < (%(start)s, %(id)s))
          AND (%(full)s
               OR (%(history)s AND (%(from)s::timestamptz IS NULL OR start_time >= %(from)s))
               OR (%(live)s AND (status <> 'finished' OR end_time > now() - %(afterglow)s)))
        ORDER BY start_time DESC, id DESC
        LIMIT %(n)s
        """,
        {"user": user_id, "start": after.start_time if after else None,
         "id": after.id if after else None, "n": limit, "full": access.full,
         "history": access.history, "from": access.history_from, "live": access.live,
         "afterglow": LIVE_AFTERGLOW},
    )
    return [
        WorkoutRow(id=r[0], user_id=r[1], summary=_summary_decoder.decode(r[2]), updated_at=r[3])
        for r in await cur.fetchall()
    ]


async def live_or_recent(conn: AsyncConnection, athletes: set[uuid.UUID],
                         finished_within: dt.timedelta) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """(id, athlete, summary JSON) of the athletes' workouts that are live or finished within
    `finished_within`, oldest first: what a coach's live view starts from."""
    cur = await conn.execute(
        "SELECT id, user_id, summary::text FROM workouts WHERE user_id = ANY(%s)"
        " AND (status <> 'finished' OR end_time > now() - %s) ORDER BY start_time",
        (list(athletes), finished_within))
    return [(r[0], r[1], r[2]) for r in await cur.fetchall()]


def cursor_of(row: WorkoutRow) -> Cursor:
    started = _ts(row.summary.started_at_ms)
    assert started is not None
    return Cursor(started, row.id)


# --- GPS path ---------------------------------------------------------------------------

PATH_MAX_POINTS = 1000


async def pending_gps_paths(conn: AsyncConnection, limit: int = 100) -> list[uuid.UUID]:
    """Finished workouts without a GPS path yet, longest waiting first."""
    cur = await conn.execute(
        "SELECT id FROM workouts WHERE status = 'finished' AND gps_path IS NULL"
        " ORDER BY end_time LIMIT %s", (limit,))
    return [r[0] for r in await cur.fetchall()]


async def build_gps_path(conn: AsyncConnection, workout_id: uuid.UUID,
                         give_up_after_s: float | None = None) -> bool:
    """Store a finished workout's route as GeoJSON, evenly thinned to ≤ PATH_MAX_POINTS.

    Waits (returns False) while fewer samples are stored than the workout counted, unless
    it ended more than `give_up_after_s` ago. A workout without GPS gets an empty
    GeometryCollection, so it is not scanned again.
    """
    cur = await conn.execute(
        """
        SELECT w.samples_count, w.end_time < now() - make_interval(secs => %(give_up)s),
               (SELECT count(*) FROM sensor_data s WHERE s.workout_id = w.id)
        FROM workouts w
        WHERE w.id = %(w)s AND w.status = 'finished' AND w.gps_path IS NULL
        """,
        {"w": workout_id, "give_up": give_up_after_s},
    )
    row = await cur.fetchone()
    if row is None:
        return False
    expected, overdue, stored = row
    if stored < expected and not overdue:
        return False
    cur = await conn.execute(
        """
        WITH points AS (
            SELECT lon, lat, row_number() OVER (ORDER BY seq) - 1 AS i, count(*) OVER () AS n
            FROM sensor_data WHERE workout_id = %(w)s AND lat IS NOT NULL
        )
        SELECT lon, lat FROM points
        WHERE i %% greatest(1, ceil(n / %(max)s::float8)::bigint) = 0 OR i = n - 1
        ORDER BY i
        """,
        {"w": workout_id, "max": PATH_MAX_POINTS},
    )
    coordinates = [[round(lon, 6), round(lat, 6)] for lon, lat in await cur.fetchall()]
    path = ({"type": "LineString", "coordinates": coordinates} if len(coordinates) >= 2
            else {"type": "GeometryCollection", "geometries": []})
    cur = await conn.execute(
        "UPDATE workouts SET gps_path = %s WHERE id = %s AND gps_path IS NULL",
        (_summary_json.encode(path).decode(), workout_id))
    return cur.rowcount == 1


async def gps_path_of(conn: AsyncConnection, workout_id: uuid.UUID) -> dict[str, object] | None:
    cur = await conn.execute("SELECT gps_path::text FROM workouts WHERE id = %s", (workout_id,))
    row = await cur.fetchone()
    return None if row is None or row[0] is None else msgspec.json.decode(row[0])
