"""REST: `GET /v1/workouts/{id}/splits` — a workout kilometre by kilometre, and its time in
heart-rate zones.

Each split: its number, distance, time and the time elapsed at its end, pace, climb and
descent, average heart rate — computed from the stored samples by the actor's metrics
(actors/split_table.py), so the splits add up to the workout's distance. The zone times are
the workout summary's own. Whoever may read the workout may read its splits (as its
samples); heart rate and zones go out only as privacy/health.py allows (null for partners).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
from litestar import Request, get

from actors.split_table import SplitRow, split_table
from gateway.access import reads_health_data
from gateway.workouts_api import visible_workout
from privacy import health
from storage import samples as samples_repo


class SplitsOut(msgspec.Struct, frozen=True, kw_only=True):
    workout_id: uuid.UUID
    status: str
    """A live workout's splits are those of its samples stored so far."""
    sport: str
    distance_m: float
    """The splits' total."""
    splits: list[SplitRow]
    hr_zone_s: list[float] | None
    """Seconds in heart-rate zones 1–5 (health data)."""


@get("/v1/workouts/{workout_id:uuid}/splits",
     summary="A workout's kilometre splits (distance, time, pace, climb, heart rate) and its "
             "time in heart-rate zones")
async def get_splits(request: Request[Any, Any, Any], workout_id: uuid.UUID) -> SplitsOut:
    row = await visible_workout(request, workout_id)
    async with request.app.state.pool.connection() as conn:
        samples = await samples_repo.all_samples(conn, workout_id)
    rows = await asyncio.to_thread(split_table, samples, row.summary.sport)
    out = SplitsOut(workout_id=workout_id, status=row.summary.status, sport=row.summary.sport,
                    distance_m=sum(r.distance_m for r in rows), splits=rows,
                    hr_zone_s=row.summary.hr_zone_s)
    return out if reads_health_data(request, row.user_id, "splits", row.id) else health.redact_struct(out)


ROUTES = [get_splits]
