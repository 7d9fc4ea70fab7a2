-- 0020_access_log_consent.sql: who looked at whose health data, the consent to process
-- health data at all, and a guardian's consent for athletes under 16 (issue 18, points 6, 7).
--
-- Tables: health_access_log, guardian_consents. Columns: users.health_consent_at,
-- users.health_consent_policy. Functions: erase_health_access_log(uuid).
--
-- health_access_log: one row per read of another person's health data (heart rate, SpO2 and
--   what derives from them, privacy/health.py) — through the REST API, the live feed (one row
--   per feed session and athlete, not per update) or an export by support staff. viewer_id:
--   who read (NULL for staff tools without an account, and after the viewer was erased:
--   viewer_erased then says so); viewer_role: the role the read was allowed under (coach,
--   admin, staff); subject_id: whose data; what: which data (workout, workouts, samples,
--   minutes, splits, live, export), workout_id when one workout; via: rest, live or export;
--   basis: consent (consent_id names it when one was found) or role (an admin) or staff
--   (staff_reason says why). No foreign keys, so a row outlives the accounts it names until
--   the erasure path removes it. Append-only: triggers refuse UPDATE, DELETE and TRUNCATE,
--   except what erase_health_access_log does for the one person being erased — delete the
--   rows about them (their data is gone, and so is the record of who saw it) and pseudonymise
--   the rows where they were the viewer (viewer_id NULL, viewer_erased true: the athletes
--   they looked at keep the record that someone, now erased, did).
-- users.health_consent_at / health_consent_policy: the explicit consent to process health
--   data (GDPR art. 9(2)(a)) in force and the policy version it was given under; NULL when
--   never given or withdrawn. Every grant and withdrawal is journaled in consent_journal
--   (scope 'health_processing'). Accounts from before this migration have none: they are
--   asked for it (README, Privacy).
-- guardian_consents: for an athlete under 16 (art. 8), a guardian's consent. The athlete
--   names the guardian's e-mail; the guardian, signed in with an account of that address and
--   of age, confirms (confirmed_at, guardian_id) or later withdraws (withdrawn_at). One open
--   request or consent per athlete (partial unique index). Grants and withdrawals are
--   journaled too (scope 'guardian').

CREATE TABLE health_access_log (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    at            timestamptz NOT NULL DEFAULT now(),
    viewer_id     uuid        NULL,
    viewer_erased boolean     NOT NULL DEFAULT false,
    viewer_role   text        NOT NULL,
    subject_id    uuid        NOT NULL,
    what          text        NOT NULL,
    workout_id    uuid        NULL,
    via           text        NOT NULL,
    basis         text        NOT NULL,
    consent_id    uuid        NULL,
    staff_reason  text        NULL,
    CONSTRAINT health_access_log_role_check CHECK (viewer_role IN ('coach', 'admin', 'staff')),
    CONSTRAINT health_access_log_what_check
        CHECK (what IN ('workout', 'workouts', 'samples', 'minutes', 'splits', 'live', 'export')),
    CONSTRAINT health_access_log_via_check CHECK (via IN ('rest', 'live', 'export')),
    CONSTRAINT health_access_log_basis_check CHECK (basis IN ('consent', 'role', 'staff')),
    CONSTRAINT health_access_log_reason_check
        CHECK ((basis = 'staff') = (staff_reason IS NOT NULL)
               AND (staff_reason IS NULL OR length(btrim(staff_reason)) BETWEEN 1 AND 500)),
    CONSTRAINT health_access_log_viewer_check CHECK (NOT (viewer_erased AND viewer_id IS NOT NULL)),
    CONSTRAINT health_access_log_self_check CHECK (viewer_id IS DISTINCT FROM subject_id)
);

-- An athlete's log, newest first (GET /v1/me/access-log); everyone's for admins.
CREATE INDEX health_access_log_subject_idx ON health_access_log (subject_id, at DESC, id DESC);
CREATE INDEX health_access_log_at_idx ON health_access_log (at DESC, id DESC);
-- A viewer's reads (admins' filter, and the erasure of a viewer).
CREATE INDEX health_access_log_viewer_idx ON health_access_log (viewer_id, at DESC)
    WHERE viewer_id IS NOT NULL;

CREATE FUNCTION health_access_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    erasing text := coalesce(current_setting('stride.erasing_person', true), '');
BEGIN
    IF erasing <> '' AND TG_OP = 'DELETE' AND OLD.subject_id::text = erasing THEN
        RETURN OLD;
    END IF;
    IF erasing <> '' AND TG_OP = 'UPDATE' AND OLD.viewer_id::text = erasing
       AND NEW.viewer_id IS NULL AND NEW.viewer_erased
       AND (NEW.id, NEW.at, NEW.viewer_role, NEW.subject_id, NEW.what, NEW.workout_id, NEW.via,
            NEW.basis, NEW.consent_id, NEW.staff_reason)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.at, OLD.viewer_role, OLD.subject_id, OLD.what, OLD.workout_id, OLD.via,
            OLD.basis, OLD.consent_id, OLD.staff_reason) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'health_access_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE TRIGGER health_access_log_no_update_delete
    BEFORE UPDATE OR DELETE ON health_access_log
    FOR EACH ROW EXECUTE FUNCTION health_access_log_append_only();
CREATE TRIGGER health_access_log_no_truncate
    BEFORE TRUNCATE ON health_access_log
    FOR EACH STATEMENT EXECUTE FUNCTION health_access_log_append_only();

-- The erasure path (storage/access_log.py: erase_person): the only way rows change. The
-- setting that opens the trigger names one person and lasts only until the function ends.
CREATE FUNCTION erase_health_access_log(person uuid) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    deleted bigint;
    pseudonymised bigint;
BEGIN
    PERFORM set_config('stride.erasing_person', person::text, true);
    DELETE FROM health_access_log WHERE subject_id = person;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    UPDATE health_access_log SET viewer_id = NULL, viewer_erased = true WHERE viewer_id = person;
    GET DIAGNOSTICS pseudonymised = ROW_COUNT;
    PERFORM set_config('stride.erasing_person', '', true);
    RETURN deleted + pseudonymised;
END
$fn$;

COMMENT ON TABLE health_access_log IS
    'Append-only: every read of another person''s health data (who, whose, what, when, basis).';

ALTER TABLE users
    ADD COLUMN health_consent_at timestamptz NULL,
    ADD COLUMN health_consent_policy text NULL,
    ADD CONSTRAINT users_health_consent_check
        CHECK ((health_consent_at IS NULL) = (health_consent_policy IS NULL));

CREATE TABLE guardian_consents (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    athlete_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    guardian_email text        NOT NULL,
    guardian_id    uuid        NULL REFERENCES users (id) ON DELETE SET NULL,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    confirmed_at   timestamptz NULL,
    withdrawn_at   timestamptz NULL,
    CONSTRAINT guardian_consents_email_check CHECK (length(guardian_email) BETWEEN 3 AND 254)
);

CREATE UNIQUE INDEX guardian_consents_open_idx ON guardian_consents (athlete_id)
    WHERE withdrawn_at IS NULL;
CREATE INDEX guardian_consents_email_idx ON guardian_consents (guardian_email)
    WHERE withdrawn_at IS NULL;
