-- 0002_workouts.sql: workouts and their time series.
--
-- Tables: workouts, sensor_data, workout_metrics, storage_dialect.
-- Function: stride_ensure_partitions(regclass, timestamptz, timestamptz).
--
-- workouts is the projection of the workout actor's state that the Kafka sinks
-- maintain. Its id has no default because the device picks it and sends it in
-- the "start" frame.
--
-- sensor_data holds one row per sample. The seed used one row per workout with
-- parallel arrays. workout_metrics holds the actor's live metric snapshots
-- (about 1 Hz per workout). Units are part of every column name.
--
-- sensor_data and workout_metrics deliberately have NO foreign key to workouts.
-- The sinks consume different Kafka topics independently, so samples can be
-- written before the workouts projection row exists. A foreign key would turn
-- that normal reordering into failed writes and dead letters. Erasing a user
-- must therefore delete that user's samples and metrics explicitly, and this is
-- also why workouts.user_id does not cascade.
--
-- Idempotency: the device resends unacknowledged samples, so sinks insert with
--     INSERT ... ON CONFLICT (workout_id, seq, t) DO NOTHING.
-- The key includes t because a hypertable's (or partitioned table's) unique
-- key must contain the partitioning column.
--
-- Dialect: the DO block below tries CREATE EXTENSION timescaledb. If that works,
-- both time-series tables become hypertables with 1-day chunks. If it fails
-- (on plain PostgreSQL 15: 'extension "timescaledb" is not available' or
-- "could not open extension control file", depending on the minor version;
-- or the library is not preloaded; or the role lacks the privilege), they become
-- native PARTITION BY RANGE (t) tables instead: daily partitions, a DEFAULT
-- partition and BRIN indexes on t. The choice is recorded in storage_dialect.
-- Each column list is written once and used by both branches, so the two
-- cannot drift apart.
--
-- Why daily partitions: at about 1 sample per second, every live workout adds
-- 86,400 rows per day to sensor_data. Daily partitions keep each one small
-- enough for its indexes to stay in memory, let retention drop whole days, and
-- match the 1-day Timescale chunks, so both dialects behave the same. A workout
-- rarely crosses more than one midnight, so a query for one workout and a time
-- range touches one or two partitions. Partition boundaries are UTC midnights,
-- whatever the session's time zone.
--
-- The DEFAULT partition catches rows for days that have no partition yet (for
-- example, a device clock far in the future). stride_ensure_partitions should
-- be run ahead of time by a daily job, for instance covering now() - 1 day to
-- now() + 7 days. If it is run late anyway, it moves the rows for the new day
-- out of DEFAULT before attaching the partition, so it does not fail.

CREATE TABLE workouts (
    id               uuid             PRIMARY KEY,
    user_id          uuid             NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    sport            text             NOT NULL,
    status           text             NOT NULL,
    start_time       timestamptz      NOT NULL,
    end_time         timestamptz      NULL,
    distance_m       double precision NOT NULL DEFAULT 0,
    duration_s       double precision NOT NULL DEFAULT 0,
    moving_time_s    double precision NOT NULL DEFAULT 0,
    elevation_gain_m double precision NOT NULL DEFAULT 0,
    calories_kcal    double precision NOT NULL DEFAULT 0,
    last_seq         bigint           NOT NULL DEFAULT -1,   -- last applied sample seq; -1 = none yet
    samples_count    bigint           NOT NULL DEFAULT 0,
    version          bigint           NOT NULL DEFAULT 0,    -- grows with every change the actor makes; newest summary wins
    gps_path         jsonb            NULL,
    summary          jsonb            NOT NULL DEFAULT '{}',
    created_at       timestamptz      NOT NULL DEFAULT now(),
    updated_at       timestamptz      NOT NULL DEFAULT now(),

    CONSTRAINT workouts_sport_check  CHECK (sport IN ('run', 'ride', 'walk', 'swim', 'row', 'hike', 'ski', 'other')),
    CONSTRAINT workouts_status_check CHECK (status IN ('created', 'active', 'paused', 'finished')),
    CONSTRAINT workouts_end_time_check         CHECK (end_time >= start_time),
    CONSTRAINT workouts_distance_m_check       CHECK (distance_m >= 0),
    CONSTRAINT workouts_duration_s_check       CHECK (duration_s >= 0),
    CONSTRAINT workouts_moving_time_s_check    CHECK (moving_time_s >= 0),
    CONSTRAINT workouts_elevation_gain_m_check CHECK (elevation_gain_m >= 0),
    CONSTRAINT workouts_calories_kcal_check    CHECK (calories_kcal >= 0),
    CONSTRAINT workouts_last_seq_check         CHECK (last_seq >= -1),
    CONSTRAINT workouts_samples_count_check    CHECK (samples_count >= 0),
    CONSTRAINT workouts_gps_path_check         CHECK (jsonb_typeof(gps_path) IN ('array', 'object')),
    CONSTRAINT workouts_summary_check          CHECK (jsonb_typeof(summary) = 'object')
);

