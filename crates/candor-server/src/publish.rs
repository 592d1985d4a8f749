//! Publishing a catalog as the next notice version, shared by `candor notice publish`
//! and `POST /v1/notice/versions`.

use candor_core::catalog::{Catalog, CatalogErrors};
use candor_core::notice::{Notice, NoticeDiff, diff};
use candor_privacy::audit::AuditChain;
use candor_privacy::sha256_hex;
use candor_store::notices::NewNotice;
use candor_store::{Store, StoreError, StoredNotice, now_ms};

use crate::instance::audit_entry;

/// What a publication did.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct PublishOutcome {
    /// The current version afterwards.
    pub version: i64,
    /// Purposes materially changed (subjects who granted them are asked again).
    pub material: Vec<String>,
    /// True when the catalog said nothing new, so no version was made.
    pub unchanged: bool,
}

/// Why a publication failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The catalog is invalid.
    #[error("{0}")]
    Invalid(CatalogErrors),
    /// The store failed or another publisher won the race.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored notice could not be read.
    #[error("stored notice {0} is unreadable: {1}")]
    Corrupt(i64, serde_json::Error),
}

/// The canonical JSON text of a notice, stored and hashed as shown to people.
pub fn notice_json(notice: &Notice) -> String {
    serde_json::to_string(notice).expect("notice serializes")
}

/// A catalog checked against the current notice, ready to publish.
pub struct Proposal {
    /// The notice version current now, if any.
    pub current: Option<StoredNotice>,
    /// The notice the catalog makes.
    pub next: Notice,
    /// What changes, per purpose.
    pub diff: NoticeDiff,
}

/// Validates `catalog_toml` and diffs it against the current notice.
pub async fn propose(store: &Store, catalog_toml: &str) -> Result<Proposal, PublishError> {
    let catalog = Catalog::parse(catalog_toml).map_err(PublishError::Invalid)?;
    let next = Notice::from_catalog(&catalog);
    let current = store.latest_notice().await?;
    let previous = match &current {
        Some(stored) => {
            serde_json::from_str::<Notice>(&stored.notice_json).map_err(|e| PublishError::Corrupt(stored.version, e))?
        }
        None => Notice { organization: next.organization.clone(), purposes: Vec::new(), processors: Vec::new() },
    };
    let diff = diff(&previous, &next);
    Ok(Proposal { current, next, diff })
}

/// Validates `catalog_toml` and publishes it as the next version (unless it is the current
/// catalog, byte for byte).
pub async fn publish(
    store: &Store,
    chain: &AuditChain<'_>,
    catalog_toml: &str,
    actor: &str,
) -> Result<PublishOutcome, PublishError> {
    let Proposal { current, next, diff: d } = propose(store, catalog_toml).await?;
    let processors = next.processors.iter().map(|p| p.id.clone()).collect();
    let text = notice_json(&next);
    // A catalog change people cannot see (a processor's URL or secret) still makes a
    // version: the servers run from the newest version's catalog.
    if let Some(current) = &current
        && current.notice_json == text
        && current.catalog_toml == catalog_toml
    {
        return Ok(PublishOutcome { version: current.version, material: Vec::new(), unchanged: true });
    }
    let latest = current.map(|c| c.version);
    let material = d.material_purposes();
    let material_json = serde_json::to_string(&material).expect("strings serialize");
    let new = NewNotice {
        catalog_toml,
        notice_json: &text,
        notice_sha256: &sha256_hex(text.as_bytes()),
        material_json: &material_json,
        published_at: now_ms(),
        processors,
    };
    let audit = audit_entry(actor, "notice.published", None, serde_json::Value::Null);
    let version = store.publish_notice(&new, latest, chain, audit).await?;
    tracing::info!(version, material = ?material, "notice published");
    Ok(PublishOutcome { version, material, unchanged: false })
}
