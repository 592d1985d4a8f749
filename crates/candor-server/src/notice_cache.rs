//! The current notice, kept in memory and refreshed from the database so that a version
//! published by any process (the CLI, another server) is served within a second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use candor_core::catalog::Catalog;
use candor_core::gate::{Coverage, Gate};
use candor_core::notice::Notice;
use candor_store::{Store, StoreError};

/// One published version, parsed, with what the consent rules need.
#[derive(Debug)]
pub struct CurrentNotice {
    /// Its number.
    pub version: i64,
    /// When it was published (Unix ms).
    pub published_at: i64,
    /// The notice.
    pub notice: Notice,
    /// SHA-256 of the exact notice text, hex (consent proof).
    pub sha256: String,
    /// For each purpose, the newest version that changed it materially.
    pub last_material: HashMap<String, i64>,
    /// The catalog it was published from (field types, limits, events, processors).
    pub catalog: Catalog,
    /// What each purpose covered at every version (for `consent_stale`).
    pub coverage: Coverage,
}

impl CurrentNotice {
    /// The ingestion gate of this version.
    pub fn gate(&self) -> Gate<'_> {
        Gate::new(&self.catalog, &self.coverage)
    }
}

/// Shared, cheaply readable current notice.
#[derive(Clone, Default)]
pub struct NoticeCache {
    current: Arc<RwLock<Option<Arc<CurrentNotice>>>>,
}

impl NoticeCache {
    /// The current notice, if one was loaded.
    pub fn get(&self) -> Option<Arc<CurrentNotice>> {
        self.current.read().expect("notice lock").clone()
    }

    /// Reloads from the store if a newer version exists. Returns the version in effect.
    pub async fn refresh(&self, store: &Store) -> Result<Option<i64>, StoreError> {
        let Some(latest) = store.latest_notice_version().await? else { return Ok(None) };
        if self.get().is_some_and(|c| c.version == latest) {
            return Ok(Some(latest));
        }
        let versions = store.notices().await?;
        let mut last_material = HashMap::new();
        let mut coverage = Coverage::default();
        for v in &versions {
            let notice: Notice = serde_json::from_str(&v.notice_json)
                .map_err(|e| StoreError::Corrupt(format!("notice {}: {e}", v.version)))?;
            coverage.add(v.version, &notice);
            let material: Vec<String> = serde_json::from_str(&v.material_json)
                .map_err(|e| StoreError::Corrupt(format!("notice {} material: {e}", v.version)))?;
            for p in material {
                last_material.insert(p, v.version);
            }
        }
        let newest = versions.last().expect("latest exists");
        let notice: Notice = serde_json::from_str(&newest.notice_json)
            .map_err(|e| StoreError::Corrupt(format!("notice {}: {e}", newest.version)))?;
        let catalog = Catalog::parse(&newest.catalog_toml)
            .map_err(|e| StoreError::Corrupt(format!("catalog of notice {}: {e}", newest.version)))?;
        let current = CurrentNotice {
            catalog,
            coverage,
            version: newest.version,
            published_at: newest.published_at,
            notice,
            sha256: newest.notice_sha256.clone(),
            last_material,
        };
        tracing::info!(version = current.version, "serving notice version");
        *self.current.write().expect("notice lock") = Some(Arc::new(current));
        Ok(Some(newest.version))
    }

    /// Keeps the cache fresh: polls every 250 ms, and on PostgreSQL also wakes on the
    /// `candor_notice` notification that every publication sends.
    pub async fn watch(self, store: Store) {
        let mut listener = match store.postgres_pool() {
            Some(pool) => match sqlx::postgres::PgListener::connect_with(pool).await {
                Ok(mut l) => l.listen("candor_notice").await.ok().map(|_| l),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot LISTEN for notice changes; polling only");
                    None
                }
            },
            None => None,
        };
        loop {
            match listener.as_mut() {
                Some(l) => {
                    let _ = tokio::time::timeout(Duration::from_millis(250), l.recv()).await;
                }
                None => tokio::time::sleep(Duration::from_millis(250)).await,
            }
            if let Err(e) = self.refresh(&store).await {
                tracing::warn!(error = %e, "notice refresh failed");
            }
        }
    }
}
