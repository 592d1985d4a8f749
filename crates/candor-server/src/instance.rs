//! An instance: its folder (catalog, keys, SQLite file), its database and its keys.
//! `candor init` creates one; every other command opens one.

use std::path::Path;

use anyhow::Context;
use candor_core::catalog::EXAMPLE_CATALOG;
use candor_privacy::audit::{AuditChain, NewAuditEntry};
use candor_privacy::password;
use candor_privacy::{InstanceKeys, Pid, Pseudonymizer, ReceiptSigner, SealingKey};
use candor_store::{Keyring, Store, now_ms};

use crate::config::{FlagOverrides, Settings};
use crate::publish;

/// An opened instance.
pub struct Instance {
    /// Its settings.
    pub settings: Settings,
    /// Its database.
    pub store: Store,
    /// Signs receipts, certificates and the audit head.
    pub signer: ReceiptSigner,
    /// Turns external ids into pids.
    pub pseudonyms: Pseudonymizer,
    /// Subject data keys.
    pub keyring: std::sync::Arc<Keyring>,
}

/// What `candor init` did.
pub struct InitOutcome {
    /// The admin password, when one was generated now (printed once).
    pub generated_password: Option<String>,
    /// The notice version published, when the database had none.
    pub published: Option<i64>,
    /// Whether `candor.toml` was written.
    pub wrote_catalog: bool,
}

impl Instance {
    /// Opens an initialised instance.
    pub async fn open(settings: Settings) -> anyhow::Result<Instance> {
        let keys = InstanceKeys::load(&settings.dir)?;
        let store = Store::open(&settings.database_url()).await.context("opening the database")?;
        let keyring = Keyring::open(settings.dir.clone())?;
        store.settle_master_rotation(&keyring).await.context("finishing an interrupted master key rotation")?;
        Ok(Instance {
            keyring: std::sync::Arc::new(keyring),
            signer: ReceiptSigner::new(keys.signing.clone()),
            pseudonyms: Pseudonymizer::new(&keys.pseudonym),
            settings,
            store,
        })
    }

    /// The key that seals subject ids waiting in the webhook outbox.
    pub fn outbox_key(&self) -> SealingKey {
        SealingKey::from_bytes(&self.pseudonyms.derive("outbox-subject"))
    }

    /// The audit chain, signed with this instance's key.
    pub fn chain(&self) -> AuditChain<'_> {
        AuditChain::new(&self.signer)
    }
}

/// Builds an audit entry stamped now.
pub fn audit_entry(actor: &str, action: &str, subject: Option<Pid>, detail: serde_json::Value) -> NewAuditEntry {
    NewAuditEntry {
        at_ms: now_ms(),
        actor: actor.to_string(),
        action: action.to_string(),
        subject: subject.map(|p| p.to_hex()),
        detail: detail.to_string(),
    }
}

/// Creates (or completes) an instance in `dir`: the example catalog if none exists, the
/// keys (mode 0600), the database with its migrations, notice version 1 and the admin
/// password. Safe to run again: it never overwrites what exists.
pub async fn init(dir: &Path, flags: FlagOverrides) -> anyhow::Result<InitOutcome> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let catalog_path = dir.join("candor.toml");
    let wrote_catalog = !catalog_path.exists();
    if wrote_catalog {
        std::fs::write(&catalog_path, EXAMPLE_CATALOG)
            .with_context(|| format!("writing {}", catalog_path.display()))?;
    }
    InstanceKeys::load_or_create(dir)?;
    let settings = Settings::load(dir, flags)?;
    let instance = Instance::open(settings).await?;

    let published = if instance.store.latest_notice_version().await?.is_none() {
        let toml = std::fs::read_to_string(&catalog_path)?;
        let outcome = publish::publish(&instance.store, &instance.chain(), &toml, "cli").await?;
        Some(outcome.version)
    } else {
        None
    };

    let generated_password = if instance.store.setting("admin_password").await?.is_none() {
        let (password, generated) = match std::env::var("CANDOR_ADMIN_PASSWORD") {
            Ok(p) if !p.is_empty() => (p, false),
            _ => (password::generate_password(), true),
        };
        if password.len() < 12 {
            anyhow::bail!("CANDOR_ADMIN_PASSWORD must have at least 12 characters");
        }
        instance.store.set_setting("admin_password", &password::hash_password(&password)).await?;
        generated.then_some(password)
    } else {
        None
    };
    instance.store.close().await;
    Ok(InitOutcome { generated_password, published, wrote_catalog })
}
