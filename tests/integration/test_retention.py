"""Retention (storage/retention.py) on a plain PostgreSQL, without TimescaleDB or its
background workers: rows older than each limit go, newer ones stay; a whole daily partition
past the limit is dropped; a limit of 0 keeps everything; a second run finds nothing."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest

from stack.settings import Settings
from storage import retention

pytestmark = pytest.mark.integration
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)


async def _fill(conn: psycopg.AsyncConnection, user_id: uuid.UUID, workout_id: uuid.UUID,
                at: dt.datetime, seq: int) -> None:
    await conn.execute("INSERT INTO sensor_data (workout_id, seq, t, hr_bpm) VALUES (%s, %s, %s, 150)",
                       (workout_id, seq, at))
    await conn.execute("INSERT INTO workout_metrics (workout_id, t, seq, distance_m, moving_time_s)"
                       " VALUES (%s, %s, %s, 10, 5)", (workout_id, at, seq))
    await conn.execute(
        "INSERT INTO workout_metrics_1m (workout_id, bucket, n, last_seq, distance_m, moving_time_s,"
        " speed_sum, speed_n, hr_sum, hr_n) VALUES (%s, %s, 1, %s, 10, 5, 2, 1, 150, 1)",
        (workout_id, at, seq))
    await conn.execute("INSERT INTO inference_log (at, model_type, model_version, user_id, inputs,"
                       " output, latency_ms) VALUES (%s, 'risk', 'v1', %s, '{}', '{}', 1)",
                       (at, user_id))
    await conn.execute("INSERT INTO notification_logs (user_id, notification_type, message,"
                       " created_at, updated_at) VALUES (%s, 'risk_alert', 'slow down', %s, %s)",
                       (user_id, at, at))


async def _counts(conn: psycopg.AsyncConnection) -> dict[str, int]:
    counts = {}
    for target in retention.TARGETS:
        cur = await conn.execute(f"SELECT count(*) FROM {target.table}")  # noqa: S608
        counts[target.table] = (await cur.fetchone())[0]
    return counts


async def test_old_records_go_and_recent_ones_stay_on_plain_postgres(migrated_db: str) -> None:
    async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
        dialect = await (await conn.execute("SELECT name FROM storage_dialect")).fetchone()
        assert dialect == ("native",)
        user_id = (await (await conn.execute(
            "INSERT INTO users (email) VALUES (%s) RETURNING id",
            (f"{uuid.uuid4().hex[:8]}@example.org",))).fetchone())[0]
        workout_id = uuid.uuid4()
        old_day = NOW - 2000 * DAY  # past every default limit, in a daily partition of its own
        await conn.execute("SELECT stride_ensure_partitions('sensor_data'::regclass, %s, %s)",
                           (old_day, old_day))
        await _fill(conn, user_id, workout_id, old_day, 1)        # older than everything
        await _fill(conn, user_id, workout_id, NOW - 200 * DAY, 2)  # past metrics and inference log
        await _fill(conn, user_id, workout_id, NOW - DAY, 3)        # recent
        assert await _counts(conn) == {t.table: 3 for t in retention.TARGETS}

        deleted = await retention.enforce(conn, retention.Retention(batch_rows=100), now=NOW)

        assert deleted == {"sensor_data": 1, "workout_metrics_1m": 1, "workout_metrics": 2,
                           "inference_log": 2, "notification_logs": 1}
        assert await _counts(conn) == {"sensor_data": 2, "workout_metrics_1m": 2,
                                       "workout_metrics": 1, "inference_log": 1,
                                       "notification_logs": 2}
        left = await (await conn.execute(
            "SELECT min(seq) FROM workout_metrics WHERE workout_id = %s", (workout_id,))).fetchone()
        assert left == (3,)
        partition = "sensor_data_p" + old_day.strftime("%Y%m%d")
        gone = await (await conn.execute("SELECT to_regclass(%s)", (partition,))).fetchone()
        assert gone == (None,), "the old day's partition is dropped whole"
        assert set((await retention.enforce(conn, retention.Retention(), now=NOW)).values()) == {0}


async def test_batches_delete_everything_past_the_limit_and_zero_keeps_for_ever(
        migrated_db: str) -> None:
    async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
        user_id = (await (await conn.execute(
            "INSERT INTO users (email) VALUES (%s) RETURNING id",
            (f"{uuid.uuid4().hex[:8]}@example.org",))).fetchone())[0]
        for n in range(250):
            await conn.execute("INSERT INTO inference_log (at, model_type, model_version, user_id,"
                               " inputs, output, latency_ms) VALUES (%s, 'risk', 'v1', %s, '{}',"
                               " '{}', 1)", (NOW - (400 + n) * DAY, user_id))
        keep = retention.Retention(samples_days=0, metrics_days=0, inference_log_days=0,
                                   notification_logs_days=0, batch_rows=100)
        assert await retention.enforce(conn, keep, now=NOW) == {}
        deleted = await retention.enforce(conn, retention.Retention(batch_rows=100), now=NOW)
        assert deleted["inference_log"] == 250
        left = await (await conn.execute("SELECT count(*) FROM inference_log")).fetchone()
        assert left == (0,)


async def test_on_timescaledb_old_chunks_and_rows_go(timescale_dsn: str) -> None:
    """The same limits on a real TimescaleDB without background workers (PGlite): its own
    retention policies never run there, this job does the work."""
    from storage.migrate import migrate

    migrate(timescale_dsn)
    async with await psycopg.AsyncConnection.connect(timescale_dsn, autocommit=True) as conn:
        dialect = await (await conn.execute("SELECT name FROM storage_dialect")).fetchone()
        assert dialect == ("timescaledb",)
        user_id = (await (await conn.execute(
            "INSERT INTO users (email) VALUES (%s) RETURNING id",
            (f"{uuid.uuid4().hex[:8]}@example.org",))).fetchone())[0]
        workout_id = uuid.uuid4()
        for seq, age in ((1, 2000 * DAY), (2, 200 * DAY), (3, DAY)):
            at = NOW - age
            await conn.execute("INSERT INTO sensor_data (workout_id, seq, t, hr_bpm)"
                               " VALUES (%s, %s, %s, 150)", (workout_id, seq, at))
            await conn.execute("INSERT INTO workout_metrics (workout_id, t, seq, distance_m,"
                               " moving_time_s) VALUES (%s, %s, %s, 10, 5)", (workout_id, at, seq))
            await conn.execute("INSERT INTO inference_log (at, model_type, model_version, user_id,"
                               " inputs, output, latency_ms) VALUES (%s, 'risk', 'v1', %s, '{}',"
                               " '{}', 1)", (at, user_id))

        await retention.enforce(conn, retention.Retention(batch_rows=100), now=NOW)

        async def seqs(table: str) -> list[int]:
            cur = await conn.execute(f"SELECT seq FROM {table} WHERE workout_id = %s"  # noqa: S608
                                     " ORDER BY seq", (workout_id,))
            return [r[0] for r in await cur.fetchall()]
        assert await seqs("sensor_data") == [2, 3]
        assert await seqs("workout_metrics") == [3]
        left = await (await conn.execute("SELECT count(*) FROM inference_log WHERE user_id = %s",
                                         (user_id,))).fetchone()
        assert left == (1,)


def test_stride_retention_run_says_what_is_kept(stack: Settings) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "stack.cli", "retention", "run"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for target in retention.TARGETS:
        assert target.table in done.stdout
    assert "1095" in done.stdout and "deleted now" in done.stdout
