//! The transactional outbox: webhooks to processors are written in the same transaction as
//! the change they announce, then delivered (and retried) by a background worker.

use crate::{Result, Store, on_pool};

/// A webhook to send.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Its id, also the idempotency key the processor sees.
    pub id: String,
    /// The processor (catalog id).
    pub processor: String,
    /// `consent.changed`, `notice.published`, `dsar.erasure`, `dsar.export`.
    pub kind: String,
    /// The JSON body, without the subject's id.
    pub payload: String,
    /// The host's subject id, sealed, when the processor must know whom it concerns.
    pub sealed_subject: Option<Vec<u8>>,
    /// The DSAR it fans out, if any.
    pub dsar_id: Option<String>,
    /// When it was written (Unix ms); also its first attempt time.
    pub created_at: i64,
}

/// A webhook as stored, with its delivery state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    /// Its id (the idempotency key).
    pub id: String,
    /// The processor.
    pub processor: String,
    /// The event kind.
    pub kind: String,
    /// The JSON body without the subject's id.
    pub payload: String,
    /// The sealed subject id, until acknowledged.
    pub sealed_subject: Option<Vec<u8>>,
    /// The DSAR it fans out, if any.
    pub dsar_id: Option<String>,
    /// When it was written.
    pub created_at: i64,
    /// Attempts so far.
    pub attempts: i64,
    /// When it is tried next.
    pub next_attempt_at: i64,
    /// When the processor acknowledged it (a 2xx answer).
    pub delivered_at: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// Adds one `INSERT INTO outbox` statement for `$rows` (non-empty) to the builder `$q`.
macro_rules! push_outbox {
    ($q:expr, $rows:expr) => {{
        $q.push(
            "INSERT INTO outbox (id, processor, kind, payload, sealed_subject, dsar_id, created_at, next_attempt_at) ",
        );
        $q.push_values($rows, |mut b, d: &$crate::outbox::NewDelivery| {
            b.push_bind(&d.id)
                .push_bind(&d.processor)
                .push_bind(&d.kind)
                .push_bind(&d.payload)
                .push_bind(&d.sealed_subject)
                .push_bind(&d.dsar_id)
                .push_bind(d.created_at)
                .push_bind(d.created_at);
        });
    }};
}
pub(crate) use push_outbox;

