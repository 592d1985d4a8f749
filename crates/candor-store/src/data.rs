//! Sealed subject data: traits and events as the gate admitted them, and the log of who
//! read them. Values arrive here already sealed; the store never sees plaintext.

use candor_privacy::Pid;
use candor_privacy::audit::{AuditChain, NewAuditEntry};

use crate::audit::append_audit;
use crate::{Result, Store, on_pool, write_tx};

/// One admitted event, sealed.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The subject.
    pub pid: Pid,
    /// Its id (UUIDv7 bytes), bound into the seal.
    pub id: [u8; 16],
    /// The event type.
    pub kind: String,
    /// When it happened (Unix ms).
    pub at: i64,
    /// Names of the stored fields, comma-separated (bound into the seal).
    pub fields: String,
    /// The stored properties as a sealed JSON object.
    pub sealed: Vec<u8>,
}

/// A stored event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    /// Storage sequence (used to address the row in sweeps).
    pub seq: i64,
    /// Its id (UUIDv7 bytes).
    pub id: Vec<u8>,
    /// The event type.
    #[sqlx(rename = "type")]
    pub kind: String,
    /// When it happened (Unix ms).
    pub at: i64,
    /// Names of the stored fields, comma-separated.
    pub fields: String,
    /// The sealed properties.
    pub sealed: Vec<u8>,
}

/// A stored trait.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TraitRow {
    /// The field.
    pub field: String,
    /// When it was last set (Unix ms).
    pub at: i64,
    /// The sealed JSON value.
    pub sealed: Vec<u8>,
}

/// A logged read of a subject's data.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct DataRead {
    /// Its id.
    pub id: String,
    /// When (Unix ms).
    pub at: i64,
    /// Who: `key:<id>` or `admin`.
    pub actor: String,
    /// For which purpose.
    pub purpose: String,
    /// Which fields were returned, comma-separated.
    pub fields: String,
}

/// An event row with its subject: (pid, seq, id, type, at, fields, sealed).
type OwnedEventRow = (Vec<u8>, i64, Vec<u8>, String, i64, String, Vec<u8>);

/// Rows per multi-row INSERT (well under either backend's bound-parameter limit).
const EVENT_CHUNK: usize = 500;

impl Store {
    /// Stores admitted events in one transaction: all of them, or none.
    pub async fn insert_events(&self, events: &[NewEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        write_tx!(self, tx => {
            for chunk in events.chunks(EVENT_CHUNK) {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO events (pid, id, type, at, fields, sealed) ");
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(&e.pid.0[..])
                        .push_bind(&e.id[..])
                        .push_bind(&e.kind)
                        .push_bind(e.at)
                        .push_bind(&e.fields)
                        .push_bind(&e.sealed);
                });
                q.build().execute(&mut *tx).await?;
            }
        });
        Ok(())
    }

    /// Sets traits (field, time, sealed value), replacing earlier values of the same fields.
    pub async fn upsert_traits(&self, pid: Pid, traits: &[(String, i64, Vec<u8>)]) -> Result<()> {
        if traits.is_empty() {
            return Ok(());
        }
        write_tx!(self, tx => {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO traits (pid, field, at, sealed) ");
            q.push_values(traits, |mut b, (field, at, sealed)| {
                b.push_bind(&pid.0[..]).push_bind(field).push_bind(*at).push_bind(sealed);
            });
            q.push(" ON CONFLICT (pid, field) DO UPDATE SET at = excluded.at, sealed = excluded.sealed");
            q.build().execute(&mut *tx).await?;
        });
        Ok(())
    }

    /// Every trait of a subject.
    pub async fn traits(&self, pid: Pid) -> Result<Vec<TraitRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT field, at, sealed FROM traits WHERE pid = $1 ORDER BY field")
            .bind(&pid.0[..]).fetch_all(pool).await?))
    }

    /// A subject's events, newest first, at most `limit`.
    pub async fn events(&self, pid: Pid, limit: i64) -> Result<Vec<EventRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT seq, id, type, at, fields, sealed FROM events WHERE pid = $1 ORDER BY at DESC, seq DESC LIMIT $2")
            .bind(&pid.0[..]).bind(limit).fetch_all(pool).await?))
    }

    /// How many events a subject has.
    pub async fn event_count(&self, pid: Pid) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, pool => sqlx::query_as("SELECT COUNT(*) FROM events WHERE pid = $1")
            .bind(&pid.0[..]).fetch_one(pool).await?);
        Ok(n)
    }

    /// How many events a subject has per stored field set (`fields`, count): what the
    /// control panel counts without opening every event.
    pub async fn event_field_counts(&self, pid: Pid) -> Result<Vec<(String, i64)>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT fields, COUNT(*) FROM events WHERE pid = $1 GROUP BY fields ORDER BY fields")
            .bind(&pid.0[..]).fetch_all(pool).await?))
    }

    /// Logs a read of a subject's data, with its audit entry, in one transaction.
    pub async fn record_read(
        &self,
        pid: Pid,
        read: &DataRead,
        chain: &AuditChain<'_>,
        audit: NewAuditEntry,
    ) -> Result<()> {
        write_tx!(self, tx => {
            sqlx::query("INSERT INTO data_reads (pid, id, at, actor, purpose, fields) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&pid.0[..]).bind(&read.id).bind(read.at).bind(&read.actor).bind(&read.purpose).bind(&read.fields)
                .execute(&mut *tx).await?;
            append_audit!(self, tx, chain, vec![audit]);
        });
        Ok(())
    }

    /// Every logged read of a subject's data, newest first.
    pub async fn data_reads(&self, pid: Pid) -> Result<Vec<DataRead>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, at, actor, purpose, fields FROM data_reads WHERE pid = $1 ORDER BY at DESC, id DESC")
            .bind(&pid.0[..]).fetch_all(pool).await?))
    }
}

