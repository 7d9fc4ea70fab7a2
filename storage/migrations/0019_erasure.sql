-- 0019_erasure.sql: erasing an account (GDPR art. 17, issue 18).
--
-- Tables: erasure_journal. Columns: users.erasure_requested_at. Indexes for retention.
-- Functions: the append-only
-- triggers of consent_journal, group_journal, admin_audit and dead_letter_journal now let
-- the erasure routine (and only it) pseudonymise a row.
--
-- users.erasure_requested_at: set when the person asked to be erased. From then on the
--   account is locked (locked_at) and its sessions are gone; the users row itself is the
--   last thing deleted, so an erasure that stopped half-way (a crash, a restart) is found
--   by this column and finished by the worker's maintenance job (privacy/erasure.py).
-- erasure_journal: one row per erased person, holding no personal data: `pseudonym` is
--   HMAC-SHA256(pepper, user_id) in hex (privacy/keys.py KeyRing.pseudonym), which only a
--   holder of the pepper can compute from an id — so a restore of an older dump computes it
--   for every restored user and erases the matches again (stack/backup.py). requested_at /
--   completed_at say when, `stores` what was cleared (rows per table, Redis keys, actors
--   stopped, data keys shredded). Append-only except that the routine completes its own row
--   once (completed_at and stores); no DELETE, no TRUNCATE.
-- Journals about the person (consent_journal, group_journal, admin_audit,
--   dead_letter_journal) keep their rows as an audit trail, with the person's id replaced by
--   a UUID derived from the pseudonym (the same person keeps the same stand-in across rows)
--   — they stay append-only for everyone else: an UPDATE is let through only inside a
--   transaction that ran `SET LOCAL stride.erasure = 'pseudonymise'` (storage/erasure.py).

ALTER TABLE users ADD COLUMN erasure_requested_at timestamptz NULL;

CREATE INDEX users_erasure_requested_idx ON users (erasure_requested_at)
    WHERE erasure_requested_at IS NOT NULL;

CREATE TABLE erasure_journal (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    pseudonym    text        NOT NULL,
    requested_at timestamptz NOT NULL,
    completed_at timestamptz NULL,
    stores       jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT erasure_journal_pseudonym_check CHECK (pseudonym ~ '^[0-9a-f]{64}$'),
    CONSTRAINT erasure_journal_stores_check    CHECK (jsonb_typeof(stores) = 'object'),
    CONSTRAINT erasure_journal_order_check     CHECK (completed_at >= requested_at)
);

-- One open erasure per person; a restore looks pseudonyms up.
CREATE UNIQUE INDEX erasure_journal_open_key ON erasure_journal (pseudonym) WHERE completed_at IS NULL;
CREATE INDEX erasure_journal_pseudonym_idx ON erasure_journal (pseudonym);

CREATE FUNCTION erasure_journal_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.completed_at IS NULL
       AND NEW.id = OLD.id AND NEW.pseudonym = OLD.pseudonym
       AND NEW.requested_at = OLD.requested_at THEN
        RETURN NEW;   -- the erasure completes its own row, once
    END IF;
    RAISE EXCEPTION 'erasure_journal is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE TRIGGER erasure_journal_no_update_delete
    BEFORE UPDATE OR DELETE ON erasure_journal
    FOR EACH ROW EXECUTE FUNCTION erasure_journal_append_only();
CREATE TRIGGER erasure_journal_no_truncate
    BEFORE TRUNCATE ON erasure_journal
    FOR EACH STATEMENT EXECUTE FUNCTION erasure_journal_append_only();

-- The journals' triggers: still append-only, except an UPDATE by the erasure routine.
CREATE FUNCTION stride_erasure_pseudonymising() RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(current_setting('stride.erasure', true), '') = 'pseudonymise'
$fn$;

CREATE OR REPLACE FUNCTION consent_journal_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'UPDATE' AND stride_erasure_pseudonymising() THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'consent_journal is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE OR REPLACE FUNCTION group_journal_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'UPDATE' AND stride_erasure_pseudonymising() THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'group_journal is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE OR REPLACE FUNCTION admin_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'UPDATE' AND stride_erasure_pseudonymising() THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'admin_audit is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE OR REPLACE FUNCTION dead_letter_journal_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'UPDATE' AND stride_erasure_pseudonymising() THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'dead_letter_journal is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

-- Retention (storage/retention.py) deletes by age: notification_logs had no index on its
-- time column, and the native per-minute rollup none on its bucket (a continuous aggregate
-- with TimescaleDB, which follows its source instead).
CREATE INDEX notification_logs_created_at_idx ON notification_logs (created_at);
DO $do$
BEGIN
    IF (SELECT name FROM storage_dialect) = 'native' THEN
        CREATE INDEX workout_metrics_1m_bucket_idx ON workout_metrics_1m USING brin (bucket);
    END IF;
END
$do$;

COMMENT ON COLUMN users.erasure_requested_at IS
    'When the person asked to be erased; the row goes last, so an unfinished erasure is found here.';
COMMENT ON TABLE erasure_journal IS
    'Append-only: who was erased (HMAC pseudonym, no personal data), when, and which stores were cleared.';
