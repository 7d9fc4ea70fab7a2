"""REST: an athlete's workouts (paginated), one workout, its samples (downsampled when the
range is long), its per-minute metrics and its GPS path."""

from __future__ import annotations

import datetime as dt
import urllib.parse
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.params import Parameter

from gateway import cursors
from gateway.access import principal_of, sees_health_data, visible_athlete
from gateway.errors import ApiError
from storage import samples as samples_repo
from storage import timeseries
from storage import workouts as workouts_repo


class RiskOut(msgspec.Struct, frozen=True, kw_only=True):
    level: str
    acwr: float | None
    reasons: list[str]


class SplitOut(msgspec.Struct, frozen=True, kw_only=True):
    km: int
    time_s: float
    avg_hr: float | None


class WorkoutOut(msgspec.Struct, frozen=True, kw_only=True):
    """A workout's summary: live while active, final once finished. Units are SI; health
    fields (heart rate, SpO2 and what is derived from them) are null for partners."""

    id: uuid.UUID
    athlete_id: uuid.UUID
    status: str
    sport: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    distance_m: float
    duration_s: float
    moving_time_s: float
    avg_speed_mps: float
    avg_pace_s_per_km: float | None
    elevation_gain_m: float
    elevation_loss_m: float
    avg_hr: float | None
    max_hr: float | None
    hr_zone_s: list[float] | None
    calories_kcal: float | None
    calories_method: str | None
    trimp: float | None
    trimp_edwards: float | None
    min_spo2: float | None
    spo2_low_alert: bool | None
    risk: RiskOut | None
    splits: list[SplitOut]
    assumptions: list[str]
    samples_count: int
    last_seq: int
    updated_at: dt.datetime


class SampleOut(msgspec.Struct, frozen=True, kw_only=True):
    """A stored sample; or, for a downsampled range, one time bucket: `t` its start, `seq`
    its last sample, the readings averaged over its `samples`, `max_hr_bpm` its peak."""

    seq: int
    t: dt.datetime
    lat: float | None
    lon: float | None
    alt_m: float | None
    hr_bpm: float | None
    spo2_pct: float | None
    samples: int = 1
    max_hr_bpm: float | None = None


def _iso(ms: int | None) -> dt.datetime | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def to_out(row: workouts_repo.WorkoutRow, health: bool) -> WorkoutOut:
    s = row.summary
    started = _iso(s.started_at_ms)
    assert started is not None
    return WorkoutOut(
        id=row.id, athlete_id=row.user_id, status=s.status, sport=s.sport,
        started_at=started, ended_at=_iso(s.ended_at_ms), distance_m=s.distance_m,
        duration_s=s.duration_s, moving_time_s=s.moving_time_s, avg_speed_mps=s.avg_speed_mps,
        avg_pace_s_per_km=s.avg_pace_s_per_km, elevation_gain_m=s.elevation_gain_m,
        elevation_loss_m=s.elevation_loss_m,
        avg_hr=s.avg_hr if health else None, max_hr=s.max_hr if health else None,
        hr_zone_s=s.hr_zone_s if health else None,
        calories_kcal=s.calories_kcal if health else None,
        calories_method=s.calories_method if health else None,
        trimp=s.trimp if health else None, trimp_edwards=s.trimp_edwards if health else None,
        min_spo2=s.min_spo2 if health else None,
        spo2_low_alert=s.spo2_low_alert if health else None,
        risk=RiskOut(level=s.risk.level, acwr=s.risk.acwr, reasons=s.risk.reasons) if health else None,
        splits=[SplitOut(km=x.km, time_s=x.time_s, avg_hr=x.avg_hr if health else None)
                for x in s.splits],
        assumptions=s.assumptions, samples_count=s.samples_count, last_seq=s.last_seq,
        updated_at=row.updated_at,
    )


async def _visible_workout(request: Request, workout_id: uuid.UUID) -> workouts_repo.WorkoutRow:
    principal = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        row = await workouts_repo.get_workout(conn, workout_id)
        # Someone else's workout answers exactly like a missing one.
        if row is None:
            raise ApiError(404, "not_found", f"no workout {workout_id}")
        await visible_athlete(conn, principal, row.user_id, f"workout {workout_id}")
    return row


@get("/v1/workouts/{workout_id:uuid}", summary="A workout's summary")
async def get_workout(request: Request, workout_id: uuid.UUID) -> WorkoutOut:
    return to_out(await _visible_workout(request, workout_id), sees_health_data(principal_of(request)))


