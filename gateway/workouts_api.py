"""REST: an athlete's workouts (paginated, filtered), one workout, its samples (downsampled
when the range is long), its per-minute metrics and its GPS path. Changes to a workout —
rename, sport, delete, upload — are in gateway/workouts_manage_api.py."""

from __future__ import annotations

import datetime as dt
import urllib.parse
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.params import Parameter

from gateway import cursors
from gateway.access import principal_of, reads_health_data, visible_athlete
from gateway.errors import ApiError
from privacy import health
from storage import samples as samples_repo
from storage import timeseries
from storage import workouts as workouts_repo
from streams.events import Sport, WorkoutStatus


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
    cardiac_drift_pct: float | None
    """Heart-rate drift at a steady pace, % (null until assessed, and for partners)."""
    sport_mismatch: str | None
    """The sport the speeds suggest, when they stayed beyond this one's top speed for two
    minutes (e.g. "ride" for a ride saved as a walk); null when they fit."""
    risk: RiskOut | None
    splits: list[SplitOut]
    assumptions: list[str] | None
    """Profile defaults the metrics assumed (health-related: null for partners)."""
    samples_count: int
    last_seq: int
    updated_at: dt.datetime
    title: str | None = None
    """The athlete's name for the workout (PATCH /v1/workouts/{id}); null until given."""


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
    speed_mps: float | None = None
    """The device's Doppler speed, when it sent one."""
    accuracy_m: float | None = None
    """The device's horizontal accuracy (68 % radius), when it sent one (raw samples only)."""
    power_w: float | None = None
    samples: int = 1
    max_hr_bpm: float | None = None


def _iso(ms: int | None) -> dt.datetime | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def to_out(row: workouts_repo.WorkoutRow, health_data: bool) -> WorkoutOut:
    s = row.summary
    started = _iso(s.started_at_ms)
    assert started is not None
    out = WorkoutOut(
        id=row.id, athlete_id=row.user_id, status=s.status, sport=s.sport,
        started_at=started, ended_at=_iso(s.ended_at_ms), distance_m=s.distance_m,
        duration_s=s.duration_s, moving_time_s=s.moving_time_s, avg_speed_mps=s.avg_speed_mps,
        avg_pace_s_per_km=s.avg_pace_s_per_km, elevation_gain_m=s.elevation_gain_m,
        elevation_loss_m=s.elevation_loss_m, avg_hr=s.avg_hr, max_hr=s.max_hr,
        hr_zone_s=s.hr_zone_s, calories_kcal=s.calories_kcal, calories_method=s.calories_method,
        trimp=s.trimp, trimp_edwards=s.trimp_edwards, min_spo2=s.min_spo2,
        spo2_low_alert=s.spo2_low_alert, cardiac_drift_pct=s.cardiac_drift_pct,
        sport_mismatch=s.sport_mismatch,
        risk=RiskOut(level=s.risk.level, acwr=s.risk.acwr, reasons=s.risk.reasons),
        splits=[SplitOut(km=x.km, time_s=x.time_s, avg_hr=x.avg_hr) for x in s.splits],
        assumptions=s.assumptions, samples_count=s.samples_count, last_seq=s.last_seq,
        updated_at=row.updated_at, title=row.title,
    )
    return out if health_data else health.redact_struct(out)


async def visible_workout(request: Request, workout_id: uuid.UUID) -> workouts_repo.WorkoutRow:
    """The workout if the caller may see it; 404 (as for a missing one) otherwise."""
    principal = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        row = await workouts_repo.get_workout(conn, workout_id)
        if row is not None:
            access = await visible_athlete(conn, principal, row.user_id, f"workout {workout_id}")
            s = row.summary
            started, ended = _iso(s.started_at_ms), _iso(s.ended_at_ms)
            assert started is not None
            if access.covers(started, s.status, ended, dt.datetime.now(dt.UTC)):
                return row
    raise ApiError(404, "not_found", f"no workout {workout_id}")


@get("/v1/workouts/{workout_id:uuid}", summary="A workout's summary")
async def get_workout(request: Request, workout_id: uuid.UUID) -> WorkoutOut:
    row = await visible_workout(request, workout_id)
    return to_out(row, reads_health_data(request, row.user_id, "workout", row.id))


@get("/v1/workouts", summary="An athlete's workouts, newest first, a page at a time; "
     "filtered by sport, start date, status and title")
