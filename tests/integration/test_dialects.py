"""One query suite, run on both time-series dialects: native partitioning (the stack's
PostgreSQL 15) and TimescaleDB (a real TimescaleDB 2.23: PGlite in Node, see
stack/timescale_local.py).

The TimescaleDB server takes one connection at a time and no COPY, and its database is
shared by the whole session: each test holds one connection and works on workouts of its
own. Samples are written with COPY on PostgreSQL and with the INSERT … unnest path on
TimescaleDB (`write_samples(copy=False)`), into the same table with the same conflict rule.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from storage import samples, timeseries, workouts
from storage.migrate import migrate
from streams import events

pytestmark = pytest.mark.integration

ATHLETE = uuid.UUID("00000000-0000-4000-8000-000000000001")
_migrated: set[str] = set()


@pytest.fixture(params=["native", "timescaledb"])
async def db(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, psycopg.AsyncConnection]]:
    """(expected dialect, one autocommit connection) to a migrated database of that dialect."""
    from storage.users import ensure_dev_user

    if request.param == "native":
        dsn = request.getfixturevalue("migrated_db")
    else:
        dsn = request.getfixturevalue("timescale_dsn")
        if dsn not in _migrated:
            migrate(dsn)
            ensure_dev_user(dsn, ATHLETE)
            _migrated.add(dsn)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        yield request.param, conn


def _now_minute() -> int:
    """A recent whole hour (ms): inside the native partitions and the Timescale policies."""
    return (int(time.time()) - 6 * 3600) // 3600 * 3600 * 1000


def two_hours(workout: uuid.UUID, t0: int) -> list[events.SamplesAccepted]:
    """A 2-hour workout at 1 Hz in 60-sample batches; heart rate climbs with the minute."""
    return [
        events.SamplesAccepted(
            workout_id=workout, user_id=ATHLETE, sport="run", seq=b * 60,
            samples=[(t0 + (b * 60 + i) * 1000, 45.0 + (b * 60 + i) * 1e-5, 7.0, 200.0 + b,
                      float(100 + b + i % 3), 96.0 + i % 2) for i in range(60)])
        for b in range(120)
    ]


async def test_the_migrations_chose_the_dialect(db: tuple[str, psycopg.AsyncConnection]) -> None:
    expected, conn = db
    assert await timeseries.dialect_of(conn) == expected


async def test_sample_writes_are_idempotent_and_read_back_in_order(
        db: tuple[str, psycopg.AsyncConnection]) -> None:
    dialect, conn = db
    workout, t0 = uuid.uuid4(), _now_minute()
    batches = two_hours(workout, t0)[:5]
    use_copy = dialect == "native"
    assert await samples.write_samples(conn, batches, copy=use_copy) == 300
    assert await samples.write_samples(conn, batches[2:], copy=use_copy) == 0  # resent
    rows = await samples.read_samples(conn, workout, t0 + 60_000, t0 + 120_000)
    assert [r.seq for r in rows] == list(range(60, 120))
    assert rows[0].hr_bpm == 101 and rows[0].lat == pytest.approx(45.0 + 60e-5)


async def test_a_two_hour_workout_downsamples_to_minutes(
        db: tuple[str, psycopg.AsyncConnection]) -> None:
    dialect, conn = db
    workout, t0 = uuid.uuid4(), _now_minute()
    batches = two_hours(workout, t0)
    await samples.write_samples(conn, batches, copy=dialect == "native")
    span = await timeseries.sample_span(conn, workout, None, None)
    assert span.count == 7200
    assert timeseries.bucket_for(span.last - span.first, 120) == 60  # type: ignore[operator]
    buckets = await timeseries.downsampled_samples(conn, workout, 60)
    assert len(buckets) == 120
    for b, bucket in zip(batches, buckets, strict=True):
        assert bucket.t == dt.datetime.fromtimestamp(b.samples[0][0] / 1000, tz=dt.UTC)
        assert bucket.samples == 60 and bucket.last_seq == b.seq + 59
        assert bucket.hr_bpm == pytest.approx(sum(s[4] for s in b.samples) / 60)  # type: ignore[misc]
        assert bucket.max_hr_bpm == max(s[4] for s in b.samples)  # type: ignore[type-var]
        assert bucket.alt_m == pytest.approx(b.samples[0][3])
    window = await timeseries.downsampled_samples(
        conn, workout, 600, dt.datetime.fromtimestamp((t0 + 600_000) / 1000, tz=dt.UTC),
        dt.datetime.fromtimestamp((t0 + 1_800_000) / 1000, tz=dt.UTC))
    assert [w.samples for w in window] == [600, 600]


def metrics(workout: uuid.UUID, t0: int, seconds: int) -> list[events.WorkoutMetricsUpdated]:
    out = []
    for s in range(seconds):
        summary = events.WorkoutSummary(version=s + 1, status="active", sport="run",
                                        started_at_ms=t0, last_seq=s, distance_m=2.5 * s,
                                        moving_time_s=float(s), calories_kcal=0.1 * s, trimp=0.01 * s)
        out.append(events.WorkoutMetricsUpdated(
            workout_id=workout, user_id=ATHLETE, t_ms=t0 + s * 1000, summary=summary,
            speed_mps=2.5 + (s % 4) * 0.25, hr_bpm=None if s % 9 == 0 else 120.0 + s % 11,
            spo2_pct=95.0 + s % 3))
    return out


async def test_live_metrics_roll_up_per_minute_exactly_once(
        db: tuple[str, psycopg.AsyncConnection]) -> None:
    dialect, conn = db
    workout, t0 = uuid.uuid4(), _now_minute()
    updates = metrics(workout, t0, 200)
    await timeseries.write_metrics(conn, updates[:120])
    await timeseries.write_metrics(conn, updates[60:])  # overlaps: a redelivered batch
    if dialect == "timescaledb":  # the view answers before and after its refresh alike
        before = await timeseries.minute_metrics(conn, workout)
        await conn.execute("CALL refresh_continuous_aggregate('workout_metrics_1m', NULL, NULL)")
        assert await timeseries.minute_metrics(conn, workout) == before
    minutes = await timeseries.minute_metrics(conn, workout)
    assert [m.snapshots for m in minutes] == [60, 60, 60, 20]
    for i, minute in enumerate(minutes):
        inside = updates[i * 60:(i + 1) * 60]
        hrs = [u.hr_bpm for u in inside if u.hr_bpm is not None]
        assert minute.minute == dt.datetime.fromtimestamp(inside[0].t_ms / 1000, tz=dt.UTC)
        assert minute.last_seq == inside[-1].summary.last_seq
        assert minute.distance_m == inside[-1].summary.distance_m
        assert minute.avg_hr == pytest.approx(sum(hrs) / len(hrs))
        assert minute.max_hr == max(hrs)
        assert minute.min_spo2 == min(u.spo2_pct for u in inside)  # type: ignore[type-var]
        assert minute.avg_speed_mps == pytest.approx(
            sum(u.speed_mps for u in inside) / len(inside))  # type: ignore[misc]


async def test_an_athletes_workouts_page_newest_first(
        db: tuple[str, psycopg.AsyncConnection]) -> None:
    _, conn = db
    athlete = uuid.uuid4()
    await conn.execute("INSERT INTO users (id, email) VALUES (%s, %s)",
                       (athlete, f"{athlete.hex[:12]}@example.org"))
    t0 = _now_minute()
    ids = []
    for i in range(7):
        workout = uuid.uuid4()
        ids.append(workout)
        summary = events.WorkoutSummary(version=1, status="finished", sport="ride",
                                        started_at_ms=t0 - (i // 2) * 3_600_000,  # ties in twos
                                        ended_at_ms=t0 + 1000)
        await workouts.project_summary(conn, workout, athlete, summary)
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page = await workouts.list_workouts(conn, athlete, 3, cursor)
        seen += [r.id for r in page]
        if len(page) < 3:
            break
        cursor = workouts.cursor_of(page[-1])
    assert sorted(seen) == sorted(ids) and len(seen) == 7
    starts = [(ids.index(w) // 2) for w in seen]
    assert starts == sorted(starts)


async def test_a_finished_workouts_path_waits_for_its_samples(
        db: tuple[str, psycopg.AsyncConnection]) -> None:
    dialect, conn = db
    workout, t0 = uuid.uuid4(), _now_minute()
    batches = two_hours(workout, t0)
    summary = events.WorkoutSummary(version=9, status="finished", sport="run", started_at_ms=t0,
                                    ended_at_ms=t0 + 7_200_000, samples_count=7200, last_seq=7199)
    await workouts.project_summary(conn, workout, ATHLETE, summary)
    await samples.write_samples(conn, batches[:100], copy=dialect == "native")
    assert await workouts.build_gps_path(conn, workout) is False  # 6,000 of 7,200 stored
    await samples.write_samples(conn, batches[100:], copy=dialect == "native")
    assert await workouts.build_gps_path(conn, workout) is True
    path = await workouts.gps_path_of(conn, workout)
    assert path is not None and path["type"] == "LineString"
    coordinates = path["coordinates"]
    assert isinstance(coordinates, list) and 900 <= len(coordinates) <= workouts.PATH_MAX_POINTS
    assert coordinates[0] == [7.0, 45.0] and coordinates[-1] == [7.0, round(45.0 + 7199e-5, 6)]


async def test_the_dialects_own_machinery_is_in_place(
        db: tuple[str, psycopg.AsyncConnection]) -> None:
    dialect, conn = db
    if dialect == "timescaledb":
        cur = await conn.execute(
            "SELECT proc_name, hypertable_name FROM timescaledb_information.jobs"
            " WHERE hypertable_name IN ('sensor_data', 'workout_metrics')"
            "    OR proc_name = 'policy_refresh_continuous_aggregate'")
        jobs = {tuple(r) for r in await cur.fetchall()}
        assert {("policy_compression", "sensor_data"), ("policy_compression", "workout_metrics"),
                ("policy_retention", "sensor_data"), ("policy_retention", "workout_metrics")} <= jobs
        assert any(name == "policy_refresh_continuous_aggregate" for name, _ in jobs)
        cur = await conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
        assert {"sensor_data", "workout_metrics"} <= {r[0] for r in await cur.fetchall()}
    else:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'sensor_data'::regclass")
        row = await cur.fetchone()
        assert row is not None and row[0] >= 9  # yesterday … a week ahead, and DEFAULT
        cur = await conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'sensor_data'"
            " AND indexdef LIKE '%USING brin%'")
        assert await cur.fetchall()
        cur = await conn.execute("SELECT relkind FROM pg_class WHERE relname = 'workout_metrics_1m'")
        row = await cur.fetchone()
        assert row is not None and row[0] == "r"
