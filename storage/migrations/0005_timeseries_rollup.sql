-- 0005_timeseries_rollup.sql: the per-minute rollup of live metrics, Timescale policies,
-- and the index the GPS-path builder scans.
--
-- workout_metrics_1m: one row per workout and minute of live metrics. The same
-- columns exist in both dialects, so storage/timeseries.py reads it with one query:
--   timescaledb: a continuous aggregate over workout_metrics, refreshed every
--     minute by a policy, with real-time aggregation on (materialized_only = false)
--     so the minute in progress shows too.
--   native: an ordinary table that storage/timeseries.write_metrics keeps up to
--     date in the same statement that inserts the metrics (a writable CTE). Only
--     rows really inserted reach it, so a redelivered Kafka event adds nothing.
-- Averages are kept as sums and counts (speed_sum / speed_n, hr_sum / hr_n): the
-- native table can then add a new batch to a minute already summed; the reader
-- divides.
-- Buckets start at TimescaleDB's default origin, 2000-01-03 00:00 UTC; the native
-- side uses date_bin with the same origin, so minutes line up exactly.
--
-- Timescale policies (the native dialect has none of these; its daily partitions
-- are created by the worker's maintenance timer):
--   compression: chunks of sensor_data and workout_metrics older than 7 days are
--     compressed, segmented by workout_id and ordered by t, which is how they are
--     read (one workout's samples in time order);
--   retention: live metric snapshots are dropped after 90 days (the per-minute
--     aggregate keeps their summary: its refresh window is only the last 2 days,
--     so it never recomputes a dropped range); raw samples are kept 3 years.

CREATE INDEX workouts_gps_path_pending_idx ON workouts (end_time)
    WHERE status = 'finished' AND gps_path IS NULL;

DO $do$
DECLARE
    rollup_cols text := $cols$
        workout_id    uuid             NOT NULL,
        bucket        timestamptz      NOT NULL,
        n             bigint           NOT NULL,
        last_seq      bigint           NOT NULL,
        distance_m    double precision NOT NULL,
        moving_time_s double precision NOT NULL,
        speed_sum     double precision NOT NULL,
        speed_n       bigint           NOT NULL,
        hr_sum        double precision NOT NULL,
        hr_n          bigint           NOT NULL,
        hr_max        real             NULL,
        spo2_min      real             NULL,
        calories_kcal double precision NULL,
        trimp         double precision NULL,
        PRIMARY KEY (workout_id, bucket)
    $cols$;
BEGIN
    IF (SELECT name FROM storage_dialect) = 'timescaledb' THEN
        CREATE MATERIALIZED VIEW workout_metrics_1m WITH (timescaledb.continuous) AS
        SELECT workout_id,
               time_bucket(INTERVAL '1 minute', t) AS bucket,
               count(*)                           AS n,
               max(seq)                           AS last_seq,
               max(distance_m)                    AS distance_m,
               max(moving_time_s)                 AS moving_time_s,
               coalesce(sum(speed_mps), 0)::float8 AS speed_sum,
               count(speed_mps)                   AS speed_n,
               coalesce(sum(hr_bpm), 0)::float8   AS hr_sum,
               count(hr_bpm)                      AS hr_n,
               max(hr_bpm)                        AS hr_max,
               min(spo2_pct)                      AS spo2_min,
               max(calories_kcal)                 AS calories_kcal,
               max(trimp)                         AS trimp
        FROM workout_metrics
        GROUP BY workout_id, time_bucket(INTERVAL '1 minute', t)
        WITH NO DATA;
        ALTER MATERIALIZED VIEW workout_metrics_1m SET (timescaledb.materialized_only = false);
        PERFORM add_continuous_aggregate_policy('workout_metrics_1m',
            start_offset => INTERVAL '2 days', end_offset => INTERVAL '1 minute',
            schedule_interval => INTERVAL '1 minute');

        ALTER TABLE sensor_data SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'workout_id', timescaledb.compress_orderby = 't');
        ALTER TABLE workout_metrics SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'workout_id', timescaledb.compress_orderby = 't');
        PERFORM add_compression_policy('sensor_data', INTERVAL '7 days');
        PERFORM add_compression_policy('workout_metrics', INTERVAL '7 days');
        PERFORM add_retention_policy('workout_metrics', INTERVAL '90 days');
        PERFORM add_retention_policy('sensor_data', INTERVAL '3 years');
    ELSE
        EXECUTE format('CREATE TABLE workout_metrics_1m (%s)', rollup_cols);
        COMMENT ON TABLE workout_metrics_1m IS
            'Per-minute rollup of workout_metrics, maintained by the metrics sink (native dialect).';
    END IF;
END
$do$;