async def list_workouts(
    request: Request,
    athlete: uuid.UUID | None = None,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Parameter(
        description="`X-Next-Cursor` of the previous page (also in its `Link: rel=next`)",
        max_length=200)] = None,
    sport: Sport | None = None,
    from_: Annotated[dt.date | None, Parameter(
        query="from", description="started on or after this day (UTC)")] = None,
    to: Annotated[dt.date | None, Parameter(
        description="started on or before this day (UTC)")] = None,
    status: WorkoutStatus | None = None,
    q: Annotated[str | None, Parameter(
        min_length=1, max_length=120, description="title contains this (any case)")] = None,
) -> Response[list[WorkoutOut]]:
    principal = principal_of(request)
    athlete_id = athlete or principal.user_id
    if from_ is not None and to is not None and to < from_:
        raise ApiError(400, "bad_range", "`to` must not be before `from`")
    filters = workouts_repo.Filters(
        sport=sport, status=status, title_contains=q,
        started_from=_midnight(from_), started_before=_midnight(to, days_after=1))
    after = cursors.decode(cursor, workouts_repo.Cursor, "cursor") if cursor else None
    async with request.app.state.pool.connection() as conn:
        access = await visible_athlete(conn, principal, athlete_id, f"athlete {athlete_id}")
        rows = await workouts_repo.list_workouts(conn, athlete_id, limit + 1, after, access,
                                                 filters)
    health_data = bool(rows) and reads_health_data(request, athlete_id, "workouts")
    headers = {}
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursors.encode(workouts_repo.cursor_of(rows[-1]))
        given = {"sport": sport, "from": from_, "to": to, "status": status, "q": q}
        query = urllib.parse.urlencode({"athlete": str(athlete_id), "limit": limit,
                                        **{k: str(v) for k, v in given.items() if v is not None},
                                        "cursor": next_cursor})
        headers = {"X-Next-Cursor": next_cursor, "Link": f'</v1/workouts?{query}>; rel="next"'}
    return Response([to_out(r, health_data) for r in rows], headers=headers)


def _midnight(day: dt.date | None, days_after: int = 0) -> dt.datetime | None:
    """00:00 UTC of the day (`days_after` later)."""
    if day is None:
        return None
    return dt.datetime.combine(day + dt.timedelta(days=days_after), dt.time(), tzinfo=dt.UTC)


class SamplesCursor(msgspec.Struct, frozen=True, array_like=True):
    """Where a page of samples ended: the last raw `seq`, or the next bucket's start."""

    after_seq: int | None
    bucket_s: int | None
    next_t: dt.datetime | None


MAX_POINTS = 10_000


@get("/v1/workouts/{workout_id:uuid}/samples",
     summary="A workout's samples; a long range comes back downsampled into time buckets")
async def get_samples(
    request: Request,
    workout_id: uuid.UUID,
    from_: Annotated[dt.datetime | None, Parameter(query="from")] = None,
    to: dt.datetime | None = None,
    limit: Annotated[int, Parameter(
        ge=2, le=MAX_POINTS, description="at most this many points a page; more samples than "
        "this in the range are bucketed")] = MAX_POINTS,
    bucket_s: Annotated[int | None, Parameter(
        ge=1, le=86_400, description="bucket width in seconds (default: raw, or the "
        "smallest round width that fits `limit` points)")] = None,
    cursor: Annotated[str | None, Parameter(
        description="`X-Next-Cursor` of the previous page", max_length=200)] = None,
    raw: Annotated[bool, Parameter(
        description="every sample, never bucketed: `limit` a page, the next page by cursor")] = False,
) -> Response[list[SampleOut]]:
    row = await visible_workout(request, workout_id)
    if from_ is not None and to is not None and to <= from_:
        raise ApiError(400, "bad_range", "`to` must be after `from`")
    if raw and bucket_s is not None:
        raise ApiError(400, "invalid", "`raw` and `bucket_s` exclude each other")
    health_data = reads_health_data(request, row.user_id, "samples", row.id)
    after = cursors.decode(cursor, SamplesCursor, "cursor") if cursor else None
    async with request.app.state.pool.connection() as conn:
        if after is not None:
            bucket_s = after.bucket_s
        elif bucket_s is None and not raw:
            span = await timeseries.sample_span(conn, workout_id, from_, to)
            if span.count > limit and span.first is not None and span.last is not None:
                bucket_s = timeseries.bucket_for(span.last - span.first, limit)
        if bucket_s is None:
            out, next_cursor = await _raw_page(conn, workout_id, from_, to, limit, after)
        else:
            start = after.next_t if after is not None and after.next_t is not None else from_
            buckets = await timeseries.downsampled_samples(conn, workout_id, bucket_s, start, to,
                                                           limit=limit + 1)
            out = [SampleOut(seq=b.last_seq, t=b.t, lat=b.lat, lon=b.lon, alt_m=b.alt_m,
                             hr_bpm=b.hr_bpm, spo2_pct=b.spo2_pct, speed_mps=b.speed_mps,
                             power_w=b.power_w, samples=b.samples,
                             max_hr_bpm=b.max_hr_bpm) for b in buckets[:limit]]
            next_cursor = (SamplesCursor(None, bucket_s, buckets[limit].t)
                           if len(buckets) > limit else None)
    headers = {"X-Bucket-Seconds": str(bucket_s or 0)}
    if next_cursor is not None:
        headers["X-Next-Cursor"] = cursors.encode(next_cursor)
    return Response(out if health_data else [health.redact_struct(x) for x in out], headers=headers)


