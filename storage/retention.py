"""How long personal data is kept, and the job that deletes what is older (issue 18).

TimescaleDB's own retention policies (0005) need its background workers, which neither a
plain PostgreSQL nor the PGlite test server has; so this job enforces every limit itself,
on either dialect, and runs in the stream worker daily (streams/agents/maintenance.py) and
on demand (`stride retention run`). It deletes in batches of `batch_rows`, one short
transaction each, so it never holds a long lock on a table the sinks write to. On native
partitions a whole day older than the limit is dropped at once instead (no row-by-row
delete, no bloat); with TimescaleDB, whole chunks go with `drop_chunks`.

What it does not touch: the workouts themselves (summary, route) — they stay until the
athlete deletes them or their account — and the journals kept as an audit trail.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Annotated, Any

import msgspec
import psycopg
from psycopg import AsyncConnection

from storage.timeseries import dialect_of

log = logging.getLogger("stride.retention")

Days = Annotated[int, msgspec.Meta(ge=0, le=36500)]
"""0 keeps for ever."""


class Retention(msgspec.Struct, frozen=True, kw_only=True):
    """Days each kind of record is kept (STRIDE_RETENTION_<FIELD>)."""

    samples_days: Days = 1095
    """Raw device samples (`sensor_data`) and their per-minute rollup: 3 years, as the
    TimescaleDB policy of 0005."""
    metrics_days: Days = 90
    """Live metric snapshots (`workout_metrics`): the rollup keeps their summary."""
    inference_log_days: Days = 180
    """Model calls with their health-derived inputs (`inference_log`)."""
    notification_logs_days: Days = 365
    """Notifications sent (`notification_logs`)."""
    batch_rows: Annotated[int, msgspec.Meta(ge=100, le=1_000_000)] = 10_000


class Target(msgspec.Struct, frozen=True):
    table: str
    time_column: str
    key: str
    """Columns that identify a row (a batch deletes by them)."""
    setting: str
    partitioned: bool = False


TARGETS = (
    Target("sensor_data", "t", "workout_id, seq, t", "samples_days", partitioned=True),
    Target("workout_metrics_1m", "bucket", "workout_id, bucket", "samples_days"),
    Target("workout_metrics", "t", "workout_id, t", "metrics_days", partitioned=True),
    Target("inference_log", "at", "id", "inference_log_days"),
    Target("notification_logs", "created_at", "id", "notification_logs_days"),
)

_UPPER_BOUND = re.compile(r"TO \('([^']+)'\)")


async def enforce(conn: AsyncConnection[Any], retention: Retention,
                  now: dt.datetime | None = None) -> dict[str, int]:
    """Delete what is older than its limit; rows (or partitions' rows) deleted per table."""
    now = now or dt.datetime.now(dt.UTC)
    dialect = await dialect_of(conn)
    await conn.commit()
    autocommit = conn.autocommit
    await conn.set_autocommit(True)  # each batch its own short transaction, not one long one
    try:
        counts = await _enforce(conn, retention, dialect, now)
    finally:
        await conn.set_autocommit(autocommit)
    if any(counts.values()):
        log.info("retention deleted %s", {k: v for k, v in counts.items() if v})
    return counts


async def _enforce(conn: AsyncConnection[Any], retention: Retention, dialect: str,
                   now: dt.datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    for target in TARGETS:
        days = getattr(retention, target.setting)
        if days == 0:
            continue
        if target.table == "workout_metrics_1m" and dialect == "timescaledb":
            continue  # a continuous aggregate: follows its source, refreshed by its policy
        cutoff = now - dt.timedelta(days=days)
        deleted = 0
        if target.partitioned and dialect == "native":
            deleted += await _drop_old_partitions(conn, target.table, cutoff)
        elif target.partitioned and dialect == "timescaledb":
            deleted += await _drop_old_chunks(conn, target.table, cutoff)
        deleted += await _delete_in_batches(conn, target, cutoff, retention.batch_rows)
        counts[target.table] = deleted
    return counts


async def _delete_in_batches(conn: AsyncConnection[Any], target: Target, cutoff: dt.datetime,
                             batch_rows: int) -> int:
    total = 0
    # Names come from TARGETS, never from input.
    sql = (f"DELETE FROM {target.table} WHERE ({target.key}) IN"  # noqa: S608
           f" (SELECT {target.key} FROM {target.table} WHERE {target.time_column} < %s"
           f" LIMIT {int(batch_rows)})")
    while True:
        async with conn.transaction():
            cur = await conn.execute(sql, (cutoff,))
        total += cur.rowcount
        if cur.rowcount < batch_rows:
            return total


async def _drop_old_partitions(conn: AsyncConnection[Any], table: str, cutoff: dt.datetime) -> int:
    """Drop the daily partitions that end at or before `cutoff`; their rows counted."""
    cur = await conn.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass", (table,))
    dropped = 0
    for name, bound in await cur.fetchall():
        upper = _UPPER_BOUND.search(bound or "")
        if upper is None or dt.datetime.fromisoformat(upper.group(1)) > cutoff:
            continue
        try:
            async with conn.transaction():
                # Dropping a partition locks its parent: never queue behind a long query
                # (and hold up every sink behind us); the batched delete does it instead.
                await conn.execute("SET LOCAL lock_timeout = '2s'")
                counted = await conn.execute(f'SELECT count(*) FROM "{name}"')  # noqa: S608
                row = await counted.fetchone()
                await conn.execute(f'DROP TABLE "{name}"')
        except psycopg.errors.LockNotAvailable:
            log.info("partition %s busy: its rows are deleted in batches instead", name)
            continue
        except psycopg.errors.UndefinedTable:
            continue  # another worker's run dropped it first
        dropped += row[0] if row else 0
    return dropped


async def _drop_old_chunks(conn: AsyncConnection[Any], table: str, cutoff: dt.datetime) -> int:
    """TimescaleDB: whole chunks before `cutoff` (rows in a chunk that straddles it are left
    to the batched delete). The count is not known without reading them: 0 is reported."""
    async with conn.transaction():
        await conn.execute("SELECT drop_chunks(%s::regclass, older_than => %s)", (table, cutoff))
    return 0