-- "An athlete's workouts, newest first" (GET /v1/workouts?athlete=...).
CREATE INDEX workouts_user_id_start_time_idx ON workouts (user_id, start_time DESC);
-- Workouts that are live right now (coach view, actor recovery). The index is
-- small because finished workouts are left out.
CREATE INDEX workouts_live_idx ON workouts (start_time DESC) WHERE status IN ('created', 'active', 'paused');

-- Which time-series dialect this database uses. It always holds exactly one row,
-- which the unique index on a constant enforces.
CREATE TABLE storage_dialect (
    name      text        PRIMARY KEY CHECK (name IN ('timescaledb', 'native')),
    chosen_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX storage_dialect_single_row_idx ON storage_dialect ((true));

-- stride_ensure_partitions(tbl, from_ts, to_ts)
-- Creates the missing daily (UTC) partitions of a natively range-partitioned
-- table, covering every day from the one containing from_ts through the one
-- containing to_ts. It returns how many partitions it created.
--   * Idempotent: a partition named <table>_pYYYYMMDD that already exists is
--     skipped.
--   * If the DEFAULT partition already holds rows for a new day, those rows are
--     moved into the new partition first. Otherwise ATTACH would fail with
--     "updated partition constraint for default partition would be violated".
--     The DEFAULT partition is locked (ACCESS EXCLUSIVE, which ATTACH needs
--     anyway) before the move, so no row can slip in between the move and the
--     attach. In that late case the parent is also locked against inserts
--     until commit, so concurrent writers wait and then land in the new
--     partition. In the normal case (run ahead of time) writers are never
--     blocked. The one exception is a writer that targets the new day in the
--     few milliseconds the attach takes: it gets a retryable check violation.
--   * The partition is built as a plain table and then attached. ATTACH only
--     needs SHARE UPDATE EXCLUSIVE on the parent, whereas CREATE TABLE ...
--     PARTITION OF would need ACCESS EXCLUSIVE, so inserts into other days keep
--     flowing. A temporary CHECK on the new table lets ATTACH skip its
--     validation scan. The parent's indexes are created on the new partition
--     automatically.
--   * On a TimescaleDB hypertable, or any table that is not partitioned, it
--     does nothing and returns 0, because TimescaleDB creates chunks by itself.
--     So application code may call it whatever the dialect is.
-- Concurrent callers are serialised by a transaction-level advisory lock.
CREATE FUNCTION stride_ensure_partitions(tbl regclass, from_ts timestamptz, to_ts timestamptz)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_nsp      text;
    v_rel      text;
    v_key      text;
    v_default  regclass;
    v_day      timestamptz;
    v_next     timestamptz;
    v_part     text;
    v_created  integer := 0;
    v_late     boolean;
BEGIN
    IF from_ts IS NULL OR to_ts IS NULL OR to_ts < from_ts THEN
        RAISE EXCEPTION 'stride_ensure_partitions: bad range [%, %]', from_ts, to_ts;
    END IF;

    SELECT n.nspname, c.relname INTO v_nsp, v_rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = tbl AND c.relkind = 'p';
    IF NOT FOUND THEN
        RETURN 0;   -- hypertable or ordinary table: nothing to do
    END IF;

    -- The partition key must be a single timestamptz column with RANGE strategy.
    SELECT a.attname INTO v_key
      FROM pg_partitioned_table p
      JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
     WHERE p.partrelid = tbl AND p.partstrat = 'r' AND p.partnatts = 1
       AND a.atttypid = 'timestamptz'::regtype;
    IF v_key IS NULL THEN
        RAISE EXCEPTION 'stride_ensure_partitions: % is not range-partitioned on one timestamptz column', tbl;
    END IF;

    PERFORM pg_advisory_xact_lock(hashtext('stride_ensure_partitions:' || tbl::oid::text));

    SELECT i.inhrelid::regclass INTO v_default
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = tbl AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';

    -- UTC midnight at or before from_ts. UTC days are always exactly 24 hours,
    -- so adding '24 hours' is exact whatever the session time zone is.
    v_day := date_trunc('day', from_ts, 'UTC');
    WHILE v_day <= to_ts LOOP
        v_next := v_day + interval '24 hours';
        v_part := left(v_rel, 48) || '_p' || to_char(v_day AT TIME ZONE 'UTC', 'YYYYMMDD');

        IF to_regclass(format('%I.%I', v_nsp, v_part)) IS NULL THEN
            EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                           v_nsp, v_part, tbl);

            IF v_default IS NOT NULL THEN
                -- Late path: DEFAULT already holds rows for this day, so writers
                -- for the day are probably active. Block new inserts on the parent
                -- (the parent only; reads continue) so that they wait and are then
                -- routed to the new partition, instead of failing.
                EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I >= %L AND %I < %L)',
                               v_default, v_key, v_day, v_key, v_next) INTO v_late;
                IF v_late THEN
                    EXECUTE format('LOCK TABLE ONLY %s IN SHARE ROW EXCLUSIVE MODE', tbl);
                END IF;
                EXECUTE format('LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE', v_default);
                EXECUTE format('WITH moved AS (DELETE FROM %s WHERE %I >= %L AND %I < %L RETURNING *) '
                               'INSERT INTO %I.%I SELECT * FROM moved',
                               v_default, v_key, v_day, v_key, v_next, v_nsp, v_part);
            END IF;

            EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT %I CHECK (%I >= %L AND %I < %L)',
                           v_nsp, v_part, v_part || '_bound', v_key, v_day, v_key, v_next);
            EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                           tbl, v_nsp, v_part, v_day, v_next);
            EXECUTE format('ALTER TABLE %I.%I DROP CONSTRAINT %I', v_nsp, v_part, v_part || '_bound');
            v_created := v_created + 1;
        END IF;

        v_day := v_next;
    END LOOP;

    RETURN v_created;
