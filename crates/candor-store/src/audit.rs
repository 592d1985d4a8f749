//! The audit log table and its signed head. Appends happen inside the transaction of
//! the change they record (see [`append_audit!`]), so an entry exists exactly when the
//! change does.

use candor_privacy::audit::{AuditChain, AuditEntry, AuditHead, NewAuditEntry};
use futures::TryStreamExt;

use crate::{Result, Store, StoreError, on_pool, write_tx};

/// A lock id for serialising chain appends across PostgreSQL servers.
pub(crate) const AUDIT_LOCK: i64 = 0x6361_6e64_6f72; // "candor"

/// Appends entries to the chain inside an open write transaction `$tx`. On PostgreSQL an
/// advisory lock serialises appenders across servers; on SQLite the transaction already
/// holds the write lock (BEGIN IMMEDIATE).
macro_rules! append_audit {
    ($store:expr, $tx:ident, $chain:expr, $entries:expr) => {{
        let entries: Vec<candor_privacy::audit::NewAuditEntry> = $entries;
        if !entries.is_empty() {
            if $store.backend() == $crate::Backend::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind($crate::audit::AUDIT_LOCK)
                    .execute(&mut *$tx)
                    .await?;
            }
            let head: Option<(i64, Vec<u8>)> =
                sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_optional(&mut *$tx).await?;
            let head = match head {
                Some((seq, hash)) => (seq, $crate::audit::hash32(&hash)?),
                None => (0, [0u8; 32]),
            };
            let (chained, new_head) = $chain.extend(head, entries);
            for chunk in chained.chunks(500) {
                let mut q = sqlx::QueryBuilder::new("");
                $crate::audit::push_audit_entries!(q, chunk);
                q.build().execute(&mut *$tx).await?;
            }
            let mut q = sqlx::QueryBuilder::new("");
            $crate::audit::push_audit_head!(q, new_head);
            q.build().execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use append_audit;

/// Adds one `INSERT INTO audit_log` statement for chained `$entries` to the builder `$q`.
macro_rules! push_audit_entries {
    ($q:expr, $entries:expr) => {{
        $q.push("INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) ");
        $q.push_values($entries, |mut b, e| {
            b.push_bind(e.seq)
                .push_bind(e.at_ms)
                .push_bind(&e.actor)
                .push_bind(&e.action)
                .push_bind(&e.subject)
                .push_bind(&e.detail)
                .push_bind(&e.prev_hash[..])
                .push_bind(&e.hash[..]);
        });
    }};
}
pub(crate) use push_audit_entries;

/// Adds the statement that moves the signed head to `$head` to the builder `$q`.
macro_rules! push_audit_head {
    ($q:expr, $head:expr) => {{
        $q.push("INSERT INTO audit_head (id, seq, hash, signature) VALUES (1, ");
        $q.push_bind($head.seq).push(", ").push_bind(&$head.hash[..]).push(", ").push_bind(&$head.signature);
        $q.push(
            ") ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, signature = excluded.signature",
        );
    }};
}
pub(crate) use push_audit_head;

pub(crate) fn hash32(bytes: &[u8]) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| StoreError::Corrupt("audit hash is not 32 bytes".into()))
}

/// Reading and appending the audit log.
pub struct AuditLog<'a> {
    store: &'a Store,
}

type EntryRow = (i64, i64, String, String, Option<String>, String, Vec<u8>, Vec<u8>);

impl Store {
    /// The audit log.
    pub fn audit(&self) -> AuditLog<'_> {
        AuditLog { store: self }
    }
}

impl AuditLog<'_> {
    /// Appends entries in their own transaction.
    pub async fn append(&self, chain: &AuditChain<'_>, entries: Vec<NewAuditEntry>) -> Result<()> {
        write_tx!(self.store, tx => append_audit!(self.store, tx, chain, entries));
        Ok(())
    }

    /// The signed head, if any entry exists.
    pub async fn head(&self) -> Result<Option<AuditHead>> {
        let row: Option<(i64, Vec<u8>, Vec<u8>)> = on_pool!(self.store, pool =>
            sqlx::query_as("SELECT seq, hash, signature FROM audit_head WHERE id = 1").fetch_optional(pool).await?);
        row.map(|(seq, hash, signature)| Ok(AuditHead { seq, hash: hash32(&hash)?, signature })).transpose()
    }

    /// Every entry in `seq` order, streamed to `visit` (the log can be large).
    pub async fn for_each(&self, mut visit: impl FnMut(AuditEntry)) -> Result<()> {
        const SQL: &str = "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq";
        on_pool!(self.store, pool => {
            let mut rows = sqlx::query_as::<_, EntryRow>(SQL).fetch(pool);
            while let Some(row) = rows.try_next().await? {
                visit(to_entry(row)?);
            }
        });
        Ok(())
    }

    /// The subjects named by entries after `seq` whose action is one of `actions`, with
    /// each entry's position, oldest first (how a server learns of other processes' writes).
    pub async fn subjects_since(&self, seq: i64, actions: &[&str]) -> Result<Vec<(i64, String)>> {
        Ok(on_pool!(self.store, pool => {
            let mut q = sqlx::QueryBuilder::new("SELECT seq, subject FROM audit_log WHERE seq > ");
            q.push_bind(seq).push(" AND subject IS NOT NULL AND action IN (");
            let mut list = q.separated(", ");
            for action in actions {
                list.push_bind(*action);
            }
            q.push(") ORDER BY seq");
            q.build_query_as().fetch_all(pool).await?
        }))
    }

    /// The newest entries, newest first (for the admin console and tests).
    pub async fn recent(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        const SQL: &str =
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq DESC LIMIT $1";
        let rows: Vec<EntryRow> = on_pool!(self.store, pool => sqlx::query_as(SQL).bind(limit).fetch_all(pool).await?);
        rows.into_iter().map(to_entry).collect()
    }
}

fn to_entry(row: EntryRow) -> Result<AuditEntry> {
    let (seq, at_ms, actor, action, subject, detail, prev, hash) = row;
    Ok(AuditEntry { seq, at_ms, actor, action, subject, detail, prev_hash: hash32(&prev)?, hash: hash32(&hash)? })
}
