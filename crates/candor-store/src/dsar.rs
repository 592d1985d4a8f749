//! Data-subject requests: what was asked, by when it is due, and how it ended.

use candor_privacy::Pid;
use candor_privacy::audit::{AuditChain, NewAuditEntry};

use crate::audit::append_audit;
use crate::outbox::{NewDelivery, enqueue_in};
use crate::{Result, Store, on_pool, write_tx};

/// How long a controller has to answer (GDPR Art. 12(3): one month), in ms.
pub const DUE_MS: i64 = 30 * 24 * 3600 * 1000;

/// A data-subject request as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DsarRow {
    /// Its id.
    pub id: String,
    /// `access`, `export`, `rectification`, `erasure` or `objection`.
    pub kind: String,
    /// `open`, `completed` or `rejected`.
    pub status: String,
    /// When it was made (Unix ms).
    pub created_at: i64,
    /// When it must be answered by.
    pub due_at: i64,
    /// When it was answered.
    pub completed_at: Option<i64>,
    /// Free text from the requester or operator.
    pub note: String,
    /// The outcome as JSON (the erasure certificate, an export summary).
    pub result: Option<String>,
}

const COLUMNS: &str = "id, kind, status, created_at, due_at, completed_at, note, result";

impl Store {
    /// Records a new request (and its webhooks) with its audit entry.
    pub async fn create_dsar(
        &self,
        pid: Pid,
        row: &DsarRow,
        deliveries: &[NewDelivery],
        chain: &AuditChain<'_>,
        audit: NewAuditEntry,
    ) -> Result<()> {
        write_tx!(self, tx => {
            sqlx::query("INSERT INTO dsar_requests (pid, id, kind, status, created_at, due_at, completed_at, note, result) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                .bind(&pid.0[..]).bind(&row.id).bind(&row.kind).bind(&row.status).bind(row.created_at)
                .bind(row.due_at).bind(row.completed_at).bind(&row.note).bind(&row.result)
                .execute(&mut *tx).await?;
            enqueue_in!(tx, deliveries);
            append_audit!(self, tx, chain, vec![audit]);
        });
        Ok(())
    }

    /// Requests, newest first; only those with `status` when given.
    pub async fn dsars(&self, status: Option<&str>, limit: i64) -> Result<Vec<DsarRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM dsar_requests WHERE ($1 IS NULL OR status = $1) ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(status).bind(limit).fetch_all(pool).await?),
        )
    }

    /// The requests about one subject, newest first.
    pub async fn subject_dsars(&self, pid: Pid) -> Result<Vec<DsarRow>> {
        let sql = format!("SELECT {COLUMNS} FROM dsar_requests WHERE pid = $1 ORDER BY created_at DESC, id DESC");
        Ok(on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&pid.0[..]).fetch_all(pool).await?))
    }

    /// One request.
    pub async fn dsar(&self, id: &str) -> Result<Option<DsarRow>> {
        let sql = format!("SELECT {COLUMNS} FROM dsar_requests WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?))
    }
}
