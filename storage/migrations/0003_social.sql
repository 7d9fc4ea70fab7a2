-- 0003_social.sql: groups, coaching consent, achievements and leaderboards.
--
-- Tables: groups, user_groups, consents, consent_journal, achievements,
-- user_achievements, leaderboard.
--
-- This is the "social and gamification" service of the original architecture,
-- which covered groups, achievements and rankings. The seed suggested a graph
-- database. Plain relational tables with the right indexes are enough for
-- memberships and consents, and they keep the consent checks transactional.
--
-- groups: sport uses the same set of values as workouts.sport. created_by is
--   SET NULL on delete, so a group outlives the account that created it. The
--   application makes the creator the group's first coach in user_groups.
-- user_groups: role says whether a member is an athlete or a coach of the
--   group. The row is removed when either the user or the group is deleted.
-- consents: an athlete lets the coaches of one group watch them live
--   (scope 'live', the only scope today). Withdrawing sets withdrawn_at and
--   takes effect at once, and a partial unique index allows only one active
--   consent per athlete, group and scope. The live-view check must also confirm
--   that the athlete is still a member (user_groups), because consent alone
--   does not imply membership.
-- consent_journal: an append-only record of every grant and withdrawal: who
--   acted, on whose data, what was done, when, for which purpose and under
--   which policy version (GDPR/CCPA "Consent Management with a journal of all
--   changes"). It has no foreign keys so that it survives deletion of the user
--   or group, because a record of consent must still be provable. Triggers
--   reject UPDATE, DELETE and TRUNCATE. The application writes one row in the
--   same transaction as each change to consents.
-- achievements / user_achievements: the seed's badge_id is renamed
--   achievement_id. Deleting a catalogue entry that someone has already earned
--   is refused (RESTRICT) rather than silently wiping users' badges. The
--   optional workout_id, the workout that earned the badge, is SET NULL if
--   that workout goes away.
-- leaderboard: the durable copy of the Redis boards
--   (lb:{sport}:{region}:{window}), so they can be rebuilt. The seed had one
--   score per user and sport. It now has a row per period: 'day' and 'week'
--   have period_start at UTC midnight or UTC Monday, and 'all' uses
--   period_start = '-infinity'. The column is called period because "window"
--   is a reserved word in SQL.

CREATE TABLE groups (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text        NOT NULL,
    sport      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid        NULL REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT groups_name_check  CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    CONSTRAINT groups_sport_check CHECK (sport IN ('run', 'ride', 'walk', 'swim', 'row', 'hike', 'ski', 'other'))
);

CREATE INDEX groups_created_by_idx ON groups (created_by);

CREATE TABLE user_groups (
    user_id   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id  uuid        NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    role      text        NOT NULL DEFAULT 'athlete',
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, group_id),
    CONSTRAINT user_groups_role_check CHECK (role IN ('athlete', 'coach'))
);

-- "Members (or coaches) of a group". Lookups by user use the primary key.
CREATE INDEX user_groups_group_id_role_idx ON user_groups (group_id, role);

CREATE TABLE consents (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    athlete_id   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id     uuid        NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    scope        text        NOT NULL DEFAULT 'live',
    granted_at   timestamptz NOT NULL DEFAULT now(),
    withdrawn_at timestamptz NULL,
    CONSTRAINT consents_scope_check        CHECK (scope IN ('live')),
    CONSTRAINT consents_withdrawn_at_check CHECK (withdrawn_at >= granted_at)
);

-- At most one active consent per athlete, group and scope. This index also
-- serves the query "does athlete A currently allow group G".
CREATE UNIQUE INDEX consents_active_key ON consents (athlete_id, group_id, scope) WHERE withdrawn_at IS NULL;
-- "Which athletes may the coaches of group G watch now" (the coach live view).
CREATE INDEX consents_group_active_idx ON consents (group_id) WHERE withdrawn_at IS NULL;

CREATE TABLE consent_journal (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    at             timestamptz NOT NULL DEFAULT now(),        -- when
    actor_id       uuid        NULL,                          -- who acted (athlete, admin); NULL = system
    athlete_id     uuid        NOT NULL,                      -- whose data the consent covers
    consent_id     uuid        NULL,                          -- the consents row, if any
    group_id       uuid        NULL,
    action         text        NOT NULL,                      -- what
    scope          text        NOT NULL,
    purpose        text        NOT NULL,                      -- e.g. 'live coaching'
    policy_version text        NOT NULL,                      -- privacy policy version in force
    CONSTRAINT consent_journal_action_check  CHECK (action IN ('granted', 'withdrawn')),
    CONSTRAINT consent_journal_purpose_check CHECK (length(purpose) BETWEEN 1 AND 500),
    CONSTRAINT consent_journal_policy_check  CHECK (length(policy_version) BETWEEN 1 AND 50)
);

