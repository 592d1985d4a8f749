-- candor foundation schema (PostgreSQL). Times are Unix milliseconds; pids are 32-byte HMACs.
-- Every subject-owned table is keyed by pid first, so it can be distributed by pid (Citus).

CREATE TABLE notice_versions (
    version        BIGINT PRIMARY KEY,
    published_at   BIGINT NOT NULL,
    catalog_toml   TEXT   NOT NULL,
    notice_json    TEXT   NOT NULL,
    notice_sha256  TEXT   NOT NULL,
    material_json  TEXT   NOT NULL
);

CREATE TABLE subjects (
    pid          BYTEA  PRIMARY KEY,
    kind         TEXT   NOT NULL CHECK (kind IN ('known', 'anonymous')),
    created_at   BIGINT NOT NULL,
    merged_into  BYTEA
);

CREATE TABLE consent_records (
    pid             BYTEA  NOT NULL,
    id              TEXT   NOT NULL,
    purpose         TEXT   NOT NULL,
    state           TEXT   NOT NULL CHECK (state IN ('granted', 'denied', 'withdrawn', 'objected')),
    notice_version  BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    source          TEXT   NOT NULL CHECK (source IN ('widget', 'panel', 'api', 'import')),
    method          TEXT   NOT NULL CHECK (method IN ('checkbox', 'gpc', 'api')),
    proof           TEXT   NOT NULL,
    receipt_id      TEXT   NOT NULL,
    PRIMARY KEY (pid, id)
);
CREATE INDEX consent_records_at ON consent_records (at);

CREATE FUNCTION candor_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;

-- The ledger is append-only: rows are never changed (erasure deletes them whole).
CREATE TRIGGER consent_records_append_only BEFORE UPDATE ON consent_records
    FOR EACH ROW EXECUTE FUNCTION candor_refuse_change();

CREATE TABLE receipts (
    pid  BYTEA  NOT NULL,
    id   TEXT   NOT NULL,
    at   BIGINT NOT NULL,
    jws  TEXT   NOT NULL,
    PRIMARY KEY (pid, id)
);

CREATE TABLE api_keys (
    id           TEXT   PRIMARY KEY,
    name         TEXT   NOT NULL,
    scopes       TEXT   NOT NULL,
    secret_hash  BYTEA  NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE TABLE subject_sessions (
    pid         BYTEA  NOT NULL,
    token_hash  BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    PRIMARY KEY (pid, token_hash)
);
CREATE INDEX subject_sessions_token ON subject_sessions (token_hash);

CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    subject    TEXT,
    detail     TEXT   NOT NULL,
    prev_hash  BYTEA  NOT NULL,
    hash       BYTEA  NOT NULL
);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION candor_refuse_change();

CREATE TABLE audit_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    seq        BIGINT NOT NULL,
    hash       BYTEA  NOT NULL,
    signature  BYTEA  NOT NULL
);

CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
