-- Control-panel sessions (SQLite): what a single-use session link is exchanged for. The
-- browser holds the secret in an HttpOnly cookie; only its SHA-256 is stored. Keyed by
-- pid first like every subject-owned table.

CREATE TABLE panel_sessions (
    pid          BLOB    NOT NULL,
    secret_hash  BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (pid, secret_hash)
);
CREATE INDEX panel_sessions_secret ON panel_sessions (secret_hash);
