-- 0001_accounts.sql: users and everything needed to sign in.
--
-- Tables: users, social_logins, roles, sessions.
--
-- This follows the "users and security" service of the original architecture,
-- with these changes:
--   * Primary keys are uuid with gen_random_uuid() defaults. That function is
--     built into PostgreSQL 13+, so no pgcrypto extension is needed.
--   * Every time column is timestamptz. Plain timestamp drops the offset and
--     silently depends on the session's time zone.
--   * The VARCHAR(n) columns became text with CHECKs. The limits stay explicit,
--     but changing one no longer rewrites the table.
--   * email is stored lower-case (enforced by a CHECK) and is UNIQUE. The
--     application lower-cases it before writing, and the unique index then
--     stops two accounts sharing one address with different case.
--   * The profile columns that the metrics use (sex, weight_kg, hr_rest,
--     hr_max, vo2max) live on users because the REST contract
--     (GET|PATCH /v1/users/me) exposes them there. The units are
--     kg, beats per minute and ml/kg/min.
--   * password_hash may be NULL for accounts that only sign in through a
--     social provider.
--   * The seed's phone VARCHAR(11) could not hold international numbers. It is
--     now an optional E.164-style number of up to 15 digits.
--   * sessions store only a hash of the bearer token (token_hash, unique), so a
--     leaked database dump cannot be replayed as live tokens. last_seen_at
--     supports idle timeouts. revoked_at implements logout without deleting
--     the row, which keeps it for auditing.
--
-- ON DELETE: social_logins, roles and sessions are part of the account, so they
-- are removed with it (CASCADE). roles.granted_by only points at whoever granted
-- the role, so deleting that person just clears it (SET NULL).
-- Workouts do NOT cascade (see 0002): a user is erased by an explicit routine that
-- also deletes their samples, because those have no foreign key.

CREATE TABLE users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text        NOT NULL,
    phone         text        NULL,
    password_hash text        NULL,
    first_name    text        NULL,
    second_name   text        NULL,   -- middle name / patronymic
    last_name     text        NULL,
    birth_date    date        NULL,
    sex           text        NULL,
    weight_kg     real        NULL,
    hr_rest       smallint    NULL,   -- resting heart rate, bpm
    hr_max        smallint    NULL,   -- maximum heart rate, bpm
    vo2max        real        NULL,   -- ml/kg/min
    country       text        NULL,   -- ISO 3166-1 alpha-2, upper case
    city          text        NULL,
    time_zone     text        NULL,   -- IANA name, e.g. 'Europe/Berlin'; used for local day windows
    avatar_url    text        NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT users_email_lower_check  CHECK (email = lower(email)),
    CONSTRAINT users_email_format_check CHECK (length(email) <= 254 AND email ~ '^[^@\s]+@[^@\s]+$'),
    CONSTRAINT users_email_key          UNIQUE (email),
    CONSTRAINT users_phone_check        CHECK (phone ~ '^\+?[0-9]{7,15}$'),
    CONSTRAINT users_names_length_check CHECK (length(first_name) <= 100
                                               AND length(second_name) <= 100
                                               AND length(last_name) <= 100),
    CONSTRAINT users_birth_date_check   CHECK (birth_date >= DATE '1900-01-01'),
    CONSTRAINT users_sex_check          CHECK (sex IN ('male', 'female')),
    CONSTRAINT users_weight_kg_check    CHECK (weight_kg > 0 AND weight_kg <= 500),
    CONSTRAINT users_hr_rest_check      CHECK (hr_rest BETWEEN 20 AND 150),
    CONSTRAINT users_hr_max_check       CHECK (hr_max BETWEEN 60 AND 250),
    CONSTRAINT users_hr_order_check     CHECK (hr_rest < hr_max),
    CONSTRAINT users_vo2max_check       CHECK (vo2max > 0 AND vo2max <= 100),
    CONSTRAINT users_country_check      CHECK (country ~ '^[A-Z]{2}$'),
    CONSTRAINT users_city_check         CHECK (length(city) <= 100),
    CONSTRAINT users_time_zone_check    CHECK (length(time_zone) <= 64)
);

-- One row per (user, provider). The (provider, external_id) pair is the login
-- lookup, and it must belong to exactly one Stride account.
CREATE TABLE social_logins (
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider    text        NOT NULL,
    external_id text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, provider),
    CONSTRAINT social_logins_provider_check    CHECK (provider ~ '^[a-z][a-z0-9_]{1,19}$'),
    CONSTRAINT social_logins_external_id_check CHECK (length(external_id) BETWEEN 1 AND 255),
    CONSTRAINT social_logins_provider_external_id_key UNIQUE (provider, external_id)
);

CREATE TABLE roles (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text        NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    granted_by uuid        NULL REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (user_id, role),
    CONSTRAINT roles_role_check CHECK (role IN ('athlete', 'coach', 'admin', 'partner', 'ml_engineer'))
);

-- "Who has role X" (for example, listing admins). Lookups by user use the primary key.
CREATE INDEX roles_role_idx ON roles (role);

CREATE TABLE sessions (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   bytea       NOT NULL,   -- e.g. SHA-256 of the bearer token; never the token itself
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz NULL,
    CONSTRAINT sessions_token_hash_key     UNIQUE (token_hash),
    CONSTRAINT sessions_token_hash_check   CHECK (octet_length(token_hash) >= 16),
    CONSTRAINT sessions_expires_at_check   CHECK (expires_at > created_at),
    CONSTRAINT sessions_revoked_at_check   CHECK (revoked_at >= created_at)
);

-- "Sessions of a user" (list them, or revoke them all on a password change).
CREATE INDEX sessions_user_id_idx ON sessions (user_id, created_at DESC);
-- Used by the periodic job that purges expired sessions.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

COMMENT ON TABLE users IS 'Stride accounts and the profile fields used by the workout metrics.';
COMMENT ON COLUMN users.email IS 'Lower-case e-mail address, unique; the application lower-cases before writing.';
COMMENT ON TABLE sessions IS 'Bearer-token sessions; only a hash of the token is stored.';
