-- candor foundation schema (SQLite). Times are Unix milliseconds; pids are 32-byte HMACs.
-- Every subject-owned table is keyed by pid first.

CREATE TABLE notice_versions (
    version        INTEGER PRIMARY KEY,
    published_at   INTEGER NOT NULL,
    catalog_toml   TEXT    NOT NULL,
    notice_json    TEXT    NOT NULL,
    notice_sha256  TEXT    NOT NULL,
    material_json  TEXT    NOT NULL
);

CREATE TABLE subjects (
    pid          BLOB    PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('known', 'anonymous')),
    created_at   INTEGER NOT NULL,
    merged_into  BLOB
);

CREATE TABLE consent_records (
    pid             BLOB    NOT NULL,
    id              TEXT    NOT NULL,
    purpose         TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('granted', 'denied', 'withdrawn', 'objected')),
    notice_version  INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    source          TEXT    NOT NULL CHECK (source IN ('widget', 'panel', 'api', 'import')),
    method          TEXT    NOT NULL CHECK (method IN ('checkbox', 'gpc', 'api')),
    proof           TEXT    NOT NULL,
    receipt_id      TEXT    NOT NULL,
    PRIMARY KEY (pid, id)
);
CREATE INDEX consent_records_at ON consent_records (at);

-- The ledger is append-only: rows are never changed (erasure deletes them whole).
CREATE TRIGGER consent_records_append_only BEFORE UPDATE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent_records is append-only');
END;

CREATE TABLE receipts (
    pid  BLOB    NOT NULL,
    id   TEXT    NOT NULL,
    at   INTEGER NOT NULL,
    jws  TEXT    NOT NULL,
    PRIMARY KEY (pid, id)
);

CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    scopes       TEXT    NOT NULL,
    secret_hash  BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);

CREATE TABLE subject_sessions (
    pid         BLOB    NOT NULL,
    token_hash  BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (pid, token_hash)
);
CREATE INDEX subject_sessions_token ON subject_sessions (token_hash);

CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    subject    TEXT,
    detail     TEXT    NOT NULL,
    prev_hash  BLOB    NOT NULL,
    hash       BLOB    NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE audit_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    seq        INTEGER NOT NULL,
    hash       BLOB    NOT NULL,
    signature  BLOB    NOT NULL
);

CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
