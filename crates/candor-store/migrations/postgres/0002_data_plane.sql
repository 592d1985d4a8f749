-- candor data plane (PostgreSQL): sealed traits and events, the keys that seal them, the access
-- log, data-subject requests and the webhook outbox. Times are Unix milliseconds.

-- Bucket keys wrap subject keys; the master key wraps bucket keys (see candor-privacy
-- sealing.rs). `kid` names the bucket key, `master_kid` the master key that wraps it.
CREATE TABLE key_buckets (
    bucket      INTEGER PRIMARY KEY CHECK (bucket BETWEEN 0 AND 255),
    kid         TEXT    NOT NULL,
    master_kid  TEXT    NOT NULL,
    wrapped     BYTEA   NOT NULL
);

-- One random data key per subject; deleting the row is the heart of erasure.
CREATE TABLE subject_keys (
    pid         BYTEA   PRIMARY KEY,
    bucket_kid  TEXT    NOT NULL,
    wrapped     BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- The newest value of each trait; `sealed` holds the JSON value, sealed to (pid, field).
CREATE TABLE traits (
    pid     BYTEA   NOT NULL,
    field   TEXT    NOT NULL,
    at      BIGINT  NOT NULL,
    sealed  BYTEA   NOT NULL,
    PRIMARY KEY (pid, field)
);

-- Events: the stored properties as one sealed JSON object. `fields` names them in the clear
-- (catalog names, never values) so sweeps decide without keys.
CREATE TABLE events (
    pid     BYTEA   NOT NULL,
    seq     BIGINT  GENERATED ALWAYS AS IDENTITY,
    id      BYTEA   NOT NULL,
    type    TEXT    NOT NULL,
    at      BIGINT  NOT NULL,
    fields  TEXT    NOT NULL,
    sealed  BYTEA   NOT NULL,
    PRIMARY KEY (pid, seq)
);
CREATE INDEX events_subject ON events (pid, at);

-- Every read of a subject's data by a key or an admin: shown to the subject, exported.
CREATE TABLE data_reads (
    pid      BYTEA   NOT NULL,
    id       TEXT    NOT NULL,
    at       BIGINT  NOT NULL,
    actor    TEXT    NOT NULL,
    purpose  TEXT    NOT NULL,
    fields   TEXT    NOT NULL,
    PRIMARY KEY (pid, id)
);

-- Subjects whose key is destroyed and whose rows are still being deleted in the background.
CREATE TABLE erased_subjects (
    pid        BYTEA   PRIMARY KEY,
    erased_at  BIGINT  NOT NULL,
    -- Events up to this storage sequence belong to the erased key.
    up_to_seq  BIGINT  NOT NULL
);

-- Data-subject requests. They outlive an erasure: they are the record that it happened.
CREATE TABLE dsar_requests (
    pid           BYTEA   NOT NULL,
    id            TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('access', 'export', 'rectification', 'erasure', 'objection')),
    status        TEXT    NOT NULL CHECK (status IN ('open', 'completed', 'rejected')),
    created_at    BIGINT  NOT NULL,
    due_at        BIGINT  NOT NULL,
    completed_at  BIGINT,
    note          TEXT    NOT NULL,
    result        TEXT,
    PRIMARY KEY (pid, id)
);
CREATE UNIQUE INDEX dsar_requests_id ON dsar_requests (id);
CREATE INDEX dsar_requests_due ON dsar_requests (status, due_at);

-- Webhooks to processors, written in the same transaction as the change they announce.
-- `id` is the idempotency key; `sealed_subject` holds the host's subject id, sealed, until
-- the processor acknowledges, then it is deleted.
CREATE TABLE outbox (
    id               TEXT    PRIMARY KEY,
    processor        TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    sealed_subject   BYTEA,
    dsar_id          TEXT,
    created_at       BIGINT  NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    delivered_at     BIGINT,
    last_error       TEXT
);
CREATE INDEX outbox_due ON outbox (delivered_at, next_attempt_at);
CREATE INDEX outbox_dsar ON outbox (dsar_id);

-- Where the background sweeper got to in the consent ledger.
INSERT INTO settings (name, value) VALUES ('sweep_watermark', '0') ON CONFLICT (name) DO NOTHING;
