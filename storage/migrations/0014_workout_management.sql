-- 0014_workout_management.sql: athletes manage their own workouts (issue 17).
--
-- Columns: workouts.title, workout_ids.deleted_at.
--
-- workouts.title: the name an athlete gives a workout ("Sunday long run"); NULL until they
--   give one (the web app then shows the sport and the date). Set by PATCH /v1/workouts/{id}
--   or with an uploaded file; the projection never writes it, so a late summary from the
--   workout actor cannot undo a rename. Bounded like other names people type, and free of
--   control characters (gateway/text.py checks the invisible ones too).
-- workout_ids.deleted_at: set when the athlete deleted the workout. The id stays reserved
--   (the row is the owner's claim, for ever: see 0010), and every writer of workout data —
--   the projection, the samples and metrics sinks, the leaderboards — skips an id with a
--   deletion time, so an event still in flight on Kafka (the metrics topic may lag the
--   lifecycle topic, and a redelivery may come at any time) cannot bring back what was
--   deleted. The partial index holds only deleted ids, so that check stays small.

ALTER TABLE workouts
    ADD COLUMN title text NULL,
    ADD CONSTRAINT workouts_title_check
        CHECK (length(btrim(title)) BETWEEN 1 AND 120 AND title !~ '[[:cntrl:]]');

ALTER TABLE workout_ids ADD COLUMN deleted_at timestamptz NULL;

CREATE INDEX workout_ids_deleted_idx ON workout_ids (id) WHERE deleted_at IS NOT NULL;

COMMENT ON COLUMN workouts.title IS 'The athlete''s name for the workout (NULL: none given).';
COMMENT ON COLUMN workout_ids.deleted_at IS
    'When the owner deleted the workout; writers skip such ids so in-flight events cannot restore it.';
