-- 0012_feature_schema.sql: a model records the feature encoding it was trained on.
--
-- ai_models.feature_schema: models.features.FEATURE_SCHEMA when the model was trained
-- (read from its meta.json at registration). A deploy or rollback refuses a model whose
-- schema differs from the serving code's: its inputs would mean something else. Models
-- registered before this migration (and artifacts without the field) have NULL, which
-- is refused the same way; train them again.
--
-- Since schema 2 the models receive a missing profile value (birth date, sex, weight, goal)
-- as missing, with a flag, instead of the defaults 0009's comments describe.

ALTER TABLE ai_models ADD COLUMN feature_schema integer NULL
    CONSTRAINT ai_models_feature_schema_check CHECK (feature_schema > 0);

COMMENT ON COLUMN ai_models.feature_schema IS
    'models.features.FEATURE_SCHEMA the model was trained on (NULL: before schemas were recorded).';
COMMENT ON COLUMN users.goal IS 'Training goal: endurance, weight_loss or speed (NULL: not given; the models see it as missing).';
