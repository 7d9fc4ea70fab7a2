-- 0009_training_preferences.sql: what the recommender needs to know about an athlete
-- besides the body data of 0001.
--
-- users.goal: what the athlete trains for — 'endurance', 'weight_loss' or 'speed'.
--   NULL until the athlete says; the recommender then assumes 'endurance'.
-- users.inventory: the equipment at hand — 'bike', 'treadmill' or 'none'
--   (outdoor and bodyweight sessions only). NULL until the athlete says; the
--   recommender then assumes 'none', so it never proposes equipment one may lack.
-- Both are set through PATCH /v1/users/me; a change of either (or of the body
-- data) publishes UserMetricsUpdated, which refreshes the recommendations.

ALTER TABLE users
    ADD COLUMN goal      text NULL,
    ADD COLUMN inventory text NULL,
    ADD CONSTRAINT users_goal_check      CHECK (goal IN ('endurance', 'weight_loss', 'speed')),
    ADD CONSTRAINT users_inventory_check CHECK (inventory IN ('bike', 'treadmill', 'none'));

COMMENT ON COLUMN users.goal IS 'Training goal: endurance, weight_loss or speed (NULL: not given).';
COMMENT ON COLUMN users.inventory IS 'Equipment at hand: bike, treadmill or none (NULL: not given).';
