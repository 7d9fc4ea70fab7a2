-- 0015_internal_gateway.sql: the internal gateway's sessions, account locks and the admin audit
-- (issue 17).
--
-- Columns: sessions.audience, users.locked_at. Tables: admin_audit. Indexes for listing the
-- consent journal and the inference log across all athletes.
--
-- sessions.audience: which listener minted the session and is the only one that accepts it.
--   'public' (every session so far, and the default) for the public gateway; 'internal' for
--   the internal gateway, whose sign-in needs an admin or ML engineer with TOTP. A token
--   stolen from one side opens nothing on the other.
-- users.locked_at: set while an admin keeps the account out. Logins are refused and every
--   token check fails while it is set (sessions and device tokens alike); locking also ends
--   the open sessions. NULL: not locked.
-- admin_audit: one row per change made through the internal gateway's admin API — who
--   (actor_id), what (action, detail), on what (target), when (at), from which client address,
--   and how it ended (outcome: 'ok' or the error code it was refused with after
--   authorization). No foreign keys, so the record outlives the accounts it names, and it is
--   append-only like the other journals (triggers refuse UPDATE, DELETE and TRUNCATE).

ALTER TABLE sessions
    ADD COLUMN audience text NOT NULL DEFAULT 'public',
    ADD CONSTRAINT sessions_audience_check CHECK (audience IN ('public', 'internal'));

ALTER TABLE users ADD COLUMN locked_at timestamptz NULL;

CREATE TABLE admin_audit (
    id       uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    at       timestamptz NOT NULL DEFAULT now(),
    actor_id uuid        NOT NULL,
    action   text        NOT NULL,
    target   text        NOT NULL,
    detail   jsonb       NOT NULL DEFAULT '{}',
    address  text        NOT NULL,
    outcome  text        NOT NULL DEFAULT 'ok',
    CONSTRAINT admin_audit_action_check  CHECK (action ~ '^[a-zA-Z][a-zA-Z0-9_.]{0,63}$'),
    CONSTRAINT admin_audit_target_check  CHECK (length(target) BETWEEN 1 AND 200),
    CONSTRAINT admin_audit_detail_check  CHECK (jsonb_typeof(detail) = 'object'),
    CONSTRAINT admin_audit_address_check CHECK (length(address) BETWEEN 1 AND 100),
    CONSTRAINT admin_audit_outcome_check CHECK (outcome ~ '^[a-z][a-z_]{0,49}$')
);

-- The audit log newest first, whole or by actor, action or target.
CREATE INDEX admin_audit_at_idx ON admin_audit (at DESC, id DESC);
CREATE INDEX admin_audit_actor_at_idx ON admin_audit (actor_id, at DESC);
CREATE INDEX admin_audit_target_at_idx ON admin_audit (target, at DESC);

-- The admin area lists the consent journal and the inference log across every athlete, newest
-- first; their existing indexes lead with the athlete or the model type.
CREATE INDEX consent_journal_at_idx ON consent_journal (at DESC, id DESC);
CREATE INDEX inference_log_at_idx ON inference_log (at DESC, id DESC);

CREATE FUNCTION admin_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'admin_audit is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE TRIGGER admin_audit_no_update_delete
    BEFORE UPDATE OR DELETE ON admin_audit
    FOR EACH ROW EXECUTE FUNCTION admin_audit_append_only();
CREATE TRIGGER admin_audit_no_truncate
    BEFORE TRUNCATE ON admin_audit
    FOR EACH STATEMENT EXECUTE FUNCTION admin_audit_append_only();

COMMENT ON COLUMN sessions.audience IS 'The listener that minted the session and alone accepts it: public or internal.';
COMMENT ON COLUMN users.locked_at IS 'Set while an admin keeps the account out: no login, no token works.';
COMMENT ON TABLE admin_audit IS 'Append-only record of every change made through the internal admin API.';
