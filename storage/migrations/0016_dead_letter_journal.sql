-- 0016_dead_letter_journal.sql: what admins did with dead-lettered records (issue 17).
--
-- Tables: dead_letter_journal.
--
-- dead_letter_journal: one row per settled record of the dead-letter topic — which record
--   (the topic, with the deployment's prefix, its partition and offset), what was done
--   (action 'replayed' into the topic it came from, named in replayed_to, or 'discarded'),
--   by whom (actor_id), when (at) and why (note). A record is settled at most once: the
--   unique key on (topic, partition, record_offset) is what stops a second replay, even two
--   admins clicking at the same moment (the second insert waits for the first transaction,
--   then conflicts). A replay inserts its row and sends the record in one transaction that
--   commits only after Kafka acknowledged the send (gateway/internal/schema/dead_letters.py),
--   so a row means the record went back, and a failed send leaves no row and may be retried.
--   The topic is part of the key because offsets start again at 0 if the topic is ever
--   recreated. No foreign keys, so the record outlives the accounts it names, and append-only
--   like the other journals (triggers refuse UPDATE, DELETE and TRUNCATE).

CREATE TABLE dead_letter_journal (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    record_offset bigint      NOT NULL,
    action        text        NOT NULL,
    replayed_to   text        NULL,
    actor_id      uuid        NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    note          text        NOT NULL,
    CONSTRAINT dead_letter_journal_record_key UNIQUE (topic, partition, record_offset),
    CONSTRAINT dead_letter_journal_action_check CHECK (action IN ('replayed', 'discarded')),
    CONSTRAINT dead_letter_journal_replayed_to_check
        CHECK ((action = 'replayed') = (replayed_to IS NOT NULL)),
    CONSTRAINT dead_letter_journal_position_check CHECK (partition >= 0 AND record_offset >= 0),
    CONSTRAINT dead_letter_journal_topic_check CHECK (length(topic) BETWEEN 1 AND 249),
    CONSTRAINT dead_letter_journal_note_check
        CHECK (length(btrim(note)) BETWEEN 1 AND 500 AND note !~ '[[:cntrl:]]')
);

-- The journal newest first (the admin area's history).
CREATE INDEX dead_letter_journal_at_idx ON dead_letter_journal (at DESC, id DESC);

CREATE FUNCTION dead_letter_journal_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'dead_letter_journal is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE TRIGGER dead_letter_journal_no_update_delete
    BEFORE UPDATE OR DELETE ON dead_letter_journal
    FOR EACH ROW EXECUTE FUNCTION dead_letter_journal_append_only();
CREATE TRIGGER dead_letter_journal_no_truncate
    BEFORE TRUNCATE ON dead_letter_journal
    FOR EACH STATEMENT EXECUTE FUNCTION dead_letter_journal_append_only();

COMMENT ON TABLE dead_letter_journal IS
    'Append-only: each dead-lettered record an admin replayed or discarded, at most once.';
