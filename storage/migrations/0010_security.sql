-- 0010_security.sql: what it takes to put the gateway on the internet (issue 14).
--
-- Tables: workout_ids, device_tokens, mfa_totp, mfa_recovery_codes, group_invitations,
-- group_journal, privacy_settings. Columns: sessions.mfa_verified, sessions.reauth_at,
-- consents.history_from (and the scope 'history').
--
-- workout_ids: which account a workout id belongs to, for ever. A device picks the id,
--   so without this row anyone who learns an id could `start` it once its snapshot has
--   expired. The row is claimed before any actor exists. When the account is erased
--   the row stays with user_id NULL: a tombstone holding no personal data that keeps
--   the id reserved. Existing workouts are claimed for their owners below.
-- device_tokens: long-lived tokens for watches and phones, scoped to the device
--   WebSocket only; listed and revoked by the athlete. Only a SHA-256 of the token is
--   stored, as for sessions.
-- mfa_totp / mfa_recovery_codes: TOTP (RFC 6238) enrolment. confirmed_at is set once
--   the athlete proved a code; last_step holds the newest time step used, so a code is
--   accepted once only (ASVS 2.8.4). Recovery codes are stored as SHA-256 hashes (they
--   are 50 random bits each, not passwords) and each works once.
-- sessions.mfa_verified: the session was opened with a second factor; roles that
--   require MFA act only through such sessions. sessions.reauth_at: when the password
--   (and the code, with MFA) was last given on this session; sensitive changes need it
--   recent.
-- consents: scope 'history' lets a group's coaches read past workouts; 'live' keeps
--   meaning live sessions only. history_from: the first start time a history consent
--   covers (the grant by default); NULL on a history consent covers every workout.
-- group_invitations: a coach joins a group only by accepting an invitation.
-- group_journal: append-only record of who was invited, joined, removed or left a
--   group; the ids stay after a group or user is gone, so no foreign keys.
-- privacy_settings: one row per athlete who changed a default. Every shared surface
--   (leaderboards now; feed, profile and percentiles later) reads it; without a row
--   the athlete is private.

ALTER TABLE sessions
    ADD COLUMN mfa_verified boolean     NOT NULL DEFAULT false,
    ADD COLUMN reauth_at    timestamptz NOT NULL DEFAULT now();

CREATE TABLE workout_ids (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NULL REFERENCES users (id) ON DELETE SET NULL,
    claimed_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO workout_ids (id, user_id, claimed_at)
SELECT id, user_id, start_time FROM workouts
ON CONFLICT (id) DO NOTHING;

CREATE TABLE device_tokens (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL,
    token_hash   bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NULL,
    revoked_at   timestamptz NULL,
    CONSTRAINT device_tokens_token_hash_key   UNIQUE (token_hash),
    CONSTRAINT device_tokens_name_check       CHECK (length(name) BETWEEN 1 AND 100),
    CONSTRAINT device_tokens_token_hash_check CHECK (octet_length(token_hash) >= 16)
);

CREATE INDEX device_tokens_user_id_idx ON device_tokens (user_id, created_at DESC);

CREATE TABLE mfa_totp (
    user_id      uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz NULL,
    last_step    bigint      NOT NULL DEFAULT 0,
    CONSTRAINT mfa_totp_secret_check CHECK (secret ~ '^[A-Z2-7]{32}$')
);

CREATE TABLE mfa_recovery_codes (
    user_id   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea       NOT NULL,
    used_at   timestamptz NULL,
    PRIMARY KEY (user_id, code_hash)
);

ALTER TABLE consents DROP CONSTRAINT consents_scope_check;
ALTER TABLE consents
    ADD COLUMN history_from timestamptz NULL,
    ADD CONSTRAINT consents_scope_check CHECK (scope IN ('live', 'history')),
    ADD CONSTRAINT consents_history_from_check CHECK (scope = 'history' OR history_from IS NULL);

CREATE TABLE group_invitations (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    group_id     uuid        NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    invitee_id   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         text        NOT NULL DEFAULT 'coach',
    invited_by   uuid        NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    status       text        NOT NULL DEFAULT 'pending',
    responded_at timestamptz NULL,
    CONSTRAINT group_invitations_role_check   CHECK (role IN ('coach')),
    CONSTRAINT group_invitations_status_check CHECK (status IN ('pending', 'accepted', 'declined', 'revoked'))
);

CREATE UNIQUE INDEX group_invitations_pending_key ON group_invitations (group_id, invitee_id)
    WHERE status = 'pending';
CREATE INDEX group_invitations_invitee_idx ON group_invitations (invitee_id, created_at DESC);

CREATE TABLE group_journal (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    at         timestamptz NOT NULL DEFAULT now(),
    group_id   uuid        NOT NULL,
    actor_id   uuid        NULL,   -- who acted; NULL = the system
    subject_id uuid        NOT NULL,   -- whose membership changed
    action     text        NOT NULL,
    role       text        NOT NULL,
    CONSTRAINT group_journal_action_check CHECK (action IN ('invited', 'accepted', 'declined',
                                                            'revoked', 'added', 'removed', 'left')),
    CONSTRAINT group_journal_role_check   CHECK (role IN ('athlete', 'coach'))
);

CREATE INDEX group_journal_group_id_at_idx ON group_journal (group_id, at);

CREATE FUNCTION group_journal_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'group_journal is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE TRIGGER group_journal_no_update_delete
    BEFORE UPDATE OR DELETE ON group_journal
    FOR EACH ROW EXECUTE FUNCTION group_journal_append_only();
CREATE TRIGGER group_journal_no_truncate
    BEFORE TRUNCATE ON group_journal
    FOR EACH STATEMENT EXECUTE FUNCTION group_journal_append_only();

CREATE TABLE privacy_settings (
    user_id            uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    leaderboard_name   boolean     NOT NULL DEFAULT false,
    profile_visibility text        NOT NULL DEFAULT 'private',
    workout_visibility text        NOT NULL DEFAULT 'private',
    in_percentiles     boolean     NOT NULL DEFAULT false,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT privacy_settings_profile_check CHECK (profile_visibility IN ('private', 'followers', 'public')),
    CONSTRAINT privacy_settings_workout_check CHECK (workout_visibility IN ('private', 'followers', 'public'))
);

COMMENT ON TABLE workout_ids IS 'Owner of every workout id ever started; user_id NULL = reserved tombstone of an erased account.';
COMMENT ON TABLE device_tokens IS 'Ingest-only device tokens; only a hash is stored.';
COMMENT ON TABLE group_journal IS 'Append-only audit of group membership changes.';
COMMENT ON TABLE privacy_settings IS 'What an athlete shows on shared surfaces; no row = private.';
