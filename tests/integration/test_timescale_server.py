"""The TimescaleDB of the dialect tests (`stack/timescale_local.py`) is a real TimescaleDB.

It needs Node and npm only, not the local stack. The database is shared by the session, so
every test works on tables named after `unique`. One connection at a time: each test closes
its connection before opening another.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import psycopg
import pytest

pytestmark = pytest.mark.integration

BASE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _connect(dsn: str) -> psycopg.Connection:
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    return conn


def test_timescaledb_extension_is_2x(timescale_dsn: str) -> None:
    with psycopg.connect(timescale_dsn, autocommit=True) as conn:
        # The migrations create it inside a DO block with an exception handler.
        conn.execute("DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS timescaledb; "
                     "EXCEPTION WHEN OTHERS THEN RAISE NOTICE '%', SQLERRM; END $$")
        row = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        assert row is not None and row[0].startswith("2."), row
        license_ = conn.execute("SHOW timescaledb.license").fetchone()
        assert license_ == ("timescale",)  # the community edition: compression, caggs, policies


def test_hypertable_and_time_bucket(timescale_dsn: str, unique: str) -> None:
    table = f"samples_{unique}"
    workout = uuid.uuid4()
    n = 7200  # two hours at 1 Hz
    with _connect(timescale_dsn) as conn:
        conn.execute(f"CREATE TABLE {table} (workout_id uuid NOT NULL, seq bigint NOT NULL, "
                     "t timestamptz NOT NULL, hr real, PRIMARY KEY (workout_id, seq, t))")
        conn.execute(f"SELECT create_hypertable('{table}', 't', "
                     "chunk_time_interval => INTERVAL '1 hour')")
        insert = (f"INSERT INTO {table} (workout_id, seq, t, hr) "
                  "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::timestamptz[], %s::real[]) "
                  "ON CONFLICT (workout_id, seq, t) DO NOTHING")
        params = ([workout] * n, list(range(n)), [BASE + dt.timedelta(seconds=i) for i in range(n)],
                  [100.0 + i % 60 for i in range(n)])
        assert conn.execute(insert, params).rowcount == n
        assert conn.execute(insert, params).rowcount == 0  # idempotent on (workout_id, seq, t)

        chunks = conn.execute(f"SELECT count(*) FROM show_chunks('{table}')").fetchone()
        assert chunks == (2,)
        buckets = conn.execute(
            f"SELECT time_bucket(INTERVAL '1 minute', t) AS b, count(*), avg(hr) FROM {table} "
            "GROUP BY b ORDER BY b").fetchall()
        assert len(buckets) == 120
        assert buckets[0] == (BASE, 60, pytest.approx(129.5))
        assert all(count == 60 for _, count, _ in buckets)
        differ = conn.execute(
            f"SELECT count(*) FROM {table} WHERE time_bucket(INTERVAL '1 minute', t) "
            "<> date_bin(INTERVAL '1 minute', t, TIMESTAMPTZ '2000-01-01')").fetchone()
        assert differ == (0,)


def test_continuous_aggregate_and_policies(timescale_dsn: str, unique: str) -> None:
    table, view = f"metrics_{unique}", f"metrics_1m_{unique}"
    workout = uuid.uuid4()
    with _connect(timescale_dsn) as conn:
        conn.execute(f"CREATE TABLE {table} (workout_id uuid NOT NULL, seq bigint NOT NULL, "
                     "t timestamptz NOT NULL, x double precision, PRIMARY KEY (workout_id, seq, t))")
        conn.execute(f"SELECT create_hypertable('{table}', 't', chunk_time_interval => INTERVAL '1 day')")
        conn.cursor().executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s)",
                                  [(workout, i, BASE + dt.timedelta(seconds=10 * i), float(i))
                                   for i in range(12)])
        conn.execute(f"CREATE MATERIALIZED VIEW {view} WITH (timescaledb.continuous) AS "
                     f"SELECT workout_id, time_bucket(INTERVAL '1 minute', t) AS bucket, "
                     f"count(*) AS n, max(x) AS x_max, last(x, t) AS x_last FROM {table} "
                     "GROUP BY workout_id, bucket WITH NO DATA")
        conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
        assert conn.execute(f"SELECT bucket, n, x_max, x_last FROM {view} ORDER BY bucket").fetchall() == [
            (BASE, 6, 5.0, 5.0), (BASE + dt.timedelta(minutes=1), 6, 11.0, 11.0)]

        # Real-time aggregation sees rows that no refresh has materialised yet.
        conn.execute(f"ALTER MATERIALIZED VIEW {view} SET (timescaledb.materialized_only = false)")
        conn.execute(f"INSERT INTO {table} VALUES (%s, 100, %s, 42)", (workout, BASE + dt.timedelta(hours=1)))
        assert conn.execute(f"SELECT n, x_max FROM {view} WHERE bucket = %s",
                            (BASE + dt.timedelta(hours=1),)).fetchall() == [(1, 42.0)]
        # As in any TimescaleDB, a refresh cannot run inside a transaction block.
        with pytest.raises(psycopg.errors.ActiveSqlTransaction), conn.transaction():
            conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")

        conn.execute(f"SELECT add_continuous_aggregate_policy('{view}', start_offset => INTERVAL '1 day', "
                     "end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute')")
        conn.execute(f"ALTER TABLE {table} SET (timescaledb.compress, "
                     "timescaledb.compress_segmentby = 'workout_id', timescaledb.compress_orderby = 't')")
        conn.execute(f"SELECT add_compression_policy('{table}', INTERVAL '7 days')")
        conn.execute(f"SELECT add_retention_policy('{table}', INTERVAL '90 days')")
        jobs = conn.execute("SELECT proc_name FROM timescaledb_information.jobs "
                            "WHERE hypertable_name IN (%s, %s) ORDER BY proc_name",
                            (table, view)).fetchall()
        assert [name for (name,) in jobs] == [
            "policy_compression", "policy_refresh_continuous_aggregate", "policy_retention"]
        compressed = conn.execute(f"SELECT count(compress_chunk(c)) FROM show_chunks('{table}') c").fetchone()
        assert compressed == (1,)
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (13,)


async def test_async_parameters_and_executemany(timescale_dsn: str, unique: str) -> None:
    table = f"async_{unique}"
    workout = uuid.uuid4()
    async with await psycopg.AsyncConnection.connect(timescale_dsn, autocommit=True) as conn:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        await conn.execute(f"CREATE TABLE {table} (workout_id uuid NOT NULL, seq bigint NOT NULL, "
                           "t timestamptz NOT NULL, speed real, PRIMARY KEY (workout_id, seq, t))")
        await conn.execute(f"SELECT create_hypertable('{table}', 't', "
                           "chunk_time_interval => INTERVAL '1 day')")
        rows = [(workout, i, BASE + dt.timedelta(seconds=i), 3.5) for i in range(300)]
        async with conn.cursor() as cur:
            await cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s) "
                                  "ON CONFLICT (workout_id, seq, t) DO NOTHING", rows)
            await cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s) "
                                  "ON CONFLICT (workout_id, seq, t) DO NOTHING", rows[:10])
            await cur.execute(f"SELECT count(*), max(seq) FROM {table} WHERE workout_id = %s "
                              "AND t >= %s", (workout, BASE))
            assert await cur.fetchone() == (300, 299)
            await cur.execute(f"SELECT time_bucket(%s::interval, t) AS b, count(*) FROM {table} "
                              "GROUP BY b ORDER BY b", (dt.timedelta(minutes=1),))
            assert [n for _, n in await cur.fetchall()] == [60] * 5


def test_one_connection_at_a_time_with_session_reset(timescale_dsn: str) -> None:
    """A second simultaneous connection is refused; the next one starts a clean session."""
    with psycopg.connect(timescale_dsn, autocommit=True) as first:
        first.execute("SET statement_timeout = '7s'")
        for i in range(6):  # psycopg prepares a statement from its 5th execution on
            first.execute("SELECT %s::int", (i,))
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match="too many connections"):
            psycopg.connect(timescale_dsn, connect_timeout=20)
        assert time.monotonic() - started < 15
    with psycopg.connect(timescale_dsn, autocommit=True) as second:
        assert second.execute("SHOW statement_timeout").fetchone() == ("0",)
        assert second.execute("SHOW search_path").fetchone() == ("public",)
        for i in range(6):  # would fail with DuplicatePreparedStatement without the reset
            second.execute("SELECT %s::int", (i,))


def test_copy_from_stdin_is_refused_and_copy_to_stdout_works(timescale_dsn: str, unique: str) -> None:
    table = f"copy_{unique}"
    with psycopg.connect(timescale_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (a int)")
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="COPY FROM STDIN"):
            with conn.cursor().copy(f"COPY {table} (a) FROM STDIN") as copy:
                copy.write_row((1,))
        conn.execute(f"INSERT INTO {table} VALUES (1), (2)")
        with conn.cursor().copy(f"COPY {table} TO STDOUT") as copy:
            assert b"".join(bytes(block) for block in copy) == b"1\n2\n"
