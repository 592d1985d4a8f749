//! What every request handler shares.

use std::sync::Arc;

use candor_privacy::{Pseudonymizer, ReceiptSigner, SealingKey};
use candor_store::{Keyring, Store};

use crate::config::Settings;
use crate::consent_cache::ConsentCache;
use crate::consent_writer::ConsentWriter;
use crate::error::ApiError;
use crate::http::rate_limit::RateLimits;
use crate::key_cache::KeyCache;
use crate::notice_cache::{CurrentNotice, NoticeCache};

/// Shared application state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

/// Everything a request may need, assembled once at startup.
pub struct Shared {
    /// The database.
    pub store: Store,
    /// Signs receipts and the audit head.
    pub signer: ReceiptSigner,
    /// Turns external ids into pids.
    pub pseudonyms: Pseudonymizer,
    /// The current notice.
    pub notices: NoticeCache,
    /// Valid API keys.
    pub keys: KeyCache,
    /// Current consent states of known subjects.
    pub consents: ConsentCache,
    /// The consent group-commit writer.
    pub writer: ConsentWriter,
    /// Current-state reads that miss the cache, batched.
    pub reader: crate::consent_reader::ConsentReader,
    /// The event group-commit writer.
    pub events: crate::event_writer::EventWriter,
    /// Subject data keys.
    pub keyring: Arc<Keyring>,
    /// Seals subject ids waiting in the webhook outbox.
    pub outbox_key: SealingKey,
    /// Wakes the webhook deliverer when something was enqueued.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// Settings.
    pub settings: Settings,
    /// Request rate limits.
    pub limits: Arc<RateLimits>,
    /// The public base URL (no trailing slash).
    pub public_url: String,
}

impl AppState {
    /// Wraps the shared parts.
    pub fn new(shared: Shared) -> AppState {
        AppState { inner: Arc::new(shared) }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The signing key.
    pub fn signer(&self) -> &ReceiptSigner {
        &self.inner.signer
    }

    /// The pseudonymizer.
    pub fn pseudonyms(&self) -> &Pseudonymizer {
        &self.inner.pseudonyms
    }

    /// The notice cache.
    pub fn notices(&self) -> &NoticeCache {
        &self.inner.notices
    }

    /// The current notice (there always is one once the instance is initialised).
    pub fn notice(&self) -> Result<Arc<CurrentNotice>, ApiError> {
        self.inner.notices.get().ok_or_else(|| ApiError::unavailable("no notice version is published yet"))
    }

    /// The cache of valid API keys.
    pub fn keys(&self) -> &KeyCache {
        &self.inner.keys
    }

    /// Current consent states of known subjects.
    pub fn consents(&self) -> &ConsentCache {
        &self.inner.consents
    }

    /// The consent group-commit writer.
    pub fn writer(&self) -> &ConsentWriter {
        &self.inner.writer
    }

    /// The batching reader of current consent states.
    pub fn reader(&self) -> &crate::consent_reader::ConsentReader {
        &self.inner.reader
    }

    /// The event group-commit writer.
    pub fn events(&self) -> &crate::event_writer::EventWriter {
        &self.inner.events
    }

    /// Subject data keys.
    pub fn keyring(&self) -> &Keyring {
        &self.inner.keyring
    }

    /// Seals subject ids waiting in the webhook outbox.
    pub fn outbox_key(&self) -> &SealingKey {
        &self.inner.outbox_key
    }

    /// Wakes the webhook deliverer.
    pub fn wake_outbox(&self) {
        self.inner.outbox_wake.notify_one();
    }

    /// The deliverer's wake-up signal.
    pub fn outbox_wake(&self) -> &tokio::sync::Notify {
        &self.inner.outbox_wake
    }

    /// Settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Request rate limits.
    pub fn limits(&self) -> &Arc<RateLimits> {
        &self.inner.limits
    }

    /// The public base URL (no trailing slash).
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }
}
