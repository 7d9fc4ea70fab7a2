-- 0004_platform.sql: notifications, marketing analytics and the model registry.
--
-- Tables: notification_preferences, notification_logs, marketing_metrics,
-- ai_models, recommendations.
--
-- notification_preferences: one row per user, notification type and channel.
--   The seed had no channel column. delivery_time_start/end give the allowed
--   delivery window in the user's local time (users.time_zone). The window may
--   wrap past midnight (22:00-07:00), so the end is not required to be after
--   the start. Either both ends are set or neither is.
-- notification_logs: every notification sent, and its delivery state.
--   status is limited to queued | sent | delivered | read | failed | cancelled.
--   attempts counts delivery retries. dedupe_key is optional and unique, which
--   lets a replayed Kafka event that tries to enqueue the same notification
--   fail the insert (or be skipped with ON CONFLICT DO NOTHING). The logs are
--   personal data, so they are deleted together with the user (CASCADE).
-- marketing_metrics: daily totals per campaign. The seed declared this table
--   for ClickHouse (ENGINE = MergeTree()); that clause is dropped and the table
--   is an ordinary PostgreSQL table. The seed's "date" column is renamed "day".
--   Campaigns live in the CRM, so campaign_id is not a foreign key. spend is an
--   exact numeric amount with an explicit ISO 4217 currency code.
-- ai_models: the model registry used by the ML engineers' deploy and rollback.
--   Columns: type (for example 'risk' or 'recommend'), version, artifact path,
--   evaluation metrics and status. (type, version) is unique. A partial unique
--   index allows at most one deployed model per type. A rollback retires the
--   current model first and then deploys the previous one, in one transaction.
-- recommendations: the durable copy of what the recommender produced for a
--   user (the recommendations.ready event goes to Redis and PostgreSQL). items
--   holds the seed's recommendedWorkouts and promoCodes as JSON. model_id is
--   SET NULL if that model is removed from the registry.

CREATE TABLE notification_preferences (
    user_id             uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    notification_type   text        NOT NULL,
    channel             text        NOT NULL DEFAULT 'push',
    enabled             boolean     NOT NULL DEFAULT true,
    delivery_time_start time        NULL,
    delivery_time_end   time        NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, notification_type, channel),
    CONSTRAINT notification_preferences_type_check    CHECK (notification_type ~ '^[a-z][a-z0-9_.]{0,49}$'),
    CONSTRAINT notification_preferences_channel_check CHECK (channel IN ('push', 'email', 'sms', 'in_app')),
    CONSTRAINT notification_preferences_window_check
        CHECK ((delivery_time_start IS NULL) = (delivery_time_end IS NULL))
);

CREATE TABLE notification_logs (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    notification_type text        NOT NULL,
    channel           text        NOT NULL DEFAULT 'push',
    message           text        NOT NULL,
    status            text        NOT NULL DEFAULT 'queued',
    attempts          integer     NOT NULL DEFAULT 0,
    last_error        text        NULL,
    dedupe_key        text        NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notification_logs_type_check     CHECK (notification_type ~ '^[a-z][a-z0-9_.]{0,49}$'),
    CONSTRAINT notification_logs_channel_check  CHECK (channel IN ('push', 'email', 'sms', 'in_app')),
    CONSTRAINT notification_logs_status_check   CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed', 'cancelled')),
    CONSTRAINT notification_logs_attempts_check CHECK (attempts >= 0),
    CONSTRAINT notification_logs_updated_check  CHECK (updated_at >= created_at),
    CONSTRAINT notification_logs_dedupe_key_key UNIQUE (dedupe_key)
);

-- "A user's notifications, newest first" (the in-app inbox, support).
CREATE INDEX notification_logs_user_id_created_at_idx ON notification_logs (user_id, created_at DESC);
-- The delivery worker's queue: notifications still waiting to be sent, oldest first.
CREATE INDEX notification_logs_queued_idx ON notification_logs (created_at) WHERE status = 'queued';

CREATE TABLE marketing_metrics (
    campaign_id uuid          NOT NULL,
    day         date          NOT NULL,
    impressions bigint        NOT NULL DEFAULT 0,
    clicks      bigint        NOT NULL DEFAULT 0,
    conversions bigint        NOT NULL DEFAULT 0,
    spend       numeric(12,2) NOT NULL DEFAULT 0,
    currency    text          NOT NULL DEFAULT 'USD',
    updated_at  timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, day),
    CONSTRAINT marketing_metrics_impressions_check CHECK (impressions >= 0),
    CONSTRAINT marketing_metrics_clicks_check      CHECK (clicks >= 0),
    CONSTRAINT marketing_metrics_conversions_check CHECK (conversions >= 0),
    CONSTRAINT marketing_metrics_spend_check       CHECK (spend >= 0),
    CONSTRAINT marketing_metrics_currency_check    CHECK (currency ~ '^[A-Z]{3}$')
);

-- Dashboards aggregate all campaigns over a date range.
CREATE INDEX marketing_metrics_day_idx ON marketing_metrics (day);

CREATE TABLE ai_models (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    type        text        NOT NULL,
    version     text        NOT NULL,
    path        text        NOT NULL,   -- artifact location (file path or object-store URI)
    metrics     jsonb       NOT NULL DEFAULT '{}',
    status      text        NOT NULL DEFAULT 'registered',
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  uuid        NULL REFERENCES users (id) ON DELETE SET NULL,
    deployed_at timestamptz NULL,
    CONSTRAINT ai_models_type_check    CHECK (type ~ '^[a-z][a-z0-9_]{0,49}$'),
    CONSTRAINT ai_models_version_check CHECK (length(version) BETWEEN 1 AND 50),
    CONSTRAINT ai_models_path_check    CHECK (length(path) >= 1),
    CONSTRAINT ai_models_metrics_check CHECK (jsonb_typeof(metrics) = 'object'),
    CONSTRAINT ai_models_status_check  CHECK (status IN ('registered', 'deployed', 'retired')),
    CONSTRAINT ai_models_type_version_key UNIQUE (type, version)
);

CREATE UNIQUE INDEX ai_models_one_deployed_per_type_idx ON ai_models (type) WHERE status = 'deployed';

CREATE TABLE recommendations (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    model_id     uuid        NULL REFERENCES ai_models (id) ON DELETE SET NULL,
    items        jsonb       NOT NULL DEFAULT '{}',
    generated_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NULL,
    CONSTRAINT recommendations_items_check   CHECK (jsonb_typeof(items) IN ('object', 'array')),
    CONSTRAINT recommendations_expires_check CHECK (expires_at > generated_at)
);

-- GET /v1/recommendations/me: the newest set for the user.
CREATE INDEX recommendations_user_id_generated_at_idx ON recommendations (user_id, generated_at DESC);
CREATE INDEX recommendations_model_id_idx ON recommendations (model_id) WHERE model_id IS NOT NULL;

COMMENT ON TABLE notification_logs IS 'Every notification sent and its delivery state; dedupe_key makes enqueueing idempotent.';
COMMENT ON TABLE marketing_metrics IS 'Daily per-campaign marketing totals (was ClickHouse MergeTree in the seed).';
COMMENT ON TABLE ai_models IS 'Model registry; at most one deployed model per type.';
