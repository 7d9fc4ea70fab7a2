"""One query layer over both time-series dialects (migrations 0002 and 0005).

`timescaledb`: hypertables; `workout_metrics_1m` is a continuous aggregate kept by
TimescaleDB. `native`: daily range partitions with BRIN indexes; `workout_metrics_1m` is a
table this module maintains in the same statement that inserts the metrics. Both dialects
expose the same columns and buckets aligned on the same origin, so every query below
returns the same rows on either; only `bucket_sql` and the metrics write differ.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Literal

import msgspec
from psycopg import AsyncConnection

from streams.events import WorkoutMetricsUpdated

Dialect = Literal["timescaledb", "native"]

BUCKET_ORIGIN = "2000-01-03 00:00:00+00"
"""TimescaleDB's default origin for `time_bucket`; `date_bin` is given the same one, so
buckets of any width start at the same instants in both dialects."""

_dialects: dict[tuple[str, str, int], Dialect] = {}


async def dialect_of(conn: AsyncConnection) -> Dialect:
    """The dialect the migrations chose for this database (cached per database)."""
    info = conn.info
    key = (info.host, info.dbname, info.port)
    if key not in _dialects:
        cur = await conn.execute("SELECT name FROM storage_dialect")
        row = await cur.fetchone()
        if row is None:
            raise RuntimeError("storage_dialect is empty: run `stride db migrate`")
        _dialects[key] = row[0]
    return _dialects[key]


def bucket_sql(dialect: Dialect, column: str = "t", width: str = "%(bucket)s") -> str:
    """The SQL expression of a time bucket: `time_bucket` or `date_bin`, same boundaries."""
    if dialect == "timescaledb":
        return f"time_bucket({width}::interval, {column})"
    return f"date_bin({width}::interval, {column}, TIMESTAMPTZ '{BUCKET_ORIGIN}')"


def _ts(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


# --- live metrics ---------------------------------------------------------------------
# A snapshot's identity is (workout_id, seq of the sample it follows); its `t` is that
# sample's time, so (workout_id, t) names it as well, and is the key TimescaleDB allows on a
# hypertable (a unique index must hold the time column). The workout takes its snapshots at
# points the samples alone decide (actors/workout.py), so one sent again after a restart, a
# rollback or a redelivery hits the key and adds nothing, to the table or to the rollup.

_METRICS_COLUMNS = ("workout_id, t, seq, distance_m, moving_time_s, speed_mps, hr_bpm, spo2_pct,"
                    " calories_kcal, trimp, risk_level")
# A deleted workout's snapshots still in flight are dropped (workout_ids.deleted_at, 0014).
_METRICS_INSERT = f"""
INSERT INTO workout_metrics ({_METRICS_COLUMNS})
SELECT * FROM unnest(%(w)s::uuid[], %(t)s::timestamptz[], %(seq)s::bigint[], %(dist)s::float8[],
                     %(moving)s::float8[], %(speed)s::real[], %(hr)s::real[], %(spo2)s::real[],
                     %(kcal)s::float8[], %(trimp)s::float8[], %(risk)s::text[])
     AS m({_METRICS_COLUMNS})
WHERE NOT EXISTS (SELECT 1 FROM workout_ids d WHERE d.id = m.workout_id AND d.deleted_at IS NOT NULL)
ON CONFLICT (workout_id, t) DO NOTHING
"""

# Only the rows really inserted reach the rollup, so a redelivered event adds nothing.
_ROLLUP_UPSERT = """
WITH inserted AS (
    {insert}
    RETURNING *
)
INSERT INTO workout_metrics_1m AS r (workout_id, bucket, n, last_seq, distance_m, moving_time_s,
    speed_sum, speed_n, hr_sum, hr_n, hr_max, spo2_min, calories_kcal, trimp)
SELECT workout_id, {bucket}, count(*), max(seq), max(distance_m), max(moving_time_s),
       coalesce(sum(speed_mps), 0), count(speed_mps), coalesce(sum(hr_bpm), 0), count(hr_bpm),
       max(hr_bpm), min(spo2_pct), max(calories_kcal), max(trimp)
FROM inserted
GROUP BY 1, 2
ON CONFLICT (workout_id, bucket) DO UPDATE SET
    n = r.n + EXCLUDED.n,
    last_seq = greatest(r.last_seq, EXCLUDED.last_seq),
    distance_m = greatest(r.distance_m, EXCLUDED.distance_m),
    moving_time_s = greatest(r.moving_time_s, EXCLUDED.moving_time_s),
    speed_sum = r.speed_sum + EXCLUDED.speed_sum, speed_n = r.speed_n + EXCLUDED.speed_n,
    hr_sum = r.hr_sum + EXCLUDED.hr_sum, hr_n = r.hr_n + EXCLUDED.hr_n,
    hr_max = greatest(r.hr_max, EXCLUDED.hr_max),
    spo2_min = least(r.spo2_min, EXCLUDED.spo2_min),
    calories_kcal = greatest(r.calories_kcal, EXCLUDED.calories_kcal),
    trimp = greatest(r.trimp, EXCLUDED.trimp)
