//! Subjects and the append-only consent ledger.

use std::collections::HashMap;

use candor_privacy::Pid;
use candor_privacy::audit::{AuditChain, NewAuditEntry};

use crate::audit::append_audit;
use crate::{Result, Store, StoreError, on_pool, write_tx};

/// Whether a subject is known to the host or an anonymous widget visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    /// Named by the host's external id.
    Known,
    /// Named by a widget-made anonymous id.
    Anonymous,
}

impl SubjectKind {
    fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Known => "known",
            SubjectKind::Anonymous => "anonymous",
        }
    }
}

/// A subject as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectRow {
    /// `known` or `anonymous`.
    pub kind: String,
    /// First seen (Unix ms).
    pub created_at: i64,
    /// For an anonymous subject merged into a known one: that one.
    pub merged_into: Option<Pid>,
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ConsentRecord {
    /// UUIDv7.
    pub id: String,
    /// The purpose.
    pub purpose: String,
    /// `granted`, `denied`, `withdrawn` or `objected`.
    pub state: String,
    /// The notice version it was given under.
    pub notice_version: i64,
    /// When (Unix ms).
    pub at: i64,
    /// `widget`, `panel`, `api` or `import`.
    pub source: String,
    /// `checkbox`, `gpc` or `api`.
    pub method: String,
    /// JSON: notice hash, user agent, source page.
    pub proof: String,
    /// The receipt that covers it.
    pub receipt_id: String,
}

/// A consent write as requested, before the rules run.
#[derive(Debug, Clone)]
pub struct ConsentRequest {
    /// The subject named by the caller.
    pub pid: Pid,
    /// Its kind (a new subject row gets it).
    pub kind: SubjectKind,
}

/// What the rules decided for one request: rows, receipt, audit entry.
#[derive(Debug, Clone)]
pub struct PreparedConsent {
    /// Ledger rows to append (may be empty: nothing changed).
    pub rows: Vec<ConsentRecord>,
    /// The receipt id.
    pub receipt_id: String,
    /// The signed receipt.
    pub receipt_jws: String,
    /// When (Unix ms).
    pub at: i64,
    /// The audit entry.
    pub audit: NewAuditEntry,
}

/// The newest row per purpose, by time then id (UUIDv7 ids are time-ordered).
pub fn latest_per_purpose(records: Vec<ConsentRecord>) -> HashMap<String, ConsentRecord> {
    let mut latest: HashMap<String, ConsentRecord> = HashMap::new();
    for r in records {
        match latest.get(&r.purpose) {
            Some(old) if (old.at, &old.id) >= (r.at, &r.id) => {}
            _ => {
                latest.insert(r.purpose.clone(), r);
            }
        }
    }
    latest
}

const RECORD_COLUMNS: &str = "id, purpose, state, notice_version, at, source, method, proof, receipt_id";

