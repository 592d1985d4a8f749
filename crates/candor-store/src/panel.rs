//! Control-panel sessions: a single-use session link (see `sessions.rs`) is exchanged for
//! one of these. The browser keeps the secret in a cookie; the store keeps its hash.

use candor_privacy::Pid;
use candor_privacy::audit::{AuditChain, NewAuditEntry};

use crate::audit::append_audit;
use crate::{Result, Store, on_pool, write_tx};

/// A live panel session.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelSession {
    /// The subject it acts for.
    pub pid: Pid,
    /// When it ends (Unix ms).
    pub expires_at: i64,
}

impl Store {
    /// Exchanges a session-link token for a panel session in one transaction: the token is
    /// marked used only if it is unused and unexpired, and the panel session (with its audit
    /// entry, made by `audit` for the subject found) is stored with it. Returns the subject,
    /// or `None` (and changes nothing) when the token cannot be used.
    pub async fn open_panel_session(
        &self,
        token_hash: &[u8; 32],
        secret_hash: &[u8; 32],
        now_ms: i64,
        expires_at: i64,
        chain: &AuditChain<'_>,
        audit: impl FnOnce(Pid) -> NewAuditEntry,
    ) -> Result<Option<Pid>> {
        let pid = write_tx!(self, tx => 'open: {
            let row: Option<(Vec<u8>,)> = sqlx::query_as(
                "UPDATE subject_sessions SET used_at = $1 \
                 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING pid")
                .bind(now_ms).bind(&token_hash[..]).fetch_optional(&mut *tx).await?;
            let Some(pid) = row.and_then(|(pid,)| Pid::from_slice(&pid)) else { break 'open None };
            // Ended sessions of this subject go now; each subject's rows stay few.
            sqlx::query("DELETE FROM panel_sessions WHERE pid = $1 AND expires_at <= $2")
                .bind(&pid.0[..]).bind(now_ms).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO panel_sessions (pid, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(&pid.0[..]).bind(&secret_hash[..]).bind(now_ms).bind(expires_at)
                .execute(&mut *tx).await?;
            append_audit!(self, tx, chain, vec![audit(pid)]);
            Some(pid)
        });
        Ok(pid)
    }

    /// The live panel session with this secret hash, if any.
    pub async fn panel_session(&self, secret_hash: &[u8; 32], now_ms: i64) -> Result<Option<PanelSession>> {
        let row: Option<(Vec<u8>, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT pid, expires_at FROM panel_sessions WHERE secret_hash = $1 AND expires_at > $2")
            .bind(&secret_hash[..]).bind(now_ms).fetch_optional(pool).await?);
        Ok(row.and_then(|(pid, expires_at)| Pid::from_slice(&pid).map(|pid| PanelSession { pid, expires_at })))
    }

    /// Ends a panel session (signing out), with its audit entry. Returns whether it existed.
    pub async fn end_panel_session(
        &self,
        pid: Pid,
        secret_hash: &[u8; 32],
        chain: &AuditChain<'_>,
        audit: NewAuditEntry,
    ) -> Result<bool> {
        let ended = write_tx!(self, tx => {
            let done = sqlx::query("DELETE FROM panel_sessions WHERE pid = $1 AND secret_hash = $2")
                .bind(&pid.0[..]).bind(&secret_hash[..]).execute(&mut *tx).await?;
            let ended = done.rows_affected() > 0;
            if ended {
                append_audit!(self, tx, chain, vec![audit]);
            }
            ended
        });
        Ok(ended)
    }
}
