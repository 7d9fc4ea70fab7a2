-- 0017_data_keys.sql: one data key per person, wrapped by the key-encryption key (issue 18).
--
-- Tables: user_data_keys.
--
-- user_data_keys: the person's data key (AES-256), sealed with AES-256-GCM under the KEK
--   named by kek_id (privacy/keys.py); the KEK itself is never in the database. Their health
--   payloads on Kafka are sealed with this key and carry only key_id, a random id nothing
--   but this row ties to the person. Deleting the row — directly, or by deleting the user
--   (ON DELETE CASCADE) — shreds the key: every record sealed with it becomes unreadable,
--   in every topic and in every backup of Kafka. One key per person (user_id UNIQUE), made
--   on first use with INSERT … ON CONFLICT DO NOTHING, so two producers cannot make two.
--   rotated_at: when `stride keys rotate` last re-wrapped it under a new KEK (NULL: never).

CREATE TABLE user_data_keys (
    key_id     uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    wrapped    bytea       NOT NULL,
    kek_id     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    rotated_at timestamptz NULL,
    CONSTRAINT user_data_keys_wrapped_check CHECK (length(wrapped) = 12 + 32 + 16),
    CONSTRAINT user_data_keys_kek_id_check CHECK (length(kek_id) BETWEEN 1 AND 100)
);

COMMENT ON TABLE user_data_keys IS
    'Per-person data keys wrapped by the KEK; deleting a row crypto-shreds what it sealed.';
