-- 0007_model_registry.sql: what the model registry needs for deploy and rollback.
--
-- Tables: ai_models (0004) gains columns; ai_model_deployments is new.
--
-- ai_models:
--   checksum is the SHA-256 (hex) of the artifact as it was registered
--     (models.train.artifact_sha256). A deploy recomputes it from the artifact
--     and refuses to serve one that no longer matches. Rows registered before
--     this migration have none and cannot be deployed until re-registered.
--   previous_id is the model of the same type that was deployed when this one
--     was deployed: a rollback retires the current model and deploys its
--     previous_id again (keeping that model's own previous_id, so a second
--     rollback goes one step further back). SET NULL if that row is deleted.
--   deployed_by is who last deployed (or rolled back to) the model.
-- ai_model_deployments: the audit trail, one row per deploy or rollback: who
--   did it, when, from which model to which. from_model_id is NULL for the
--   first deploy of a type. The rows outlive users (SET NULL) but not models.

ALTER TABLE ai_models
    ADD COLUMN checksum    text NULL,
    ADD COLUMN previous_id uuid NULL REFERENCES ai_models (id) ON DELETE SET NULL,
    ADD COLUMN deployed_by uuid NULL REFERENCES users (id) ON DELETE SET NULL,
    ADD CONSTRAINT ai_models_checksum_check CHECK (checksum ~ '^[0-9a-f]{64}$'),
    ADD CONSTRAINT ai_models_previous_check CHECK (previous_id <> id);

CREATE TABLE ai_model_deployments (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type          text        NOT NULL,
    action        text        NOT NULL,
    from_model_id uuid        NULL REFERENCES ai_models (id) ON DELETE CASCADE,
    to_model_id   uuid        NOT NULL REFERENCES ai_models (id) ON DELETE CASCADE,
    actor         uuid        NULL REFERENCES users (id) ON DELETE SET NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ai_model_deployments_action_check CHECK (action IN ('deploy', 'rollback'))
);

-- "History of the risk model's deployments, newest first" (stride models show, audits).
CREATE INDEX ai_model_deployments_type_at_idx ON ai_model_deployments (type, at DESC);

COMMENT ON TABLE ai_model_deployments IS 'Audit trail of model deploys and rollbacks.';
