//! Subjects and the append-only consent ledger.

use std::collections::HashMap;

use candor_privacy::Pid;
use candor_privacy::audit::{AuditChain, NewAuditEntry};
use serde::Deserialize;

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
    /// Webhooks announcing the change to processors (written in the same transaction).
    pub deliveries: Vec<crate::outbox::NewDelivery>,
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

/// Rows per multi-row statement: far below SQLite's and PostgreSQL's parameter limits.
const CHUNK: usize = 500;

/// A ledger row with its subject, for batch reads.
#[derive(sqlx::FromRow)]
struct PidRecord {
    pid: Vec<u8>,
    #[sqlx(flatten)]
    record: ConsentRecord,
}

/// A row as [`Store::known_consent_states`] reads it: the subject (hex), then its ledger
/// row's id, purpose, state, notice version, at, source, method and receipt id, all null
/// when the subject has no row.
#[derive(Deserialize)]
struct StateRow(
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl StateRow {
    fn into_record(self) -> Option<ConsentRecord> {
        let StateRow(_, id, purpose, state, notice_version, at, source, method, receipt_id) = self;
        Some(ConsentRecord {
            id: id?,
            purpose: purpose?,
            state: state?,
            notice_version: notice_version?,
            at: at?,
            source: source?,
            method: method?,
            proof: String::new(),
            receipt_id: receipt_id?,
        })
    }
}

/// A batch prepared before its write transaction: the snapshot it was prepared from and
/// one result per request.
pub type Ahead<T, R> = (ConsentSnapshot, Vec<Result<(PreparedConsent, T), R>>);

/// What a batch of consent requests read before its write transaction.
#[derive(Debug, Clone)]
pub struct ConsentSnapshot {
    current: i64,
    merged: HashMap<Pid, Pid>,
    targets: Vec<Pid>,
    histories: HashMap<Pid, Vec<ConsentRecord>>,
    fingerprints: HashMap<Pid, (i64, String)>,
}

impl ConsentSnapshot {
    fn new(
        current: i64,
        merged: HashMap<Pid, Pid>,
        targets: Vec<Pid>,
        histories: HashMap<Pid, Vec<ConsentRecord>>,
    ) -> Self {
        let fingerprints = histories.iter().map(|(pid, rows)| (*pid, fingerprint(rows))).collect();
        ConsentSnapshot { current, merged, targets, histories, fingerprints }
    }

    /// The notice version current when it was read.
    pub fn current(&self) -> i64 {
        self.current
    }

    /// The subject that holds request `i`'s rows.
    pub fn target(&self, i: usize) -> Pid {
        self.targets[i]
    }

    /// The ledger of a subject as read (plus rows the caller appended since).
    pub fn history(&mut self, pid: Pid) -> &mut Vec<ConsentRecord> {
        self.histories.entry(pid).or_default()
    }
}

/// A subject's ledger in two numbers: rows are only appended (or all erased), and ids are
/// time-ordered UUIDv7, so any change moves the count or the newest id.
fn fingerprint(rows: &[ConsentRecord]) -> (i64, String) {
    (rows.len() as i64, rows.iter().map(|r| r.id.as_str()).max().unwrap_or_default().to_string())
}

fn anonymous_pids(requests: &[ConsentRequest]) -> Vec<Pid> {
    // Only anonymous subjects can be merged into others; API writes skip that lookup.
    unique(&requests.iter().filter(|r| r.kind == SubjectKind::Anonymous).map(|r| r.pid).collect::<Vec<_>>())
}

fn unique(pids: &[Pid]) -> Vec<Pid> {
    let mut pids = pids.to_vec();
    pids.sort();
    pids.dedup();
    pids
}

/// Reads anonymous pid → known pid for the merged ones among `$pids`.
macro_rules! load_merges {
    ($exec:expr, $pids:expr) => {{
        let mut merged: HashMap<Pid, Pid> = HashMap::new();
        for chunk in $pids.chunks(CHUNK) {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT pid, merged_into FROM subjects WHERE merged_into IS NOT NULL AND pid IN ",
            );
            crate::push_pids!(q, chunk);
            let rows: Vec<(Vec<u8>, Vec<u8>)> = q.build_query_as().fetch_all($exec).await?;
            for (pid, into) in rows {
                if let (Some(pid), Some(into)) = (Pid::from_slice(&pid), Pid::from_slice(&into)) {
                    merged.insert(pid, into);
                }
            }
        }
        merged
    }};
}

