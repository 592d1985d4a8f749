//! API keys: only the hash of each secret is stored.

use candor_privacy::audit::{AuditChain, NewAuditEntry};

use crate::audit::append_audit;
use crate::{Result, Store, StoreError, on_pool, write_tx};

/// An API key as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRow {
    /// Public lookup id.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
    /// Creation time (Unix ms).
    pub created_at: i64,
    /// Revocation time, if revoked.
    pub revoked_at: Option<i64>,
}

type KeyTuple = (String, String, String, Vec<u8>, i64, Option<i64>);

fn to_row((id, name, scopes, secret_hash, created_at, revoked_at): KeyTuple) -> Result<ApiKeyRow> {
    let scopes = serde_json::from_str(&scopes).map_err(|e| StoreError::Corrupt(format!("api key scopes: {e}")))?;
    Ok(ApiKeyRow { id, name, scopes, secret_hash, created_at, revoked_at })
}

impl Store {
    /// Stores a new key and its audit entry.
    pub async fn create_api_key(&self, key: &ApiKeyRow, chain: &AuditChain<'_>, audit: NewAuditEntry) -> Result<()> {
        let scopes = serde_json::to_string(&key.scopes).expect("strings serialize");
        write_tx!(self, tx => {
            sqlx::query("INSERT INTO api_keys (id, name, scopes, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&key.id).bind(&key.name).bind(&scopes).bind(&key.secret_hash).bind(key.created_at)
                .execute(&mut *tx).await?;
            append_audit!(self, tx, chain, vec![audit]);
        });
        Ok(())
    }

    /// Revokes a key; false if no active key has this id.
    pub async fn revoke_api_key(
        &self,
        id: &str,
        at_ms: i64,
        chain: &AuditChain<'_>,
        audit: NewAuditEntry,
    ) -> Result<bool> {
        let revoked = write_tx!(self, tx => {
            let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(at_ms).bind(id).execute(&mut *tx).await?.rows_affected() == 1;
            if done {
                append_audit!(self, tx, chain, vec![audit]);
            }
            done
        });
        Ok(revoked)
    }

    /// One key by id (revoked or not).
    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRow>> {
        let row: Option<KeyTuple> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, name, scopes, secret_hash, created_at, revoked_at FROM api_keys WHERE id = $1")
            .bind(id).fetch_optional(pool).await?);
        row.map(to_row).transpose()
    }

    /// How many keys were ever revoked: a cheap fingerprint that changes on each revocation.
    pub async fn revoked_key_count(&self) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, pool => sqlx::query_as(
            "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NOT NULL").fetch_one(pool).await?);
        Ok(n)
    }

    /// Every key, oldest first.
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRow>> {
        let rows: Vec<KeyTuple> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, name, scopes, secret_hash, created_at, revoked_at FROM api_keys ORDER BY created_at, id")
            .fetch_all(pool).await?);
        rows.into_iter().map(to_row).collect()
    }
}
