"""Time-series samples: bulk, idempotent writes and range reads on `sensor_data`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import msgspec
from psycopg import AsyncConnection

from streams.events import Sample, SamplesAccepted

_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS sensor_stage (
    workout_id uuid, seq bigint, t_ms bigint, lat float8, lon float8,
    alt_m real, hr_bpm real, spo2_pct real, speed_mps real, accuracy_m real, power_w real
) ON COMMIT DELETE ROWS
"""

# A deleted workout's samples still in flight are dropped (workout_ids.deleted_at, 0014).
_NOT_DELETED = ("NOT EXISTS (SELECT 1 FROM workout_ids d WHERE d.id = {column}"
                " AND d.deleted_at IS NOT NULL)")

# The staging table takes COPY's speed; the INSERT … SELECT makes it idempotent.
_MERGE = f"""
INSERT INTO sensor_data (workout_id, seq, t, lat, lon, alt_m, hr_bpm, spo2_pct, speed_mps,
                         accuracy_m, power_w)
SELECT workout_id, seq, to_timestamp(t_ms / 1000.0), lat, lon, alt_m,
       round(hr_bpm)::smallint, spo2_pct, speed_mps, accuracy_m, power_w
FROM sensor_stage s
WHERE {_NOT_DELETED.format(column="s.workout_id")}
ON CONFLICT (workout_id, seq, t) DO NOTHING
"""


class StoredSample(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    t_ms: int
    lat: float | None
    lon: float | None
    alt_m: float | None
    hr_bpm: float | None
    spo2_pct: float | None
    speed_mps: float | None = None
    accuracy_m: float | None = None
    power_w: float | None = None


WIDTH = 9
"""Elements of a full sample (streams.events.SAMPLE_FIELDS); shorter ones end in nulls."""


def rows_of(batches: Iterable[SamplesAccepted]) -> list[tuple[object, ...]]:
    return [
        (b.workout_id, b.seq + i, *sample, *((None,) * (WIDTH - len(sample))))
        for b in batches
        for i, sample in enumerate(b.samples)
    ]


_INSERT_UNNEST = f"""
INSERT INTO sensor_data (workout_id, seq, t, lat, lon, alt_m, hr_bpm, spo2_pct, speed_mps,
                         accuracy_m, power_w)
SELECT w, seq, to_timestamp(t_ms / 1000.0), lat, lon, alt, round(hr)::smallint, spo2, speed, acc, power
FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::float8[], %s::float8[], %s::real[],
            %s::real[], %s::real[], %s::real[], %s::real[], %s::real[])
     AS r(w, seq, t_ms, lat, lon, alt, hr, spo2, speed, acc, power)
WHERE {_NOT_DELETED.format(column="r.w")}
ON CONFLICT (workout_id, seq, t) DO NOTHING
"""


async def write_samples(conn: AsyncConnection, batches: Iterable[SamplesAccepted],
                        copy: bool = True) -> int:
    """Write every sample of `batches` once; returns how many rows were new.

    COPY into a staging table, then one INSERT … SELECT … ON CONFLICT DO NOTHING (the sink's
    path). `copy=False` sends the rows as arrays instead (INSERT … unnest): the same conflict
    rule, for servers without COPY (the TimescaleDB test server).
    """
    rows = rows_of(batches)
    if not rows:
        return 0
    if not copy:
        cur = await conn.execute(_INSERT_UNNEST, [list(column) for column in zip(*rows, strict=True)])
        return cur.rowcount
    async with conn.transaction():
        await conn.execute(_STAGE_DDL)
        async with conn.cursor() as cur:
            async with cur.copy(
                "COPY sensor_stage (workout_id, seq, t_ms, lat, lon, alt_m, hr_bpm, spo2_pct,"
                " speed_mps, accuracy_m, power_w) FROM STDIN"
            ) as copy_in:
                for row in rows:
                    await copy_in.write_row(row)
            await cur.execute(_MERGE)
            return cur.rowcount


async def read_samples(
    conn: AsyncConnection, workout_id: uuid.UUID, from_ms: int | None = None, to_ms: int | None = None,
    limit: int = 10_000, after_seq: int | None = None,
) -> list[StoredSample]:
    """Stored samples in `seq` order, those after `after_seq` only (a page's cursor)."""
    cur = await conn.execute(
        """
        SELECT seq, (extract(epoch FROM t) * 1000)::bigint, lat, lon, alt_m, hr_bpm, spo2_pct,
               speed_mps, accuracy_m, power_w
        FROM sensor_data
        WHERE workout_id = %(w)s
          AND (%(f)s::bigint IS NULL OR t >= to_timestamp(%(f)s / 1000.0))
          AND (%(t)s::bigint IS NULL OR t < to_timestamp(%(t)s / 1000.0))
          AND (%(after)s::bigint IS NULL OR seq > %(after)s)
        ORDER BY seq
        LIMIT %(n)s
        """,
        {"w": workout_id, "f": from_ms, "t": to_ms, "n": limit, "after": after_seq},
    )
    return [
        StoredSample(seq=r[0], t_ms=r[1], lat=r[2], lon=r[3], alt_m=r[4], hr_bpm=r[5], spo2_pct=r[6],
                     speed_mps=r[7], accuracy_m=r[8], power_w=r[9])
        for r in await cur.fetchall()
    ]


async def all_samples(conn: AsyncConnection, workout_id: uuid.UUID,
                      page: int = 10_000) -> list[Sample]:
    """Every stored sample of a workout, in `seq` order, as the device sent it
    `(t_ms, lat, lon, alt_m, hr_bpm, spo2_pct, speed_mps, accuracy_m, power_w)`: what the
    metrics are computed again from (actors/replay.py, actors/split_table.py)."""
    out: list[Sample] = []
    after: int | None = None
    while True:
        rows = await read_samples(conn, workout_id, limit=page, after_seq=after)
        out += [(r.t_ms, r.lat, r.lon, r.alt_m, r.hr_bpm, r.spo2_pct, r.speed_mps, r.accuracy_m,
                 r.power_w) for r in rows]
        if len(rows) < page:
            return out
        after = rows[-1].seq
