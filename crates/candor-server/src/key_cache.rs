//! Valid API keys, cached so a request costs no key lookup in the database. A revocation
//! by any process (the CLI, another server) empties the cache within 250 ms: a watcher
//! compares the number of revoked keys. Revoked keys are never cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use candor_privacy::ParsedApiKey;
use candor_store::{Store, StoreError};

/// A validated key's lookup data.
#[derive(Clone)]
struct CachedKey {
    scopes: Vec<String>,
    secret_hash: Vec<u8>,
}

/// Shared cache of valid keys.
#[derive(Clone, Default)]
pub struct KeyCache {
    keys: Arc<Mutex<HashMap<String, CachedKey>>>,
}

impl KeyCache {
    /// The scopes of a presented key, if it is valid and unrevoked.
    pub async fn authenticate(&self, store: &Store, key: &ParsedApiKey<'_>) -> Result<Option<Vec<String>>, StoreError> {
        let cached = self.keys.lock().expect("key cache lock").get(key.id).cloned();
        let entry = match cached {
            Some(entry) => entry,
            None => {
                let Some(row) = store.api_key(key.id).await? else { return Ok(None) };
                if row.revoked_at.is_some() {
                    return Ok(None);
                }
                let entry = CachedKey { scopes: row.scopes, secret_hash: row.secret_hash };
                self.keys.lock().expect("key cache lock").insert(row.id, entry.clone());
                entry
            }
        };
        Ok(key.matches(&entry.secret_hash).then_some(entry.scopes))
    }

    /// Empties the cache whenever the number of revoked keys changes.
    pub async fn watch(self, store: Store) {
        let mut seen = None;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            match store.revoked_key_count().await {
                Ok(n) if seen != Some(n) => {
                    self.keys.lock().expect("key cache lock").clear();
                    seen = Some(n);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "key revocation check failed"),
            }
        }
    }
}
