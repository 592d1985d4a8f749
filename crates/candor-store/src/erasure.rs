//! Erasure and key rotation.
//!
//! Erasing a subject deletes its key and rows, gives its bucket a new key and (when the
//! master key lives in the instance folder) replaces the master key, all in one
//! transaction; the subject's events, unreadable from that moment, are deleted in the
//! background so the caller never waits on the subject's data size.

use candor_privacy::audit::{AuditChain, NewAuditEntry};
use candor_privacy::sealing::{bucket_aad, bucket_of, subject_aad};
use candor_privacy::{InstanceKeys, Pid, SealingKey};
use serde::Serialize;

use crate::audit::append_audit;
use crate::keyring::{Keyring, bucket_range, unwrap_bucket};
use crate::{Result, Store, StoreError, on_pool, write_tx};

/// Inside a write transaction: stages `$new` as the next master key (durably, before any
/// row uses it) and re-wraps every bucket key with it.
macro_rules! rewrap_buckets {
    ($store:expr, $tx:ident, $keyring:expr, $new:expr) => {{
        let dir = $keyring.instance().expect("rotation needs an instance folder");
        InstanceKeys::stage_master(dir, $new.expose()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let rows: Vec<(i32, String, Vec<u8>)> =
            sqlx::query_as("SELECT bucket, master_kid, wrapped FROM key_buckets").fetch_all(&mut *$tx).await?;
        for (bucket, master_kid, wrapped) in rows {
            let bucket = u8::try_from(bucket).map_err(|_| StoreError::Corrupt("bucket out of range".into()))?;
            let key = unwrap_bucket($keyring, bucket, &master_kid, &wrapped)?;
            sqlx::query("UPDATE key_buckets SET master_kid = $1, wrapped = $2 WHERE bucket = $3")
                .bind($new.kid())
                .bind($new.wrap(&bucket_aad(bucket), &key))
                .bind(i32::from(bucket))
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// Events counted for a certificate at most (counting is linear in the subject's events).
const EVENT_COUNT_CAP: i64 = 10_000;

/// Serialises key rotations across PostgreSQL servers.
const KEY_LOCK: i64 = 0x6361_6e64_6f73; // "candos"

/// What an erasure removed, per kind (the erasure certificate states it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ErasureCounts {
    /// Consent ledger rows.
    pub consents: i64,
    /// Signed receipts.
    pub receipts: i64,
    /// Trait values.
    pub traits: i64,
    /// Events (made unreadable at once, their rows deleted in the background).
    pub events: i64,
    /// True when the subject held more events than were counted (`events` is then a lower
    /// bound): counting is capped so the caller never waits on the subject's data size.
    pub events_capped: bool,
    /// Logged reads of the subject's data.
    pub reads: i64,
    /// Control-panel sessions.
    pub sessions: i64,
    /// Anonymous visitors merged into the subject, erased with it.
    pub aliases: i64,
}

/// What the caller adds to an erasure's transaction once the counts are known.
pub struct ErasureRecord {
    /// The DSAR recording the request: an open one to complete, or a new id.
    pub dsar_id: String,
    /// Who asked, or why (kept with the DSAR).
    pub note: String,
    /// Its result (the signed certificate), as JSON.
    pub result: String,
    /// The audit entry.
    pub audit: NewAuditEntry,
    /// Webhooks telling processors to erase too.
    pub deliveries: Vec<crate::outbox::NewDelivery>,
}

type Counted = (i64, i64, i64, i64, i64, i64);

impl Store {
    /// Erases a subject. Returns `None` if it does not exist. `record` turns the counts into
    /// the certificate and audit entry, written in the same transaction.
    pub async fn erase_subject(
        &self,
        keyring: &Keyring,
        pid: Pid,
        now_ms: i64,
        chain: &AuditChain<'_>,
        record: impl FnOnce(&ErasureCounts) -> ErasureRecord,
    ) -> Result<Option<ErasureCounts>> {
        let rotate = keyring.can_rotate_master();
        let new_master = SealingKey::generate();
        let outcome = write_tx!(self, tx => 'erase: {
            if self.backend() == crate::Backend::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(KEY_LOCK).execute(&mut *tx).await?;
            }
            let exists: Option<(i64,)> = sqlx::query_as("SELECT created_at FROM subjects WHERE pid = $1 AND kind = 'known'")
                .bind(&pid.0[..]).fetch_optional(&mut *tx).await?;
            if exists.is_none() {
                break 'erase None;
            }
            let aliases: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT pid FROM subjects WHERE merged_into = $1")
                .bind(&pid.0[..]).fetch_all(&mut *tx).await?;
            let mut counts = ErasureCounts { aliases: aliases.len() as i64, ..Default::default() };
            let (max_seq,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM events").fetch_one(&mut *tx).await?;
            let everyone = std::iter::once(pid.0.to_vec()).chain(aliases.into_iter().map(|(p,)| p));
            for target in everyone {
                let (consents, receipts, traits, events, reads, sessions): Counted = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM consent_records WHERE pid = $1), \
                            (SELECT COUNT(*) FROM receipts WHERE pid = $1) \
                            + (SELECT COUNT(*) FROM consent_records WHERE pid = $1 AND receipt_jws IS NOT NULL), \
                            (SELECT COUNT(*) FROM traits WHERE pid = $1), \
                            (SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE pid = $1 LIMIT $2) capped), \
                            (SELECT COUNT(*) FROM data_reads WHERE pid = $1), \
                            (SELECT COUNT(*) FROM subject_sessions WHERE pid = $1) \
                            + (SELECT COUNT(*) FROM panel_sessions WHERE pid = $1)")
                    .bind(&target).bind(EVENT_COUNT_CAP + 1).fetch_one(&mut *tx).await?;
                counts.events_capped |= events > EVENT_COUNT_CAP;
                let events = events.min(EVENT_COUNT_CAP);
                counts.consents += consents;
                counts.receipts += receipts;
                counts.traits += traits;
                counts.events += events;
                counts.reads += reads;
                counts.sessions += sessions;
                for table in ["subject_keys", "consent_records", "receipts", "traits", "data_reads", "subject_sessions", "panel_sessions", "subjects"] {
                    sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE pid = $1")))
                        .bind(&target).execute(&mut *tx).await?;
                }
                if events > 0 {
                    sqlx::query("INSERT INTO erased_subjects (pid, erased_at, up_to_seq) VALUES ($1, $2, $3) \
                                 ON CONFLICT (pid) DO UPDATE SET erased_at = excluded.erased_at, up_to_seq = excluded.up_to_seq")
                        .bind(&target).bind(now_ms).bind(max_seq.unwrap_or(0)).execute(&mut *tx).await?;
                }
            }
            let bucket = bucket_of(&pid);
            let bucket_row: Option<(String, Vec<u8>)> = sqlx::query_as(
                "SELECT master_kid, wrapped FROM key_buckets WHERE bucket = $1")
                .bind(i32::from(bucket)).fetch_optional(&mut *tx).await?;
            if let Some((master_kid, wrapped)) = bucket_row {
                // A new key for the bucket: the erased subject's wrapped key, in any old copy,
                // was wrapped by the old one.
                let old = unwrap_bucket(keyring, bucket, &master_kid, &wrapped)?;
                let new = SealingKey::generate();
                let (low, high) = bucket_range(bucket);
                let rows: Vec<(Vec<u8>, Vec<u8>)> = match &high {
                    Some(high) => sqlx::query_as("SELECT pid, wrapped FROM subject_keys WHERE pid >= $1 AND pid < $2")
                        .bind(&low).bind(high).fetch_all(&mut *tx).await?,
                    None => sqlx::query_as("SELECT pid, wrapped FROM subject_keys WHERE pid >= $1")
                        .bind(&low).fetch_all(&mut *tx).await?,
                };
                for (other, wrapped) in rows {
                    let other = Pid::from_slice(&other).ok_or_else(|| StoreError::Corrupt("pid length".into()))?;
                    let key = old.unwrap_key(&subject_aad(&other), &wrapped)
                        .map_err(|_| StoreError::Corrupt("a subject key does not unwrap".into()))?;
                    sqlx::query("UPDATE subject_keys SET bucket_kid = $1, wrapped = $2 WHERE pid = $3")
                        .bind(new.kid()).bind(new.wrap(&subject_aad(&other), &key)).bind(&other.0[..])
                        .execute(&mut *tx).await?;
                }
                let master = keyring.current_master();
                sqlx::query("UPDATE key_buckets SET kid = $1, master_kid = $2, wrapped = $3 WHERE bucket = $4")
                    .bind(new.kid()).bind(master.kid()).bind(master.wrap(&bucket_aad(bucket), &new))
                    .bind(i32::from(bucket)).execute(&mut *tx).await?;
            }
            if rotate {
                rewrap_buckets!(self, tx, keyring, &new_master);
            }
            let record = record(&counts);
            sqlx::query("INSERT INTO dsar_requests (pid, id, kind, status, created_at, due_at, completed_at, note, result) \
                         VALUES ($1, $2, 'erasure', 'completed', $3, $4, $3, $5, $6) ON CONFLICT (id) DO UPDATE \
                         SET status = 'completed', completed_at = excluded.completed_at, result = excluded.result")
                .bind(&pid.0[..]).bind(&record.dsar_id).bind(now_ms).bind(now_ms + crate::dsar::DUE_MS)
                .bind(&record.note).bind(&record.result).execute(&mut *tx).await?;
            crate::outbox::enqueue_in!(tx, &record.deliveries);
            append_audit!(self, tx, chain, vec![record.audit]);
            Some(counts)
        });
        if outcome.is_some() {
            if rotate {
                self.finish_rotation(keyring, new_master)?;
            } else {
                keyring.forget_bucket(bucket_of(&pid));
            }
        } else if rotate {
            discard_staged(keyring)?;
        }
        Ok(outcome)
    }

    /// Re-wraps every bucket key (and so, transitively, every subject key) under a new
    /// master key, without touching any sealed data. Returns the new key's id.
    pub async fn rotate_master(
        &self,
        keyring: &Keyring,
        chain: &AuditChain<'_>,
        audit: NewAuditEntry,
    ) -> Result<String> {
        if !keyring.can_rotate_master() {
            return Err(StoreError::Conflict(
                "the master key comes from CANDOR_MASTER_KEY; set a new value there instead".into(),
            ));
        }
        let new_master = SealingKey::generate();
        let result: Result<()> = async {
            write_tx!(self, tx => {
                if self.backend() == crate::Backend::Postgres {
                    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(KEY_LOCK).execute(&mut *tx).await?;
                }
                rewrap_buckets!(self, tx, keyring, &new_master);
                append_audit!(self, tx, chain, vec![audit]);
            });
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                let kid = new_master.kid();
                self.finish_rotation(keyring, new_master)?;
                Ok(kid)
            }
            Err(e) => {
                discard_staged(keyring)?;
                Err(e)
            }
        }
    }

    /// Completes or abandons a master rotation that a crash interrupted: the staged key is
    /// promoted if any row uses it, else discarded. Run at start.
    pub async fn settle_master_rotation(&self, keyring: &Keyring) -> Result<()> {
        let Some(dir) = keyring.instance() else { return Ok(()) };
        let masters = InstanceKeys::master_keys(dir).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let Some(staged) = masters.get(1).map(|k| SealingKey::from_bytes(k)) else { return Ok(()) };
        let (used,): (i64,) = on_pool!(self, pool => sqlx::query_as(
            "SELECT COUNT(*) FROM key_buckets WHERE master_kid = $1").bind(staged.kid()).fetch_one(pool).await?);
        if used > 0 { self.finish_rotation(keyring, staged) } else { discard_staged(keyring) }
    }

    fn finish_rotation(&self, keyring: &Keyring, new_master: SealingKey) -> Result<()> {
        let dir = keyring.instance().expect("rotation needs an instance folder");
        InstanceKeys::promote_master(dir).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        keyring.replace_master(new_master);
        Ok(())
    }
}

fn discard_staged(keyring: &Keyring) -> Result<()> {
    match keyring.instance() {
        Some(dir) => InstanceKeys::discard_staged_master(dir).map_err(|e| StoreError::Corrupt(e.to_string())),
        None => Ok(()),
    }
}
