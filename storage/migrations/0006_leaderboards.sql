-- 0006_leaderboards.sql: what the leaderboards have counted.
--
-- Tables: leaderboard_entries (the boards themselves are `leaderboard`, 0003).
--
-- A workout counts on the boards once, when it completes. The leaderboards agent
-- consumes workout.lifecycle, and Kafka delivers at least once: a worker killed
-- between its database commit and its offset commit reads the same
-- WorkoutCompleted again. leaderboard_entries makes the counting idempotent: one
-- row per counted workout, inserted with ON CONFLICT (workout_id) DO NOTHING, and
-- only when that insert really added the row are the athlete's `leaderboard` rows
-- incremented (score += distance_m, workouts_count += 1), in the same
-- transaction. A redelivered event therefore changes nothing, and the counting
-- can always be audited (and `leaderboard` recomputed) from these rows.
--
-- leaderboard_entries:
--   user_id cascades, like `leaderboard`: erasing an athlete removes them from
--     the rankings. A user that does not exist is refused by the foreign key,
--     which sends the event to the dead-letter topic instead of inventing a row.
--   workout_id deliberately has NO foreign key to workouts. The workouts
--     projection is a separate agent and may write its row after (or, for a
--     dead-lettered summary, never) this one; a foreign key would turn that
--     normal reordering into refused writes. workouts.user_id is also RESTRICT,
--     which this table must not inherit.
--   sport, started_at and distance_m are copied from the completed workout's
--     final summary. started_at decides the day and week windows (UTC day, ISO
--     week from Monday 00:00 UTC). Its range CHECK refuses a device clock that
--     is wildly wrong (and anything Python's datetime cannot hold) instead of
--     creating boards for the year 30000.
--   country is the athlete's users.country when the workout was counted (NULL:
--     only the global board). It is kept so the regional boards never move when
--     an athlete changes country later: what was counted stays where it was
--     counted, and a rebuild from this table gives the same boards.
--   distance_m must be finite: NaN passes `>= 0` in PostgreSQL (NaN sorts above
--     every number), so `< 'Infinity'` is what refuses both NaN and infinity.
--   A workout with distance 0 (a treadmill run, a swim without GPS) is counted:
--     its workouts_count goes up and the athlete appears on the board with 0 m.

CREATE TABLE leaderboard_entries (
    workout_id uuid             PRIMARY KEY,
    user_id    uuid             NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sport      text             NOT NULL,
    country    text             NULL,
    started_at timestamptz      NOT NULL,
    distance_m double precision NOT NULL,
    counted_at timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT leaderboard_entries_sport_check
        CHECK (sport IN ('run', 'ride', 'walk', 'swim', 'row', 'hike', 'ski', 'other')),
    CONSTRAINT leaderboard_entries_country_check CHECK (country ~ '^[A-Z]{2}$'),
    CONSTRAINT leaderboard_entries_started_at_check
        CHECK (started_at >= '1970-01-01 00:00:00+00' AND started_at < '2200-01-01 00:00:00+00'),
    CONSTRAINT leaderboard_entries_distance_m_check
        CHECK (distance_m >= 0 AND distance_m < 'Infinity')
);

-- An athlete's counted workouts (erasure, recomputing one athlete's rows).
CREATE INDEX leaderboard_entries_user_id_idx ON leaderboard_entries (user_id);
-- The rebuild's catch-up pass reads the rows changed since it took its snapshot.
CREATE INDEX leaderboard_updated_at_idx ON leaderboard (updated_at);

COMMENT ON TABLE leaderboard_entries IS
    'One row per workout counted on the leaderboards; makes counting idempotent (0006).';