macro_rules! insert_record {
    ($tx:ident, $pid:expr, $r:expr) => {
        sqlx::query(
            "INSERT INTO consent_records (pid, id, purpose, state, notice_version, at, source, method, proof, receipt_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&$pid.0[..])
        .bind(&$r.id)
        .bind(&$r.purpose)
        .bind(&$r.state)
        .bind($r.notice_version)
        .bind($r.at)
        .bind(&$r.source)
        .bind(&$r.method)
        .bind(&$r.proof)
        .bind(&$r.receipt_id)
        .execute(&mut *$tx)
        .await?
    };
}

impl Store {
    /// A subject, if known to candor.
    pub async fn subject(&self, pid: Pid) -> Result<Option<SubjectRow>> {
        let row: Option<(String, i64, Option<Vec<u8>>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT kind, created_at, merged_into FROM subjects WHERE pid = $1")
            .bind(&pid.0[..]).fetch_optional(pool).await?);
        Ok(row.map(|(kind, created_at, merged)| SubjectRow {
            kind,
            created_at,
            merged_into: merged.as_deref().and_then(Pid::from_slice),
        }))
    }

    /// The subject's ledger, oldest first.
    pub async fn consent_history(&self, pid: Pid) -> Result<Vec<ConsentRecord>> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM consent_records WHERE pid = $1 ORDER BY at, id");
        Ok(on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&pid.0[..]).fetch_all(pool).await?))
    }

    /// Records a batch of consent requests in ONE transaction (group commit: one fsync
    /// for the whole batch). For each request, `prepare` gets the subject that will hold
    /// the rows (an anonymous subject merged into a known one writes to that one), the
    /// current notice version and the subject's newest row per purpose, all read inside
    /// the transaction; it returns the rows to append or a rejection. Rejected requests
    /// write nothing; the others are committed together with their audit entries.
    pub async fn record_consents<T, R>(
        &self,
        requests: &[ConsentRequest],
        chain: &AuditChain<'_>,
        mut prepare: impl FnMut(usize, Pid, i64, HashMap<String, ConsentRecord>) -> Result<(PreparedConsent, T), R>,
    ) -> Result<Vec<Result<T, R>>> {
        let outcomes = write_tx!(self, tx => {
            let (current,): (Option<i64>,) = sqlx::query_as("SELECT MAX(version) FROM notice_versions")
                .fetch_one(&mut *tx).await?;
            let current = current.ok_or_else(|| StoreError::Conflict("no notice version is published".into()))?;
            let mut outcomes = Vec::with_capacity(requests.len());
            let mut audit = Vec::with_capacity(requests.len());
            for (i, request) in requests.iter().enumerate() {
                let merged: Option<(Option<Vec<u8>>,)> = sqlx::query_as("SELECT merged_into FROM subjects WHERE pid = $1")
                    .bind(&request.pid.0[..]).fetch_optional(&mut *tx).await?;
                let target = merged.and_then(|(m,)| m).as_deref().and_then(Pid::from_slice).unwrap_or(request.pid);
                let sql = format!("SELECT {RECORD_COLUMNS} FROM consent_records WHERE pid = $1");
                let history: Vec<ConsentRecord> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&target.0[..]).fetch_all(&mut *tx).await?;
                match prepare(i, target, current, latest_per_purpose(history)) {
                    Err(rejected) => outcomes.push(Err(rejected)),
                    Ok((prepared, value)) => {
                        sqlx::query("INSERT INTO subjects (pid, kind, created_at) VALUES ($1, $2, $3) ON CONFLICT (pid) DO NOTHING")
                            .bind(&target.0[..]).bind(request.kind.as_str()).bind(prepared.at)
                            .execute(&mut *tx).await?;
                        for r in &prepared.rows {
                            insert_record!(tx, target, r);
                        }
                        sqlx::query("INSERT INTO receipts (pid, id, at, jws) VALUES ($1, $2, $3, $4)")
                            .bind(&target.0[..]).bind(&prepared.receipt_id).bind(prepared.at).bind(&prepared.receipt_jws)
                            .execute(&mut *tx).await?;
                        audit.push(prepared.audit);
                        outcomes.push(Ok(value));
                    }
                }
            }
            append_audit!(self, tx, chain, audit);
            outcomes
        });
        Ok(outcomes)
    }

    /// Merges an anonymous visitor into a known subject: for each purpose, the newer of
    /// the two newest rows wins (copied onto the known subject as a new ledger row with
    /// its original time), and the anonymous id then points at the known subject.
    /// Returns `None` if the anonymous subject does not exist, else the purposes copied.
    pub async fn merge_anonymous(
        &self,
        anonymous: Pid,
        known: Pid,
        now_ms: i64,
        mut new_id: impl FnMut() -> String,
        chain: &AuditChain<'_>,
        mut audit: NewAuditEntry,
    ) -> Result<Option<Vec<String>>> {
        let merged = write_tx!(self, tx => 'merge: {
            let anon: Option<(String, Option<Vec<u8>>)> = sqlx::query_as("SELECT kind, merged_into FROM subjects WHERE pid = $1")
                .bind(&anonymous.0[..]).fetch_optional(&mut *tx).await?;
            match anon {
                Some((kind, _)) if kind != "anonymous" => break 'merge None,
                Some((_, Some(into))) if into != known.0 => {
                    return Err(StoreError::Conflict("this anonymous id was already merged into another subject".into()));
                }
                Some(_) => {}
                None => break 'merge None,
            }
            sqlx::query("INSERT INTO subjects (pid, kind, created_at) VALUES ($1, 'known', $2) ON CONFLICT (pid) DO NOTHING")
                .bind(&known.0[..]).bind(now_ms).execute(&mut *tx).await?;
            let sql = format!("SELECT {RECORD_COLUMNS} FROM consent_records WHERE pid = $1");
            let anon_rows: Vec<ConsentRecord> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&anonymous.0[..]).fetch_all(&mut *tx).await?;
            let known_rows: Vec<ConsentRecord> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(&known.0[..]).fetch_all(&mut *tx).await?;
            let known_latest = latest_per_purpose(known_rows);
            let mut copied = Vec::new();
            let mut anon_latest: Vec<ConsentRecord> = latest_per_purpose(anon_rows).into_values().collect();
            anon_latest.sort_by(|a, b| a.purpose.cmp(&b.purpose));
            for mut r in anon_latest {
                if known_latest.get(&r.purpose).is_some_and(|k| k.at >= r.at) {
                    continue;
                }
                r.id = new_id();
                insert_record!(tx, known, r);
                copied.push(r.purpose.clone());
            }
            sqlx::query("INSERT INTO subjects (pid, kind, created_at, merged_into) VALUES ($1, 'anonymous', $2, $3) \
                         ON CONFLICT (pid) DO UPDATE SET merged_into = excluded.merged_into")
                .bind(&anonymous.0[..]).bind(now_ms).bind(&known.0[..]).execute(&mut *tx).await?;
            audit.detail = serde_json::json!({"purposes_copied": copied}).to_string();
            append_audit!(self, tx, chain, vec![audit]);
            Some(copied)
        });
        Ok(merged)
    }
}
