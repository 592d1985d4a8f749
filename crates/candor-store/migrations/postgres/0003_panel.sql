-- Control-panel sessions (PostgreSQL): what a single-use session link is exchanged for.
-- The browser holds the secret in an HttpOnly cookie; only its SHA-256 is stored. Keyed
-- by pid first like every subject-owned table, so it can be distributed by pid.

CREATE TABLE panel_sessions (
    pid          BYTEA  NOT NULL,
    secret_hash  BYTEA  NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (pid, secret_hash)
);
CREATE INDEX panel_sessions_secret ON panel_sessions (secret_hash);
