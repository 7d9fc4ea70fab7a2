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


# A workout its athlete deleted (workout_ids.deleted_at, 0014) is never written again, so a
# summary still in flight cannot bring it back.
_PROJECT = """
    INSERT INTO workouts AS w (id, user_id, sport, status, start_time, end_time, distance_m,
        duration_s, moving_time_s, elevation_gain_m, calories_kcal, last_seq, samples_count,
        version, summary, updated_at)
    SELECT %(id)s::uuid, %(user)s::uuid, %(sport)s::text, %(status)s::text,
        %(start)s::timestamptz, %(end)s::timestamptz, %(dist)s::float8, %(dur)s::float8,
        %(moving)s::float8, %(gain)s::float8, %(kcal)s::float8, %(last_seq)s::bigint,
        %(count)s::bigint, %(version)s::bigint, %(summary)s::jsonb, now()
    WHERE NOT EXISTS (SELECT 1 FROM workout_ids d
                      WHERE d.id = %(id)s::uuid AND d.deleted_at IS NOT NULL)
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


async def replace_summary(conn: AsyncConnection, workout_id: uuid.UUID, summary: WorkoutSummary,
                          expected_version: int) -> bool:
    """Store a summary computed again for a finished workout (a corrected sport), sport
    included, unless the row changed since `expected_version` was read; True if stored. The
    summary's own `version` must be higher, so no summary still in flight replaces it."""
    assert summary.version > expected_version
    params = _projected(workout_id, uuid.UUID(int=0), summary) | {"expected": expected_version}
    cur = await conn.execute(
        """
        UPDATE workouts SET sport = %(sport)s, end_time = %(end)s, distance_m = %(dist)s,
            duration_s = %(dur)s, moving_time_s = %(moving)s, elevation_gain_m = %(gain)s,
            calories_kcal = %(kcal)s, last_seq = %(last_seq)s, samples_count = %(count)s,
            version = %(version)s, summary = %(summary)s, updated_at = now()
        WHERE id = %(id)s AND version = %(expected)s AND status = 'finished'
        """, params)
    return cur.rowcount == 1


class WorkoutRow(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    user_id: uuid.UUID
    summary: WorkoutSummary
    updated_at: dt.datetime
    title: str | None = None
    """The athlete's name for it (0014); None until they give one."""


_ROW_COLUMNS = "id, user_id, summary::text, updated_at, title"


def _row(r: tuple[object, ...]) -> WorkoutRow:
    return WorkoutRow(id=r[0], user_id=r[1], summary=_summary_decoder.decode(r[2]),  # type: ignore[arg-type]
                      updated_at=r[3], title=r[4])  # type: ignore[arg-type]


async def get_workout(conn: AsyncConnection, workout_id: uuid.UUID) -> WorkoutRow | None:
    cur = await conn.execute(f"SELECT {_ROW_COLUMNS} FROM workouts WHERE id = %s", (workout_id,))
    row = await cur.fetchone()
    return None if row is None else _row(row)


class Cursor(msgspec.Struct, frozen=True, array_like=True):
    """Where a page of an athlete's workouts ended: (start time, id) of its last row."""

    start_time: dt.datetime
    id: uuid.UUID


class Filters(msgspec.Struct, frozen=True, kw_only=True):
    """Which of an athlete's workouts a list shows (every one by default)."""

    sport: str | None = None
    status: str | None = None
    started_from: dt.datetime | None = None
    """Started at or after this."""
    started_before: dt.datetime | None = None
    title_contains: str | None = None
    """Case-insensitive substring of the title (workouts without a title never match)."""


async def list_workouts(conn: AsyncConnection, user_id: uuid.UUID, limit: int = 50,
                        after: Cursor | None = None, access: Access | None = None,
                        filters: Filters | None = None) -> list[WorkoutRow]:
    """An athlete's workouts, newest first; `after` continues from a previous page. With
    `access`, only the workouts it covers (storage/consents.py: Access.covers); with
    `filters`, only those that match them all."""
    access = access or Access(full=True)
    f = filters or Filters()
    cur = await conn.execute(
        f"""
        SELECT {_ROW_COLUMNS} FROM workouts
        WHERE user_id = %(user)s
          AND (%(start)s::timestamptz IS NULL OR (start_time, id) < (%(start)s, %(id)s))
          AND (%(full)s
               OR (%(history)s AND (%(from)s::timestamptz IS NULL OR start_time >= %(from)s))
               OR (%(live)s AND (status <> 'finished' OR end_time > now() - %(afterglow)s)))
          AND (%(sport)s::text IS NULL OR sport = %(sport)s)
          AND (%(status)s::text IS NULL OR status = %(status)s)
          AND (%(since)s::timestamptz IS NULL OR start_time >= %(since)s)
          AND (%(before)s::timestamptz IS NULL OR start_time < %(before)s)
          AND (%(q)s::text IS NULL OR strpos(lower(title), lower(%(q)s)) > 0)
        ORDER BY start_time DESC, id DESC
        LIMIT %(n)s
        """,
        {"user": user_id, "start": after.start_time if after else None,
         "id": after.id if after else None, "n": limit, "full": access.full,
         "history": access.history, "from": access.history_from, "live": access.live,
         "afterglow": LIVE_AFTERGLOW, "sport": f.sport, "status": f.status,
         "since": f.started_from, "before": f.started_before, "q": f.title_contains},
    )
    return [_row(r) for r in await cur.fetchall()]


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
