-- 0011_inference_identity.sql: an inference is logged once per trigger.
--
-- inference_log.trigger_id: the workout or profile change that asked for the inference.
-- A redelivered WorkoutCompleted (or UserMetricsUpdated) finds its inference logged already
-- and reuses the answer: no second model call, no second row (the unique index), and the
-- recommendation set it publishes keeps its id. Rows logged before this migration have no
-- trigger and are left as they are.

ALTER TABLE inference_log ADD COLUMN trigger_id uuid NULL;

CREATE UNIQUE INDEX inference_log_trigger_key ON inference_log (model_type, trigger_id)
    WHERE trigger_id IS NOT NULL;