/// What the sweeper needs to find and remove data that lost its basis or its time.
impl Store {
    /// Subjects with a consent record newer than `after` (Unix ms), and the newest time seen.
    pub async fn consent_changes_since(&self, after: i64, limit: i64) -> Result<Vec<(Pid, i64)>> {
        let rows: Vec<(Vec<u8>, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT pid, MAX(at) AS newest FROM consent_records WHERE at > $1 GROUP BY pid ORDER BY newest LIMIT $2")
            .bind(after).bind(limit).fetch_all(pool).await?);
        Ok(rows.into_iter().filter_map(|(pid, at)| Pid::from_slice(&pid).map(|p| (p, at))).collect())
    }

    /// Every subject that holds traits or events (a full sweep after a catalog change).
    pub async fn subjects_with_data(&self) -> Result<Vec<Pid>> {
        let rows: Vec<(Vec<u8>,)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT pid FROM subject_keys ORDER BY pid").fetch_all(pool).await?);
        Ok(rows.into_iter().filter_map(|(pid,)| Pid::from_slice(&pid)).collect())
    }

    /// The distinct field sets a subject's events hold (or every event's, with `None`).
    pub async fn event_field_sets(&self, pid: Option<Pid>) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = match pid {
            Some(pid) => on_pool!(self, pool => sqlx::query_as("SELECT DISTINCT fields FROM events WHERE pid = $1")
                .bind(&pid.0[..]).fetch_all(pool).await?),
            None => on_pool!(self, pool => sqlx::query_as("SELECT DISTINCT fields FROM events").fetch_all(pool).await?),
        };
        Ok(rows.into_iter().map(|(f,)| f).collect())
    }

    /// Deletes events holding exactly `fields`, older than `before`, of one subject or all.
    pub async fn delete_events(&self, pid: Option<Pid>, fields: &str, before: i64) -> Result<u64> {
        let done = match pid {
            Some(pid) => write_tx!(self, tx => sqlx::query(
                "DELETE FROM events WHERE pid = $1 AND fields = $2 AND at < $3")
                .bind(&pid.0[..]).bind(fields).bind(before).execute(&mut *tx).await?.rows_affected()),
            None => write_tx!(self, tx => sqlx::query("DELETE FROM events WHERE fields = $1 AND at < $2")
                .bind(fields).bind(before).execute(&mut *tx).await?.rows_affected()),
        };
        Ok(done)
    }

    /// Events holding exactly `fields` with `from <= at < before`, of one subject or all.
    pub async fn events_with_fields(
        &self,
        pid: Option<Pid>,
        fields: &str,
        from: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<(Pid, EventRow)>> {
        let rows: Vec<OwnedEventRow> = match pid {
            Some(pid) => on_pool!(self, pool => sqlx::query_as(
                "SELECT pid, seq, id, type, at, fields, sealed FROM events \
                 WHERE pid = $1 AND fields = $2 AND at >= $3 AND at < $4 ORDER BY seq LIMIT $5")
                .bind(&pid.0[..]).bind(fields).bind(from).bind(before).bind(limit).fetch_all(pool).await?),
            None => on_pool!(self, pool => sqlx::query_as(
                "SELECT pid, seq, id, type, at, fields, sealed FROM events \
                 WHERE fields = $1 AND at >= $2 AND at < $3 ORDER BY seq LIMIT $4")
                .bind(fields).bind(from).bind(before).bind(limit).fetch_all(pool).await?),
        };
        Ok(rows
            .into_iter()
            .filter_map(|(pid, seq, id, kind, at, fields, sealed)| {
                Pid::from_slice(&pid).map(|p| (p, EventRow { seq, id, kind, at, fields, sealed }))
            })
            .collect())
    }

    /// Replaces an event's stored fields (a sweep removed some of them).
    pub async fn reseal_event(&self, pid: Pid, seq: i64, fields: &str, sealed: &[u8]) -> Result<()> {
        write_tx!(self, tx => sqlx::query("UPDATE events SET fields = $1, sealed = $2 WHERE pid = $3 AND seq = $4")
            .bind(fields).bind(sealed).bind(&pid.0[..]).bind(seq).execute(&mut *tx).await.map(|_| ())?);
        Ok(())
    }

    /// Deletes one event.
    pub async fn delete_event(&self, pid: Pid, seq: i64) -> Result<u64> {
        Ok(write_tx!(self, tx => sqlx::query("DELETE FROM events WHERE pid = $1 AND seq = $2")
            .bind(&pid.0[..]).bind(seq).execute(&mut *tx).await?.rows_affected()))
    }

    /// Deletes some traits of a subject, in one transaction.
    pub async fn delete_traits(&self, pid: Pid, fields: &[&str]) -> Result<u64> {
        if fields.is_empty() {
            return Ok(0);
        }
        Ok(write_tx!(self, tx => {
            let mut deleted = 0;
            for field in fields {
                deleted += sqlx::query("DELETE FROM traits WHERE pid = $1 AND field = $2")
                    .bind(&pid.0[..]).bind(*field).execute(&mut *tx).await?.rows_affected();
            }
            deleted
        }))
    }

    /// Deletes every value of trait `field` set before `before`.
    pub async fn delete_expired_traits(&self, field: &str, before: i64) -> Result<u64> {
        Ok(write_tx!(self, tx => sqlx::query("DELETE FROM traits WHERE field = $1 AND at < $2")
            .bind(field).bind(before).execute(&mut *tx).await?.rows_affected()))
    }

    /// Trait fields held by any subject that the catalog no longer declares, or all fields.
    pub async fn trait_fields(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> =
            on_pool!(self, pool => sqlx::query_as("SELECT DISTINCT field FROM traits").fetch_all(pool).await?);
        Ok(rows.into_iter().map(|(f,)| f).collect())
    }

    /// Deletes, in bounded steps, the events of erased subjects (unreadable since their
    /// erasure). Returns how many rows went.
    pub async fn purge_erased(&self, step: i64) -> Result<u64> {
        let pending: Vec<(Vec<u8>, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT pid, up_to_seq FROM erased_subjects ORDER BY erased_at LIMIT 16").fetch_all(pool).await?);
        let mut deleted = 0;
        for (pid, up_to) in pending {
            let n = write_tx!(self, tx => sqlx::query(
                "DELETE FROM events WHERE pid = $1 AND seq IN \
                 (SELECT seq FROM events WHERE pid = $1 AND seq <= $2 LIMIT $3)")
                .bind(&pid).bind(up_to).bind(step).execute(&mut *tx).await?.rows_affected());
            deleted += n;
            if (n as i64) < step {
                write_tx!(self, tx => sqlx::query("DELETE FROM erased_subjects WHERE pid = $1")
                    .bind(&pid).execute(&mut *tx).await.map(|_| ())?);
            }
        }
        Ok(deleted)
    }
}

/// A stored consent receipt.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct ReceiptRow {
    /// Receipt id.
    pub id: String,
    /// When it was issued (Unix ms).
    pub at: i64,
    /// The compact JWS.
    pub jws: String,
}

impl Store {
    /// A subject's receipts, oldest first: those kept on the first ledger row they cover,
    /// and those of requests that recorded no row.
    pub async fn receipts(&self, pid: Pid) -> Result<Vec<ReceiptRow>> {
        const SQL: &str = "SELECT receipt_id AS id, at, receipt_jws AS jws FROM consent_records \
                           WHERE pid = $1 AND receipt_jws IS NOT NULL \
                           UNION ALL SELECT id, at, jws FROM receipts WHERE pid = $1 ORDER BY at, id";
        Ok(on_pool!(self, pool => sqlx::query_as(SQL).bind(&pid.0[..]).fetch_all(pool).await?))
    }
}