/// Writes `$rows` to the outbox inside the open transaction `$tx`.
macro_rules! enqueue_in {
    ($tx:ident, $rows:expr) => {{
        let rows: &[$crate::outbox::NewDelivery] = $rows;
        for chunk in rows.chunks(500) {
            let mut q = sqlx::QueryBuilder::new("");
            $crate::outbox::push_outbox!(q, chunk);
            q.build().execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use enqueue_in;

/// The outcome of one delivery attempt.
#[derive(Debug, Clone)]
pub enum Attempted {
    /// The processor answered 2xx.
    Acknowledged {
        /// The webhook.
        id: String,
    },
    /// It did not; try again later.
    Failed {
        /// The webhook.
        id: String,
        /// When to try again (Unix ms).
        next_attempt_at: i64,
        /// Why it failed.
        error: String,
    },
}

const COLUMNS: &str = "id, processor, kind, payload, sealed_subject, dsar_id, created_at, attempts, next_attempt_at, delivered_at, last_error";

/// Records delivery outcomes inside the transaction `$tx` (see [`Store::settle_deliveries`]).
macro_rules! settle_in {
    ($tx:ident, $outcomes:expr, $now_ms:expr) => {{
        let acknowledged: Vec<&str> = $outcomes
            .iter()
            .filter_map(|o| match o {
                Attempted::Acknowledged { id } => Some(id.as_str()),
                Attempted::Failed { .. } => None,
            })
            .collect();
        if !acknowledged.is_empty() {
            let mut q = sqlx::QueryBuilder::new("UPDATE outbox SET delivered_at = ");
            q.push_bind($now_ms);
            q.push(", attempts = attempts + 1, sealed_subject = NULL, last_error = NULL WHERE delivered_at IS NULL AND id IN (");
            let mut ids = q.separated(", ");
            for id in &acknowledged {
                ids.push_bind(*id);
            }
            q.push(")");
            q.build().execute(&mut *$tx).await?;
        }
        for outcome in $outcomes {
            if let Attempted::Failed { id, next_attempt_at, error } = outcome {
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 \
                     WHERE id = $3 AND delivered_at IS NULL",
                )
                .bind(next_attempt_at)
                .bind(error)
                .bind(id)
                .execute(&mut *$tx)
                .await?;
            }
        }
    }};
}

/// Claims due webhooks inside the transaction `$tx` (see [`Store::claim_due_deliveries`]).
macro_rules! claim_in {
    ($tx:ident, $now_ms:expr, $limit:expr, $lease_until:expr) => {{
        let sql = format!(
            "UPDATE outbox SET next_attempt_at = $1 \
             WHERE delivered_at IS NULL AND next_attempt_at <= $2 AND id IN (\
                 SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= $2 \
                 ORDER BY next_attempt_at, created_at LIMIT $3) \
             RETURNING {COLUMNS}"
        );
        let claimed: Vec<Delivery> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind($lease_until)
            .bind($now_ms)
            .bind($limit)
            .fetch_all(&mut *$tx)
            .await?;
        claimed
    }};
}

impl Store {
    /// The webhooks of one DSAR.
    pub async fn dsar_deliveries(&self, dsar_id: &str) -> Result<Vec<Delivery>> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE dsar_id = $1 ORDER BY processor");
        Ok(on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(dsar_id).fetch_all(pool).await?))
    }

    /// Every webhook, newest first (admin, tests).
    pub async fn deliveries(&self, limit: i64) -> Result<Vec<Delivery>> {
        let sql = format!("SELECT {COLUMNS} FROM outbox ORDER BY created_at DESC, id DESC LIMIT $1");
        Ok(on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(pool).await?))
    }

    /// Records the outcomes of one delivery pass, ended at `now_ms`, in one transaction:
    /// the acknowledged webhooks are delivered (in one statement) and their sealed subject
    /// ids deleted; each failed one is tried again at its `next_attempt_at`. Not flushed to
    /// disk on its own (relaxed durability): if the machine loses power before
    /// the next durable commit, those webhooks are sent again with the same idempotency key.
    pub async fn settle_deliveries(&self, outcomes: &[Attempted], now_ms: i64) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        crate::write_tx!(self, crate::Durability::Relaxed, tx => settle_in!(tx, outcomes, now_ms));
        Ok(())
    }

    /// A delivery worker's pass in one transaction: records the previous pass's
    /// `outcomes` as [`Store::settle_deliveries`] does, then claims the next due webhooks
    /// as [`Store::claim_due_deliveries`] does. One commit per pass instead of two, for the
    /// writer that consent writes queue for.
    pub async fn settle_and_claim(
        &self,
        outcomes: &[Attempted],
        now_ms: i64,
        limit: i64,
        lease_until: i64,
    ) -> Result<Vec<Delivery>> {
        let mut claimed: Vec<Delivery> = crate::write_tx!(self, crate::Durability::Relaxed, tx => {
            settle_in!(tx, outcomes, now_ms);
            claim_in!(tx, now_ms, limit, lease_until)
        });
        claimed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(claimed)
    }

    /// Writes webhooks on their own (for changes that have no other rows to write).
    pub async fn enqueue(&self, rows: &[NewDelivery]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        crate::write_tx!(self, tx => enqueue_in!(tx, rows));
        Ok(())
    }
}

impl Store {
    /// Takes up to `limit` due webhooks, oldest first, for one attempt each, in one
    /// statement: their next attempt moves to `lease_until`, so no other worker (several
    /// servers may share one database) takes them until the lease ends. The outer
    /// conditions are checked again against each row as it is updated, so of two servers
    /// racing for a row only one gets it. A claim lost with the machine's power
    /// (relaxed durability) only makes its webhooks due again.
    pub async fn claim_due_deliveries(&self, now_ms: i64, limit: i64, lease_until: i64) -> Result<Vec<Delivery>> {
        self.settle_and_claim(&[], now_ms, limit, lease_until).await
    }
}