async def _raw_page(conn: Any, workout_id: uuid.UUID, from_: dt.datetime | None,
                    to: dt.datetime | None, limit: int, after: SamplesCursor | None
                    ) -> tuple[list[SampleOut], SamplesCursor | None]:
    from_ms = int(from_.timestamp() * 1000) if from_ else None
    to_ms = int(to.timestamp() * 1000) if to else None
    rows = await samples_repo.read_samples(conn, workout_id, from_ms, to_ms, limit + 1,
                                           after_seq=after.after_seq if after else None)
    out = [SampleOut(seq=r.seq, t=dt.datetime.fromtimestamp(r.t_ms / 1000, tz=dt.UTC),
                     lat=r.lat, lon=r.lon, alt_m=r.alt_m, hr_bpm=r.hr_bpm, spo2_pct=r.spo2_pct,
                     speed_mps=r.speed_mps, accuracy_m=r.accuracy_m, power_w=r.power_w)
           for r in rows[:limit]]
    more = len(rows) > limit
    return out, (SamplesCursor(out[-1].seq, None, None) if more else None)


class MinutesCursor(msgspec.Struct, frozen=True, array_like=True):
    after: dt.datetime


@get("/v1/workouts/{workout_id:uuid}/minutes",
     summary="A workout's live metrics, per minute, a page at a time")
async def get_minutes(
    request: Request, workout_id: uuid.UUID,
    limit: Annotated[int, Parameter(ge=1, le=MAX_POINTS)] = 1440,
    cursor: Annotated[str | None, Parameter(
        description="`X-Next-Cursor` of the previous page", max_length=200)] = None,
) -> Response[list[timeseries.MinuteMetrics]]:
    row = await visible_workout(request, workout_id)
    after = cursors.decode(cursor, MinutesCursor, "cursor") if cursor else None
    start = after.after + dt.timedelta(microseconds=1) if after else None
    async with request.app.state.pool.connection() as conn:
        minutes = await timeseries.minute_metrics(conn, workout_id, start, limit=limit + 1)
    page = minutes[:limit]
    headers = ({"X-Next-Cursor": cursors.encode(MinutesCursor(page[-1].minute))}
               if len(minutes) > limit else {})
    if not reads_health_data(request, row.user_id, "minutes", row.id):
        page = [health.redact_struct(m) for m in page]
    return Response(page, headers=headers)


@get("/v1/workouts/{workout_id:uuid}/path",
     summary="A workout's route: a GeoJSON Feature, its geometry null until the workout has "
             "finished and its samples are stored")
async def get_path(request: Request, workout_id: uuid.UUID) -> dict[str, Any]:
    row = await visible_workout(request, workout_id)
    async with request.app.state.pool.connection() as conn:
        path = await workouts_repo.gps_path_of(conn, workout_id)
    return {"type": "Feature", "geometry": path,
            "properties": {"workout_id": str(workout_id), "sport": row.summary.sport,
                           "status": row.summary.status, "ready": path is not None}}


ROUTES = [get_workout, list_workouts, get_samples, get_minutes, get_path]
