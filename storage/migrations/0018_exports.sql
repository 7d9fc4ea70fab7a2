-- 0018_exports.sql: a person's copy of their data (GDPR art. 15 / 20, issue 18).
--
-- Tables: export_jobs, workout_breaks.
--
-- export_jobs: one row per export a person asked for (POST /v1/me/export). A gateway claims a
--   pending job — or a running one whose lease ran out because the gateway working on it
--   stopped — with FOR UPDATE SKIP LOCKED, so two gateways never build the same ZIP and a
--   restarted one takes up what was left unfinished (from the start: the half-written file
--   is thrown away). lease_until is pushed on with every workout written. The ZIP lies
--   under the export directory (a setting) as file_name; expires_at is when the download
--   stops working (410) and the file is removed. At most one job per person is pending or
--   running (the partial unique index): a second request while one runs is refused (409).
--   The jobs go with the account (CASCADE); the files are removed by the erasure routine
--   (storage/exports.py delete_for) and by the expiry sweep.
-- workout_breaks: the pauses and resumes of a workout, which until now lived only on Kafka
--   and in the actor's snapshot. The exported samples CSV carries them, so a re-import
--   (stride import) pauses where the original did and counts the same moving time, calories
--   and zones. after_seq is the last sample applied before the change (the summary's
--   last_seq), version the workout's version at that change, so a redelivered event hits
--   the key and adds nothing. Rows go with the workout (CASCADE): deleting or erasing a
--   workout removes them. Workouts recorded before this migration have no rows; their
--   export says so.

CREATE TABLE export_jobs (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status         text        NOT NULL DEFAULT 'pending',
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz NULL,
    finished_at    timestamptz NULL,
    expires_at     timestamptz NULL,
    lease_until    timestamptz NULL,
    attempts       integer     NOT NULL DEFAULT 0,
    workouts_done  integer     NOT NULL DEFAULT 0,
    workouts_total integer     NULL,
    file_name      text        NULL,
    size_bytes     bigint      NULL,
    sha256         text        NULL,
    error          text        NULL,
    CONSTRAINT export_jobs_status_check CHECK (status IN ('pending', 'running', 'ready', 'failed',
                                                          'expired')),
    CONSTRAINT export_jobs_file_name_check CHECK (file_name ~ '^[0-9a-f-]{36}\.zip$'),
    CONSTRAINT export_jobs_progress_check CHECK (workouts_done >= 0
                                                 AND workouts_done <= coalesce(workouts_total, workouts_done)),
    CONSTRAINT export_jobs_ready_check CHECK (status <> 'ready'
                                              OR (file_name IS NOT NULL AND expires_at IS NOT NULL))
);

CREATE UNIQUE INDEX export_jobs_one_open_key ON export_jobs (user_id)
    WHERE status IN ('pending', 'running');
CREATE INDEX export_jobs_user_id_idx ON export_jobs (user_id, created_at DESC);
-- What a gateway may claim, and what the expiry sweep removes.
CREATE INDEX export_jobs_open_idx ON export_jobs (created_at) WHERE status IN ('pending', 'running');
CREATE INDEX export_jobs_expires_idx ON export_jobs (expires_at) WHERE status = 'ready';

CREATE TABLE workout_breaks (
    workout_id uuid        NOT NULL REFERENCES workouts (id) ON DELETE CASCADE,
    version    bigint      NOT NULL,
    kind       text        NOT NULL,
    at_ms      bigint      NOT NULL,
    after_seq  bigint      NOT NULL,
    PRIMARY KEY (workout_id, version),
    CONSTRAINT workout_breaks_kind_check CHECK (kind IN ('pause', 'resume')),
    CONSTRAINT workout_breaks_after_seq_check CHECK (after_seq >= -1)
);

COMMENT ON TABLE export_jobs IS
    'Exports people asked for (GDPR art. 15/20): progress, the ZIP''s name under the export directory, expiry.';
COMMENT ON TABLE workout_breaks IS
    'Pauses and resumes of a workout: after which sample (after_seq) and when (at_ms, Unix ms).';