@get("/v1/workouts", summary="An athlete's workouts, newest first, a page at a time")
async def list_workouts(
    request: Request,
    athlete: uuid.UUID | None = None,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Parameter(
        description="`X-Next-Cursor` of the previous page (also in its `Link: rel=next`)",
        max_length=200)] = None,
) -> Response[list[WorkoutOut]]:
    principal = principal_of(request)
    athlete_id = athlete or principal.user_id
    after = cursors.decode(cursor, workouts_repo.Cursor, "cursor") if cursor else None
    async with request.app.state.pool.connection() as conn:
        await visible_athlete(conn, principal, athlete_id, f"athlete {athlete_id}")
        rows = await workouts_repo.list_workouts(conn, athlete_id, limit + 1, after)
    health = sees_health_data(principal)
    headers = {}
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursors.encode(workouts_repo.cursor_of(rows[-1]))
        query = urllib.parse.urlencode({"athlete": str(athlete_id), "limit": limit,
                                        "cursor": next_cursor})
        headers = {"X-Next-Cursor": next_cursor, "Link": f'</v1/workouts?{query}>; rel="next"'}
    return Response([to_out(r, health) for r in rows], headers=headers)


@get("/v1/workouts/{workout_id:uuid}/samples",
     summary="A workout's samples; a long range comes back downsampled into time buckets")
async def get_samples(
    request: Request,
    workout_id: uuid.UUID,
    from_: Annotated[dt.datetime | None, Parameter(query="from")] = None,
    to: dt.datetime | None = None,
    limit: Annotated[int, Parameter(
        ge=2, le=100_000, description="at most this many points; more samples are bucketed")] = 10_000,
    bucket_s: Annotated[int | None, Parameter(
        ge=1, le=86_400, description="bucket width in seconds (default: raw, or the "
        "smallest round width that fits `limit` points)")] = None,
) -> Response[list[SampleOut]]:
    await _visible_workout(request, workout_id)
    if from_ is not None and to is not None and to <= from_:
        raise ApiError(400, "bad_range", "`to` must be after `from`")
    health = sees_health_data(principal_of(request))
    async with request.app.state.pool.connection() as conn:
        if bucket_s is None:
            span = await timeseries.sample_span(conn, workout_id, from_, to)
            if span.count > limit and span.first is not None and span.last is not None:
                bucket_s = timeseries.bucket_for(span.last - span.first, limit)
        if bucket_s is None:
            from_ms = int(from_.timestamp() * 1000) if from_ else None
            to_ms = int(to.timestamp() * 1000) if to else None
            rows = await samples_repo.read_samples(conn, workout_id, from_ms, to_ms, limit)
            out = [
                SampleOut(seq=r.seq, t=dt.datetime.fromtimestamp(r.t_ms / 1000, tz=dt.UTC),
                          lat=r.lat, lon=r.lon, alt_m=r.alt_m, hr_bpm=r.hr_bpm if health else None,
                          spo2_pct=r.spo2_pct if health else None)
                for r in rows
            ]
        else:
            buckets = await timeseries.downsampled_samples(conn, workout_id, bucket_s, from_, to)
            out = [
                SampleOut(seq=b.last_seq, t=b.t, lat=b.lat, lon=b.lon, alt_m=b.alt_m,
                          hr_bpm=b.hr_bpm if health else None,
                          spo2_pct=b.spo2_pct if health else None, samples=b.samples,
                          max_hr_bpm=b.max_hr_bpm if health else None)
                for b in buckets[:limit]
            ]
    return Response(out, headers={"X-Bucket-Seconds": str(bucket_s or 0)})


@get("/v1/workouts/{workout_id:uuid}/minutes", summary="A workout's live metrics, per minute")
async def get_minutes(request: Request, workout_id: uuid.UUID) -> list[timeseries.MinuteMetrics]:
    await _visible_workout(request, workout_id)
    health = sees_health_data(principal_of(request))
    async with request.app.state.pool.connection() as conn:
        minutes = await timeseries.minute_metrics(conn, workout_id)
    if health:
        return minutes
    return [msgspec.structs.replace(m, avg_hr=None, max_hr=None, min_spo2=None, calories_kcal=None,
                                    trimp=None) for m in minutes]


@get("/v1/workouts/{workout_id:uuid}/path",
     summary="A workout's route: a GeoJSON Feature, its geometry null until the workout has "
             "finished and its samples are stored")
async def get_path(request: Request, workout_id: uuid.UUID) -> dict[str, Any]:
    row = await _visible_workout(request, workout_id)
    async with request.app.state.pool.connection() as conn:
        path = await workouts_repo.gps_path_of(conn, workout_id)
    return {"type": "Feature", "geometry": path,
            "properties": {"workout_id": str(workout_id), "sport": row.summary.sport,
                           "status": row.summary.status, "ready": path is not None}}


ROUTES = [get_workout, list_workouts, get_samples, get_minutes, get_path]