END
$fn$;

COMMENT ON FUNCTION stride_ensure_partitions(regclass, timestamptz, timestamptz) IS
    'Create missing daily UTC partitions of a native range-partitioned table for [from_ts, to_ts], '
    'moving matching rows out of the DEFAULT partition first. No-op (returns 0) on hypertables.';

DO $do$
DECLARE
    -- Column lists, written once and used by both dialects.
    sensor_data_cols text := $cols$
        workout_id uuid             NOT NULL,
        seq        bigint           NOT NULL CONSTRAINT sensor_data_seq_check        CHECK (seq >= 0),
        t          timestamptz      NOT NULL,
        lat        double precision NULL     CONSTRAINT sensor_data_lat_check        CHECK (lat BETWEEN -90 AND 90),
        lon        double precision NULL     CONSTRAINT sensor_data_lon_check        CHECK (lon BETWEEN -180 AND 180),
        alt_m      real             NULL,
        hr_bpm     smallint         NULL     CONSTRAINT sensor_data_hr_bpm_check     CHECK (hr_bpm BETWEEN 20 AND 250),
        spo2_pct   real             NULL     CONSTRAINT sensor_data_spo2_pct_check   CHECK (spo2_pct BETWEEN 50 AND 100),
        accuracy_m real             NULL     CONSTRAINT sensor_data_accuracy_m_check CHECK (accuracy_m >= 0),
        CONSTRAINT sensor_data_lat_lon_check CHECK ((lat IS NULL) = (lon IS NULL)),
        CONSTRAINT sensor_data_pkey PRIMARY KEY (workout_id, seq, t)
    $cols$;
    workout_metrics_cols text := $cols$
        workout_id    uuid             NOT NULL,
        t             timestamptz      NOT NULL,
        seq           bigint           NOT NULL CONSTRAINT workout_metrics_seq_check           CHECK (seq >= -1),
        distance_m    double precision NOT NULL CONSTRAINT workout_metrics_distance_m_check    CHECK (distance_m >= 0),
        moving_time_s double precision NOT NULL CONSTRAINT workout_metrics_moving_time_s_check CHECK (moving_time_s >= 0),
        speed_mps     real             NULL     CONSTRAINT workout_metrics_speed_mps_check     CHECK (speed_mps >= 0),
        hr_bpm        real             NULL     CONSTRAINT workout_metrics_hr_bpm_check        CHECK (hr_bpm BETWEEN 20 AND 250),
        spo2_pct      real             NULL     CONSTRAINT workout_metrics_spo2_pct_check      CHECK (spo2_pct BETWEEN 50 AND 100),
        calories_kcal double precision NULL     CONSTRAINT workout_metrics_calories_kcal_check CHECK (calories_kcal >= 0),
        trimp         double precision NULL     CONSTRAINT workout_metrics_trimp_check         CHECK (trimp >= 0),
        risk_level    text             NULL     CONSTRAINT workout_metrics_risk_level_check    CHECK (risk_level IN ('low', 'moderate', 'high')),
        CONSTRAINT workout_metrics_pkey PRIMARY KEY (workout_id, t)
    $cols$;
    use_timescale boolean;
