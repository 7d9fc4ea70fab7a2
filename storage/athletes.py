"""What a workout needs to know about its athlete when it starts: profile and load history."""

from __future__ import annotations

import datetime as dt
import uuid

from psycopg import AsyncConnection

from actors.metrics.risk import HISTORY_DAYS
from actors.profile import AthleteProfile


async def profile_of(conn: AsyncConnection, user_id: uuid.UUID, today: dt.date) -> AthleteProfile:
    cur = await conn.execute(
        "SELECT birth_date, sex, weight_kg, hr_rest, hr_max, vo2max FROM users WHERE id = %s",
        (user_id,))
    row = await cur.fetchone()
    if row is None:
        return AthleteProfile()
    birth, sex, weight, hr_rest, hr_max, vo2max = row
    age = (today - birth).days / 365.25 if birth else None
    try:
        return AthleteProfile(age_y=age, sex=sex, weight_kg=weight, hr_rest_bpm=hr_rest,
                              hr_max_bpm=hr_max, vo2max=vo2max)
    except ValueError:  # an inconsistent profile must not stop a workout: use the defaults
        return AthleteProfile(age_y=age, sex=sex, weight_kg=weight)


async def daily_loads(conn: AsyncConnection, user_id: uuid.UUID, today: dt.date,
                      days: int = HISTORY_DAYS, *,
                      excluding: uuid.UUID | None = None) -> list[tuple[dt.date, float]]:
    """Training load (Banister TRIMP) per UTC day of finished workouts, `days` days before
    `today` (pass tomorrow to include today), leaving out the workout `excluding`."""
    cur = await conn.execute(
        """
        SELECT (start_time AT TIME ZONE 'UTC')::date AS day,
               sum(coalesce((summary->>'trimp')::float8, 0))
        FROM workouts
        WHERE user_id = %s AND status = 'finished'
          AND start_time >= %s::date - %s AND start_time < %s::date
          AND id IS DISTINCT FROM %s::uuid
        GROUP BY day ORDER BY day
        """,
        (user_id, today, days, today, excluding),
    )
    return [(r[0], float(r[1])) for r in await cur.fetchall()]
