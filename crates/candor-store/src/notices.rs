//! Published notice versions: immutable, numbered from 1.

use candor_privacy::audit::{AuditChain, NewAuditEntry};

use crate::audit::append_audit;
use crate::{Result, Store, StoreError, on_pool, write_tx};

/// One published notice version as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredNotice {
    /// Its number.
    pub version: i64,
    /// When it was published (Unix ms).
    pub published_at: i64,
    /// The catalog TOML it was made from.
    pub catalog_toml: String,
    /// The notice JSON shown to people (the exact text the proof hash covers).
    pub notice_json: String,
    /// SHA-256 of `notice_json`, hex.
    pub notice_sha256: String,
    /// JSON list of purposes materially changed against the previous version.
    pub material_json: String,
}

/// A notice about to be published.
pub struct NewNotice<'a> {
    /// The catalog TOML.
    pub catalog_toml: &'a str,
    /// The notice JSON.
    pub notice_json: &'a str,
    /// SHA-256 of the notice JSON, hex.
    pub notice_sha256: &'a str,
    /// JSON list of materially changed purposes.
    pub material_json: &'a str,
    /// Processors to tell (a `notice.published` webhook each).
    pub processors: Vec<String>,
    /// Publication time (Unix ms).
    pub published_at: i64,
}

const COLUMNS: &str = "version, published_at, catalog_toml, notice_json, notice_sha256, material_json";

impl Store {
    /// The newest version number, if any was published.
    pub async fn latest_notice_version(&self) -> Result<Option<i64>> {
        let row: (Option<i64>,) = on_pool!(self, pool =>
            sqlx::query_as("SELECT MAX(version) FROM notice_versions").fetch_one(pool).await?);
        Ok(row.0)
    }

    /// The newest version, if any was published.
    pub async fn latest_notice(&self) -> Result<Option<StoredNotice>> {
        let sql = format!("SELECT {COLUMNS} FROM notice_versions ORDER BY version DESC LIMIT 1");
        Ok(on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_optional(pool).await?))
    }

    /// One version.
    pub async fn notice(&self, version: i64) -> Result<Option<StoredNotice>> {
        let sql = format!("SELECT {COLUMNS} FROM notice_versions WHERE version = $1");
        Ok(on_pool!(self, pool =>
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(version).fetch_optional(pool).await?))
    }

    /// Every version, oldest first.
    pub async fn notices(&self) -> Result<Vec<StoredNotice>> {
        let sql = format!("SELECT {COLUMNS} FROM notice_versions ORDER BY version");
        Ok(on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?))
    }

    /// Publishes `notice` as version `expected_previous + 1`, with its audit entry, in one
    /// transaction. Fails with [`StoreError::Conflict`] when another publisher got there
    /// first, so a diff is never computed against a version other than the one it names.
    pub async fn publish_notice(
        &self,
        notice: &NewNotice<'_>,
        expected_previous: Option<i64>,
        chain: &AuditChain<'_>,
        audit: NewAuditEntry,
    ) -> Result<i64> {
        let version = write_tx!(self, tx => {
            let (latest,): (Option<i64>,) = sqlx::query_as("SELECT MAX(version) FROM notice_versions")
                .fetch_one(&mut *tx).await?;
            if latest != expected_previous {
                return Err(StoreError::Conflict(format!(
                    "notice version {} was published meanwhile", latest.unwrap_or(0))));
            }
            let version = latest.unwrap_or(0) + 1;
            sqlx::query(
                "INSERT INTO notice_versions (version, published_at, catalog_toml, notice_json, notice_sha256, material_json) \
                 VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(version).bind(notice.published_at).bind(notice.catalog_toml)
                .bind(notice.notice_json).bind(notice.notice_sha256).bind(notice.material_json)
                .execute(&mut *tx).await?;
            let mut audit = audit;
            audit.detail = serde_json::json!({"version": version, "material": serde_json::from_str::<serde_json::Value>(notice.material_json).unwrap_or_default()}).to_string();
            append_audit!(self, tx, chain, vec![audit]);
            if !notice.processors.is_empty() {
                let material: Vec<String> = serde_json::from_str(notice.material_json).unwrap_or_default();
                let mut asked_again = 0i64;
                if !material.is_empty() {
                    // Subjects whose newest choice for a materially changed purpose is a grant.
                    let mut q = sqlx::QueryBuilder::new(
                        "SELECT COUNT(DISTINCT pid) FROM (SELECT pid, state, ROW_NUMBER() OVER \
                         (PARTITION BY pid, purpose ORDER BY at DESC, id DESC) AS rn FROM consent_records WHERE purpose IN (");
                    let mut list = q.separated(", ");
                    for p in &material {
                        list.push_bind(p.as_str());
                    }
                    q.push(")) newest WHERE rn = 1 AND state = 'granted'");
                    let (n,): (i64,) = q.build_query_as().fetch_one(&mut *tx).await?;
                    asked_again = n;
                }
                let payload = serde_json::json!({"version": version, "material": material, "subjects_to_ask_again": asked_again}).to_string();
                let rows: Vec<crate::outbox::NewDelivery> = notice.processors.iter().map(|p| crate::outbox::NewDelivery {
                    id: uuid::Uuid::now_v7().to_string(),
                    processor: p.clone(),
                    kind: "notice.published".into(),
                    payload: payload.clone(),
                    sealed_subject: None,
                    dsar_id: None,
                    created_at: notice.published_at,
                }).collect();
                crate::outbox::enqueue_in!(tx, &rows);
            }
            if self.backend() == crate::Backend::Postgres {
                sqlx::query("SELECT pg_notify('candor_notice', $1)").bind(version.to_string()).execute(&mut *tx).await?;
            }
            version
        });
        Ok(version)
    }
}
