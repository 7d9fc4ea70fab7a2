-- 0008_inference_log.sql: every model inference, for ML engineers to analyse.
--
-- Tables: inference_log.
--
-- inference_log: one row per inference a Stride process asked a model for — which
--   model type and version answered, the inputs and the output as JSON, how long it
--   took, and what triggered it (the athlete and the workout, when there is one). An
--   ML engineer finds wrong predictions with plain SQL, e.g. the risk model's
--   probabilities for athletes who were later injured. The rows hold health-derived
--   inputs, so they go with the user (CASCADE). Rows are append-only in practice;
--   retention is a DELETE by age, served by the index on `at`.

CREATE TABLE inference_log (
    id            uuid             PRIMARY KEY DEFAULT gen_random_uuid(),
    at            timestamptz      NOT NULL DEFAULT now(),
    model_type    text             NOT NULL,
    model_version text             NOT NULL,
    user_id       uuid             NULL REFERENCES users (id) ON DELETE CASCADE,
    workout_id    uuid             NULL,
    inputs        jsonb            NOT NULL,
    output        jsonb            NOT NULL,
    latency_ms    double precision NOT NULL,
    CONSTRAINT inference_log_type_check    CHECK (model_type ~ '^[a-z][a-z0-9_]{0,49}$'),
    CONSTRAINT inference_log_latency_check CHECK (latency_ms >= 0)
);

-- "What did model X answer lately", "every inference of version V".
CREATE INDEX inference_log_type_at_idx ON inference_log (model_type, at DESC);
CREATE INDEX inference_log_version_idx ON inference_log (model_type, model_version);
CREATE INDEX inference_log_user_id_idx ON inference_log (user_id) WHERE user_id IS NOT NULL;

COMMENT ON TABLE inference_log IS 'Every model inference: type, version, inputs, output, latency, trigger.';