/// Reads the ledgers of `$pids`.
macro_rules! load_histories {
    ($exec:expr, $pids:expr) => {{
        let mut histories: HashMap<Pid, Vec<ConsentRecord>> = HashMap::new();
        for chunk in $pids.chunks(CHUNK) {
            let mut q =
                sqlx::QueryBuilder::new(format!("SELECT pid, {RECORD_COLUMNS} FROM consent_records WHERE pid IN "));
            crate::push_pids!(q, chunk);
            let rows: Vec<PidRecord> = q.build_query_as().fetch_all($exec).await?;
            for row in rows {
                if let Some(pid) = Pid::from_slice(&row.pid) {
                    histories.entry(pid).or_default().push(row.record);
                }
            }
        }
        histories
    }};
}

/// Reads the ledger fingerprints of `$pids` (absent: no rows).
macro_rules! load_fingerprints {
    ($exec:expr, $pids:expr) => {{
        let mut prints: HashMap<Pid, (i64, String)> = HashMap::new();
        for chunk in $pids.chunks(CHUNK) {
            let mut q = sqlx::QueryBuilder::new("SELECT pid, COUNT(*), MAX(id) FROM consent_records WHERE pid IN ");
            crate::push_pids!(q, chunk);
            q.push(" GROUP BY pid");
            let rows: Vec<(Vec<u8>, i64, String)> = q.build_query_as().fetch_all($exec).await?;
            for (pid, count, newest) in rows {
                if let Some(pid) = Pid::from_slice(&pid) {
                    prints.insert(pid, (count, newest));
                }
            }
        }
        prints
    }};
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

    /// Reads what a batch of consent requests needs — the current notice version, merges
    /// of anonymous subjects, each subject's ledger — outside any write transaction, so a
    /// writer can decide and sign the batch while the previous one commits. Pass it to
    /// [`Store::record_consents`], which checks inside the transaction that nothing it
    /// relied on changed.
    pub async fn consent_snapshot(&self, requests: &[ConsentRequest]) -> Result<ConsentSnapshot> {
        let anonymous = anonymous_pids(requests);
        let snapshot = on_pool!(self, pool => {
            let (current,): (Option<i64>,) =
                sqlx::query_as("SELECT MAX(version) FROM notice_versions").fetch_one(&mut *pool).await?;
            let current = current.ok_or_else(|| StoreError::Conflict("no notice version is published".into()))?;
            let merged = load_merges!(&mut *pool, &anonymous);
            let targets: Vec<Pid> = requests.iter().map(|r| merged.get(&r.pid).copied().unwrap_or(r.pid)).collect();
            let histories = load_histories!(&mut *pool, &unique(&targets));
            ConsentSnapshot::new(current, merged, targets, histories)
        });
        Ok(snapshot)
    }

    /// The ledgers of several subjects, without proofs, of those candor knows (a subject
    /// whose rows were all swept is known with an empty ledger): what the consent cache
    /// reads when it misses, and ingestion for a batch of events. The database answers with
    /// ONE row, every ledger row of the batch in a JSON array: the driver hands each result
    /// row from its connection thread to the caller's, one at a time (per subject read in
    /// batches of eight, 34 µs of CPU this way against 40 with a result row per ledger row,
    /// on two cores). One query also answers both whether a subject is known and what it
    /// chose.
    pub async fn known_consent_states(&self, pids: &[Pid]) -> Result<HashMap<Pid, Vec<ConsentRecord>>> {
        let select = match self.backend() {
            crate::Backend::Sqlite => {
                "SELECT json_group_array(json_array(hex(s.pid), c.id, c.purpose, c.state, c.notice_version, c.at, \
                 c.source, c.method, c.receipt_id)) "
            }
            crate::Backend::Postgres => {
                "SELECT COALESCE(json_agg(json_build_array(encode(s.pid, 'hex'), c.id, c.purpose, c.state, \
                 c.notice_version, c.at, c.source, c.method, c.receipt_id)), '[]')::text "
            }
        };
        let mut states: HashMap<Pid, Vec<ConsentRecord>> = HashMap::with_capacity(pids.len());
        for chunk in pids.chunks(CHUNK) {
            let (rows,): (String,) = on_pool!(self, pool => {
                let mut q = sqlx::QueryBuilder::new(select);
                q.push("FROM subjects s LEFT JOIN consent_records c ON c.pid = s.pid WHERE s.pid IN ");
                crate::push_pids!(q, chunk);
                q.build_query_as().fetch_one(pool).await?
            });
            let rows: Vec<StateRow> = serde_json::from_str(&rows)
                .map_err(|e| StoreError::Corrupt(format!("ledger rows read as JSON did not parse: {e}")))?;
            for row in rows {
                let Some(pid) = Pid::from_hex(&row.0) else { continue };
                let ledger = states.entry(pid).or_default();
                ledger.extend(row.into_record());
            }
        }
        Ok(states)
    }

    /// The subject's ledger without proofs, in no particular order: what current-state
    /// reads need, at a fraction of the bytes.
    pub async fn consent_states(&self, pid: Pid) -> Result<Vec<ConsentRecord>> {
        const SQL: &str = "SELECT id, purpose, state, notice_version, at, source, method, '' AS proof, receipt_id \
                           FROM consent_records WHERE pid = $1";
        Ok(on_pool!(self, pool => sqlx::query_as(SQL).bind(&pid.0[..]).fetch_all(pool).await?))
    }

    /// Records a batch of consent requests in ONE transaction (group commit: one fsync
    /// for the whole batch) with a fixed number of statements whatever the batch size.
    ///
    /// `ahead` holds what the caller prepared from a [`ConsentSnapshot`] before this call;
    /// inside the transaction the notice version, the merges and a fingerprint of each
    /// subject's ledger (row count, newest id) are compared with the snapshot, and only the
    /// requests whose subject changed meanwhile are prepared again, by `prepare`, from
    /// rows read inside the transaction. Without `ahead`, every request is prepared there.
    /// `prepare` gets the subject that will hold the rows (an anonymous subject merged into
    /// a known one writes to that one), the current notice version and the subject's newest
    /// row per purpose (including rows prepared earlier in the same batch). Rejected
    /// requests write nothing; the others are committed together with their audit entries.
    /// Returns each request's outcome, the audit chain's position after the batch, and the
    /// flush still to come: the batch is committed (the writer is free for the next one)
    /// but durable only once that flush returned, so its callers may be answered only then.
    pub async fn record_consents<T, R>(
        &self,
        requests: &[ConsentRequest],
        ahead: Option<Ahead<T, R>>,
        chain: &AuditChain<'_>,
        mut prepare: impl FnMut(usize, Pid, i64, HashMap<String, ConsentRecord>) -> Result<(PreparedConsent, T), R>,
    ) -> Result<(Vec<Result<T, R>>, i64, crate::Unflushed)> {
        let anonymous = anonymous_pids(requests);
        let (outcomes, head_seq) = write_tx!(self, crate::Durability::Deferred, tx => {
            // On PostgreSQL the audit chain's lock comes first: servers append in turn.
            if self.backend() == crate::Backend::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(crate::audit::AUDIT_LOCK).execute(&mut *tx).await?;
            }
            // One round trip for the notice version and the audit head.
            let (current, head_seq, head_hash): (Option<i64>, Option<i64>, Option<Vec<u8>>) = sqlx::query_as(
                "SELECT (SELECT MAX(version) FROM notice_versions), \
                        (SELECT seq FROM audit_head WHERE id = 1), (SELECT hash FROM audit_head WHERE id = 1)",
            )
            .fetch_one(&mut *tx)
            .await?;
            let current = current.ok_or_else(|| StoreError::Conflict("no notice version is published".into()))?;
            let merged = load_merges!(&mut *tx, &anonymous);

            let mut slots: Vec<Option<Result<(PreparedConsent, T), R>>> = Vec::with_capacity(requests.len());
            let targets: Vec<Pid> = match ahead {
                Some((snapshot, prepared))
                    if snapshot.current == current
                        && snapshot.merged == merged
                        && prepared.len() == requests.len()
                        && snapshot.targets.len() == requests.len() =>
                {
                    let fingerprints = load_fingerprints!(&mut *tx, &unique(&snapshot.targets));
                    for (i, p) in prepared.into_iter().enumerate() {
                        let target = snapshot.targets[i];
                        let unchanged = fingerprints.get(&target) == snapshot.fingerprints.get(&target);
                        slots.push(unchanged.then_some(p));
                    }
                    snapshot.targets
                }
                _ => {
                    slots.extend(requests.iter().map(|_| None));
                    requests.iter().map(|r| merged.get(&r.pid).copied().unwrap_or(r.pid)).collect()
                }
            };

            // Prepare, from rows read now, what could not be prepared ahead.
            let redo: Vec<Pid> = unique(&targets.iter().zip(&slots).filter(|(_, s)| s.is_none()).map(|(t, _)| *t).collect::<Vec<_>>());
            if !redo.is_empty() {
                let mut histories = load_histories!(&mut *tx, &redo);
                for (i, target) in targets.iter().enumerate() {
                    if !redo.contains(target) {
                        continue;
                    }
                    let history = histories.entry(*target).or_default();
                    let result = prepare(i, *target, current, latest_per_purpose(history.clone()));
                    if let Ok((prepared, _)) = &result {
                        history.extend(prepared.rows.iter().cloned());
                    }
                    slots[i] = Some(result);
                }
            }

            let mut outcomes = Vec::with_capacity(requests.len());
            let mut subjects = Vec::new();
            let mut records = Vec::new();
            let mut receipts = Vec::new();
            let mut audit = Vec::with_capacity(requests.len());
            let mut deliveries = Vec::new();
            for ((request, target), slot) in requests.iter().zip(&targets).zip(slots) {
                match slot.expect("every request is prepared") {
                    Err(rejected) => outcomes.push(Err(rejected)),
                    Ok((prepared, value)) => {
                        subjects.push((*target, request.kind.as_str(), prepared.at));
                        // The receipt goes on the first row it covers; one that covers
                        // none (nothing changed) gets a row in `receipts`.
                        if prepared.rows.is_empty() {
                            receipts.push((*target, prepared.receipt_id, prepared.at, prepared.receipt_jws));
                        } else {
                            let mut jws = Some(prepared.receipt_jws);
                            records.extend(prepared.rows.into_iter().map(|r| (*target, r, jws.take())));
                        }
                        audit.push(prepared.audit);
                        deliveries.extend(prepared.deliveries);
                        outcomes.push(Ok(value));
                    }
                }
            }

            // Every write of the batch goes to the database in ONE call: on SQLite each call
            // is a hop to the connection's thread, and the hops were the batch's fixed cost.
            let head = match (head_seq, head_hash) {
                (Some(seq), Some(hash)) => (seq, crate::audit::hash32(&hash)?),
                _ => (0, [0u8; 32]),
            };
            let (chained, new_head) = chain.extend(head, audit);
            let head_seq = new_head.seq;
            // PostgreSQL takes one statement per prepared query, so there each is its own call.
            let one_call = self.backend() == crate::Backend::Sqlite;
            let mut calls = vec![sqlx::QueryBuilder::new("")];
            // Starts the next statement: in the same call on SQLite, in a new one otherwise.
            let next = |calls: &mut Vec<sqlx::QueryBuilder<_>>| {
                let last = calls.last_mut().expect("one builder at least");
                if !last.sql().as_str().is_empty() {
                    if one_call {
                        last.push("; ");
                    } else {
                        calls.push(sqlx::QueryBuilder::new(""));
                    }
                }
            };
            for chunk in subjects.chunks(CHUNK) {
                next(&mut calls);
                let q = calls.last_mut().expect("builder");
                q.push("INSERT INTO subjects (pid, kind, created_at) ");
                q.push_values(chunk, |mut b, (pid, kind, at)| {
                    b.push_bind(&pid.0[..]).push_bind(*kind).push_bind(*at);
                });
                q.push(" ON CONFLICT (pid) DO NOTHING");
            }
            for chunk in records.chunks(CHUNK) {
                next(&mut calls);
                let q = calls.last_mut().expect("builder");
                q.push("INSERT INTO consent_records (pid, id, purpose, state, notice_version, at, source, method, proof, receipt_id, receipt_jws) ");
                q.push_values(chunk, |mut b, (pid, r, jws)| {
                    b.push_bind(&pid.0[..])
                        .push_bind(&r.id)
                        .push_bind(&r.purpose)
                        .push_bind(&r.state)
                        .push_bind(r.notice_version)
                        .push_bind(r.at)
                        .push_bind(&r.source)
                        .push_bind(&r.method)
                        .push_bind(&r.proof)
                        .push_bind(&r.receipt_id)
                        .push_bind(jws);
                });
            }
            for chunk in receipts.chunks(CHUNK) {
                next(&mut calls);
                let q = calls.last_mut().expect("builder");
                q.push("INSERT INTO receipts (pid, id, at, jws) ");
                q.push_values(chunk, |mut b, (pid, id, at, jws)| {
                    b.push_bind(&pid.0[..]).push_bind(id).push_bind(*at).push_bind(jws);
                });
            }
            for chunk in deliveries.chunks(CHUNK) {
                next(&mut calls);
                let q = calls.last_mut().expect("builder");
                crate::outbox::push_outbox!(q, chunk);
            }
            for chunk in chained.chunks(CHUNK) {
                next(&mut calls);
                let q = calls.last_mut().expect("builder");
                crate::audit::push_audit_entries!(q, chunk);
            }
            if !chained.is_empty() {
                next(&mut calls);
                let q = calls.last_mut().expect("builder");
                crate::audit::push_audit_head!(q, new_head);
            }
            for mut q in calls {
                if !q.sql().as_str().is_empty() {
                    q.build().execute(&mut *tx).await?;
                }
            }
            (outcomes, head_seq)
        });
        Ok((outcomes, head_seq, self.unflushed()))
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