BEGIN
    -- Try TimescaleDB. Any failure here (no control file on plain PostgreSQL,
    -- library not preloaded, no privilege) is caught, so only this
    -- subtransaction is rolled back and the migration goes on natively.
    BEGIN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'CREATE EXTENSION timescaledb failed (%); native partitioning will be used', SQLERRM;
    END;

    use_timescale := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');

    IF use_timescale THEN
        INSERT INTO storage_dialect (name) VALUES ('timescaledb');

        EXECUTE format('CREATE TABLE sensor_data (%s)', sensor_data_cols);
        EXECUTE format('CREATE TABLE workout_metrics (%s)', workout_metrics_cols);

        -- This argument form works in every TimescaleDB 2.x. From 2.13 the
        -- equivalent is create_hypertable('sensor_data', by_range('t', INTERVAL '1 day')).
        -- The default index on (t DESC) is created as well.
        PERFORM create_hypertable('sensor_data', 't', chunk_time_interval => INTERVAL '1 day');
        PERFORM create_hypertable('workout_metrics', 't', chunk_time_interval => INTERVAL '1 day');

        -- Samples of one workout within a time window (GET /v1/workouts/{id}/samples).
        -- workout_metrics needs no extra index: its primary key is (workout_id, t).
        CREATE INDEX sensor_data_workout_id_t_idx ON sensor_data (workout_id, t);
    ELSE
        INSERT INTO storage_dialect (name) VALUES ('native');

        EXECUTE format('CREATE TABLE sensor_data (%s) PARTITION BY RANGE (t)', sensor_data_cols);
        EXECUTE format('CREATE TABLE workout_metrics (%s) PARTITION BY RANGE (t)', workout_metrics_cols);
        CREATE TABLE sensor_data_default     PARTITION OF sensor_data     DEFAULT;
        CREATE TABLE workout_metrics_default PARTITION OF workout_metrics DEFAULT;

        -- BRIN on t: rows arrive roughly in time order, so a tiny BRIN index
        -- answers time-range scans (retention, analytics) at almost no write cost.
        CREATE INDEX sensor_data_t_brin_idx     ON sensor_data     USING brin (t);
        CREATE INDEX workout_metrics_t_brin_idx ON workout_metrics USING brin (t);
        -- Samples of one workout within a time window, as in the Timescale branch.
        -- Lookups by (workout_id, seq) use the primary key (workout_id, seq, t),
        -- whose leading columns they are, so a separate index would be redundant.
        CREATE INDEX sensor_data_workout_id_t_idx ON sensor_data (workout_id, t);

        PERFORM stride_ensure_partitions('sensor_data', now() - interval '1 day', now() + interval '7 days');
        PERFORM stride_ensure_partitions('workout_metrics', now() - interval '1 day', now() + interval '7 days');
    END IF;
END
$do$;

COMMENT ON TABLE workouts IS
    'Projection of each workout actor''s state, maintained by the Kafka sinks. id is chosen by the device.';
COMMENT ON TABLE sensor_data IS
    'Raw device samples, one row per sample. Idempotent key (workout_id, seq, t). '
    'No FK to workouts on purpose: samples may arrive before the workouts row.';
COMMENT ON TABLE workout_metrics IS
    'Live metric snapshots (~1 Hz per workout); seq is the last sample applied. No FK to workouts on purpose.';
COMMENT ON TABLE storage_dialect IS
    'Exactly one row: timescaledb (hypertables) or native (PARTITION BY RANGE + BRIN).';