"""


def _metrics_params(updates: Sequence[WorkoutMetricsUpdated]) -> dict[str, list[object]]:
    return {
        "w": [u.workout_id for u in updates],
        "t": [_ts(u.t_ms) for u in updates],
        "seq": [u.summary.last_seq for u in updates],
        "dist": [u.summary.distance_m for u in updates],
        "moving": [u.summary.moving_time_s for u in updates],
        "speed": [u.speed_mps for u in updates],
        "hr": [u.hr_bpm for u in updates],
        "spo2": [u.spo2_pct for u in updates],
        "kcal": [u.summary.calories_kcal for u in updates],
        "trimp": [u.summary.trimp for u in updates],
        "risk": [u.summary.risk.level for u in updates],
    }


async def write_metrics(conn: AsyncConnection, updates: Sequence[WorkoutMetricsUpdated]) -> None:
    """Store live metric snapshots once each (and, natively, fold them into the rollup)."""
    if not updates:
        return
    dialect = await dialect_of(conn)
    if dialect == "timescaledb":  # the continuous aggregate follows by itself
        sql = _METRICS_INSERT
    else:
        sql = _ROLLUP_UPSERT.format(insert=_METRICS_INSERT.strip(),
                                    bucket=bucket_sql(dialect, width="INTERVAL '1 minute'"))
    await conn.execute(sql, _metrics_params(updates))


class MinuteMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """One minute of a workout's live metrics."""

    minute: dt.datetime
    snapshots: int
    last_seq: int
    distance_m: float
    moving_time_s: float
    avg_speed_mps: float | None
    avg_hr: float | None
    max_hr: float | None
    min_spo2: float | None
    calories_kcal: float | None
    trimp: float | None


async def minute_metrics(conn: AsyncConnection, workout_id: uuid.UUID,
                         start: dt.datetime | None = None,
                         end: dt.datetime | None = None, limit: int | None = None) -> list[MinuteMetrics]:
    """Per-minute metrics of a workout, from the rollup (or the continuous aggregate), at
    most `limit` minutes from `start` on."""
    cur = await conn.execute(
        """
        SELECT bucket, n, last_seq, distance_m, moving_time_s,
               speed_sum / nullif(speed_n, 0), hr_sum / nullif(hr_n, 0), hr_max, spo2_min,
               calories_kcal, trimp
        FROM workout_metrics_1m
        WHERE workout_id = %(w)s
          AND (%(f)s::timestamptz IS NULL OR bucket >= %(f)s)
          AND (%(t)s::timestamptz IS NULL OR bucket < %(t)s)
        ORDER BY bucket
        LIMIT %(n)s
        """,
        {"w": workout_id, "f": start, "t": end, "n": limit},
    )
    return [
        MinuteMetrics(minute=r[0], snapshots=r[1], last_seq=r[2], distance_m=r[3],
                      moving_time_s=r[4], avg_speed_mps=r[5], avg_hr=r[6], max_hr=r[7],
                      min_spo2=r[8], calories_kcal=r[9], trimp=r[10])
        for r in await cur.fetchall()
    ]


# --- samples, downsampled --------------------------------------------------------------

class SampleBucket(msgspec.Struct, frozen=True, kw_only=True):
    """The samples of one time bucket: averages, the heart-rate peak, the SpO2 low."""

    t: dt.datetime
    samples: int
    last_seq: int
    lat: float | None
    lon: float | None
    alt_m: float | None
    hr_bpm: float | None
    max_hr_bpm: float | None
    spo2_pct: float | None
    speed_mps: float | None = None
    power_w: float | None = None


class SampleSpan(msgspec.Struct, frozen=True):
    count: int
    first: dt.datetime | None
    last: dt.datetime | None


async def sample_span(conn: AsyncConnection, workout_id: uuid.UUID, start: dt.datetime | None,
                      end: dt.datetime | None) -> SampleSpan:
    """How many samples a range holds, and the first and last sample time in it."""
    cur = await conn.execute(
        """
        SELECT count(*), min(t), max(t) FROM sensor_data
        WHERE workout_id = %(w)s
          AND (%(f)s::timestamptz IS NULL OR t >= %(f)s)
          AND (%(t)s::timestamptz IS NULL OR t < %(t)s)
        """,
        {"w": workout_id, "f": start, "t": end},
    )
    row = await cur.fetchone()
    assert row is not None
    return SampleSpan(row[0], row[1], row[2])


async def downsampled_samples(conn: AsyncConnection, workout_id: uuid.UUID, bucket_s: int,
                              start: dt.datetime | None = None,
                              end: dt.datetime | None = None,
                              limit: int | None = None) -> list[SampleBucket]:
    """A workout's samples averaged over buckets of `bucket_s` seconds, the first `limit`
    buckets from `start` on."""
    bucket = bucket_sql(await dialect_of(conn))
    cur = await conn.execute(
        f"""
        SELECT {bucket} AS b, count(*), max(seq), avg(lat), avg(lon), avg(alt_m)::float8,
               avg(hr_bpm)::float8, max(hr_bpm)::float8, avg(spo2_pct)::float8,
               avg(speed_mps)::float8, avg(power_w)::float8
        FROM sensor_data
        WHERE workout_id = %(w)s
          AND (%(f)s::timestamptz IS NULL OR t >= %(f)s)
          AND (%(t)s::timestamptz IS NULL OR t < %(t)s)
        GROUP BY b
        ORDER BY b
        LIMIT %(n)s
        """,
        {"w": workout_id, "f": start, "t": end, "bucket": dt.timedelta(seconds=bucket_s),
         "n": limit},
    )
    return [
        SampleBucket(t=r[0], samples=r[1], last_seq=r[2], lat=r[3], lon=r[4], alt_m=r[5],
                     hr_bpm=r[6], max_hr_bpm=r[7], spo2_pct=r[8], speed_mps=r[9], power_w=r[10])
        for r in await cur.fetchall()
    ]


NICE_BUCKETS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


def bucket_for(span: dt.timedelta, max_points: int) -> int:
    """The smallest round bucket width (s) that shows `span` in at most `max_points` buckets
    (a span of S seconds touches at most S // width + 1 buckets)."""
    seconds = span.total_seconds()
    for width in NICE_BUCKETS_S:
        if seconds // width + 1 <= max_points:
            return width
    return int(seconds // (3600 * max(1, max_points - 1)) + 1) * 3600