CREATE INDEX consent_journal_athlete_id_at_idx ON consent_journal (athlete_id, at);

CREATE FUNCTION consent_journal_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'consent_journal is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE TRIGGER consent_journal_no_update_delete
    BEFORE UPDATE OR DELETE ON consent_journal
    FOR EACH ROW EXECUTE FUNCTION consent_journal_append_only();
CREATE TRIGGER consent_journal_no_truncate
    BEFORE TRUNCATE ON consent_journal
    FOR EACH STATEMENT EXECUTE FUNCTION consent_journal_append_only();

CREATE TABLE achievements (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    code        text        NOT NULL,   -- stable key used by the rules, e.g. 'first_10k'
    title       text        NOT NULL,
    description text        NULL,
    icon_url    text        NULL,
    sport       text        NULL,       -- NULL = any sport
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT achievements_code_key         UNIQUE (code),
    CONSTRAINT achievements_code_check       CHECK (code ~ '^[a-z0-9_]{1,64}$'),
    CONSTRAINT achievements_title_check      CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    CONSTRAINT achievements_description_check CHECK (length(description) <= 2048),
    CONSTRAINT achievements_sport_check      CHECK (sport IN ('run', 'ride', 'walk', 'swim', 'row', 'hike', 'ski', 'other'))
);

CREATE TABLE user_achievements (
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    achievement_id uuid        NOT NULL REFERENCES achievements (id) ON DELETE RESTRICT,
    unlocked_at    timestamptz NOT NULL DEFAULT now(),
    workout_id     uuid        NULL REFERENCES workouts (id) ON DELETE SET NULL,
    PRIMARY KEY (user_id, achievement_id)
);

-- "Recent achievements of a user" (the activity feed), and "who earned badge X".
CREATE INDEX user_achievements_user_id_unlocked_at_idx ON user_achievements (user_id, unlocked_at DESC);
CREATE INDEX user_achievements_achievement_id_idx ON user_achievements (achievement_id);
CREATE INDEX user_achievements_workout_id_idx ON user_achievements (workout_id) WHERE workout_id IS NOT NULL;

CREATE TABLE leaderboard (
    sport          text             NOT NULL,
    region         text             NOT NULL,   -- country code, or a wider region such as 'global'
    period         text             NOT NULL,
    period_start   timestamptz      NOT NULL,
    user_id        uuid             NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    score          double precision NOT NULL DEFAULT 0,
    workouts_count integer          NOT NULL DEFAULT 0,
    updated_at     timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (sport, region, period, period_start, user_id),
    CONSTRAINT leaderboard_sport_check  CHECK (sport IN ('run', 'ride', 'walk', 'swim', 'row', 'hike', 'ski', 'other')),
    CONSTRAINT leaderboard_region_check CHECK (length(region) BETWEEN 1 AND 50),
    CONSTRAINT leaderboard_period_check CHECK (period IN ('day', 'week', 'all')),
    CONSTRAINT leaderboard_period_start_check
        CHECK ((period = 'all') = (period_start = '-infinity'::timestamptz)),
    CONSTRAINT leaderboard_score_check          CHECK (score >= 0),
    CONSTRAINT leaderboard_workouts_count_check CHECK (workouts_count >= 0)
);

-- Top N of one board: ORDER BY score DESC LIMIT n.
CREATE INDEX leaderboard_rank_idx ON leaderboard (sport, region, period, period_start, score DESC);
-- All of a user's rows (profile page, erasure).
CREATE INDEX leaderboard_user_id_idx ON leaderboard (user_id);

COMMENT ON TABLE consents IS 'Athlete -> group live-view consents; withdrawn_at set on withdrawal (effective immediately).';
COMMENT ON TABLE consent_journal IS 'Append-only audit of consent grants/withdrawals (who, what, when, purpose, policy_version).';
COMMENT ON TABLE leaderboard IS 'Durable copy of the Redis leaderboards; period_start = -infinity for the all-time board.';
