//! Control-panel sessions: short-lived, single-use tokens, stored as hashes.

use candor_privacy::Pid;
use candor_privacy::audit::{AuditChain, NewAuditEntry};

use crate::audit::append_audit;
use crate::{Result, Store, on_pool, write_tx};

/// A session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    /// The subject.
    pub pid: Pid,
    /// Expiry (Unix ms).
    pub expires_at: i64,
    /// When it was exchanged, if it was.
    pub used_at: Option<i64>,
}

impl Store {
    /// Stores a new session token hash for a subject (creating the subject if new).
    pub async fn create_session(
        &self,
        pid: Pid,
        token_hash: &[u8; 32],
        created_at: i64,
        expires_at: i64,
        chain: &AuditChain<'_>,
        audit: NewAuditEntry,
    ) -> Result<()> {
        write_tx!(self, tx => {
            sqlx::query("INSERT INTO subjects (pid, kind, created_at) VALUES ($1, 'known', $2) ON CONFLICT (pid) DO NOTHING")
                .bind(&pid.0[..]).bind(created_at).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO subject_sessions (pid, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(&pid.0[..]).bind(&token_hash[..]).bind(created_at).bind(expires_at)
                .execute(&mut *tx).await?;
            append_audit!(self, tx, chain, vec![audit]);
        });
        Ok(())
    }

    /// Marks a token used and returns its subject, only if it is unused and unexpired.
    /// A second call with the same token returns `None`: tokens are single-use.
    pub async fn consume_session(&self, token_hash: &[u8; 32], now_ms: i64) -> Result<Option<Pid>> {
        let row: Option<(Vec<u8>,)> = write_tx!(self, tx => sqlx::query_as(
            "UPDATE subject_sessions SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING pid")
            .bind(now_ms).bind(&token_hash[..]).fetch_optional(&mut *tx).await?);
        Ok(row.and_then(|(pid,)| Pid::from_slice(&pid)))
    }

    /// Looks a session up without using it.
    pub async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRow>> {
        let row: Option<(Vec<u8>, i64, Option<i64>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT pid, expires_at, used_at FROM subject_sessions WHERE token_hash = $1")
            .bind(&token_hash[..]).fetch_optional(pool).await?);
        Ok(row.and_then(|(pid, expires_at, used_at)| {
            Pid::from_slice(&pid).map(|pid| SessionRow { pid, expires_at, used_at })
        }))
    }
}
